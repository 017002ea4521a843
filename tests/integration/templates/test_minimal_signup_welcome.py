"""A sign-up with nothing but an email address and its consents gets every mail the welcome chain has."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.store.contacts import identity_key
from cli.outbox import sent_mail
from tests.integration.templates.conftest import run_queue, sent_html, tick_and_run_steps

MINIMAL_SIGNUP = {
    "email": "nameless@example.com",
    "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
    "data_processing": {"text_id": "personal-data-v1"},
}
WELCOME_SUBJECTS = ["Спасибо за подписку!", "Актуальные предложения и полезные советы",
                    "Заказывать удобнее в приложении", "Промокод на первую покупку"]


def _path(text: str) -> str:
    url = urlsplit(re.search(r"https?://\S+/v1/confirm\?token=\S+", text).group(0))  # type: ignore[union-attr]
    return f"{url.path}?{url.query}"


def test_a_sign_up_with_no_attributes_gets_the_doi_mail_and_all_four_welcome_mails(api: Any, clock: FixedClock
                                                                                     ) -> None:
    from functions import queues

    response = api.http.post("/v1/subscriptions", body=json.dumps(MINIMAL_SIGNUP), headers={
        "Content-Type": "application/json", "Origin": "https://www.example.com"})
    assert response.status_code == 202
    assert run_queue("steps", queues.on_step) == 1
    [doi] = sent_mail()
    assert doi.subject == "Подтвердите подписку" and "<p>Здравствуйте! Подтвердите" in sent_html()[0]
    assert api.http.get(_path(doi.text)).status_code == 200

    for _ in range(4):  # the welcome mails go two days apart
        tick_and_run_steps()
        clock.advance(days=2)

    welcome, html = sent_mail()[1:], sent_html()[1:]
    assert [mail.subject for mail in welcome] == WELCOME_SUBJECTS
    assert html[0].startswith("<p>Здравствуйте, спасибо, что вы с нами!</p>")
    for mail, part in zip(welcome, html, strict=True):
        assert mail.to == ["nameless@example.com"] and "List-Unsubscribe" in mail.headers
        assert "/v1/preferences?token=" in part and "/v1/preferences?token=" in mail.text
        assert "None" not in part + mail.text
    contact_id = wiring.contacts().owners([identity_key("email", "nameless@example.com")])[
        identity_key("email", "nameless@example.com")]
    touches = [t for t in wiring.touches().for_contact(contact_id) if t.chain_id == "welcome"]
    assert [t.status for t in sorted(touches, key=lambda t: t.created_at)] == ["sent"] * 4
