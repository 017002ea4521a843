"""The welcome flow through the real routes and workers on either store: sign-up, DOI mail, confirmation, then
the welcome chain's mails through the tick and the step worker. SES, SNS, SQS and the token secret stay on
moto; only the repositories change."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from chalicelib import wiring
from cli.outbox import sent_mail
from tests.integration.consent.conftest import BROWSER, contact_id_of, link_in, post_signup, run_doi_worker, signup
from tests.integration.feedback.conftest import run_due_steps
from tests.integration.store.conftest import STORES, use_memory_store

WELCOME = ["Спасибо за подписку!", "Актуальные предложения и полезные советы", "Заказывать удобнее в приложении"]


@pytest.fixture(params=STORES)
def flow_store(request: pytest.FixtureRequest, aws: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "memory":
        use_memory_store(monkeypatch)
    yield request.param


def _confirm(api: object) -> int:
    [doi] = sent_mail()
    return int(api.http.get(link_in(doi.text), headers={"User-Agent": "MailApp/1.0"}).status_code)  # type: ignore[attr-defined]


def _welcome_mails(clock, days: int) -> list[str]:
    """Runs the tick and the step worker at every whole day for `days` days; the subjects sent, in order."""
    for day in range(days + 1):
        if day:
            clock.advance(days=1)
        run_due_steps()
    return [mail.subject for mail in sent_mail()[1:]]


def test_a_confirmed_sign_up_gets_the_welcome_chain(flow_store, api, clock) -> None:
    response = post_signup(api, signup(email="anna@example.com", phone=None))
    assert (response.status_code, json.loads(response.body)) == (202, {"status": "pending_confirmation"})
    assert run_doi_worker() == 1
    assert _confirm(api) == 200
    contact_id = contact_id_of("anna@example.com")
    assert wiring.contacts().current_consents(contact_id).consents == {("email", "marketing"): True}

    assert _welcome_mails(clock, 4) == WELCOME
    assert all(mail.to == ["anna@example.com"] for mail in sent_mail())
    sent = [t for t in wiring.touches().for_contact(contact_id) if t.status == "sent"]
    assert sorted(t.occasion_id for t in sent) == ["doi", "welcome-app", "welcome-offers", "welcome-thanks"]
    assert wiring.enrollments().get(contact_id, "welcome").state.status == "running"  # the promo comes later
    if flow_store == "memory":  # nothing of it reached moto's DynamoDB
        assert wiring.client("dynamodb").scan(TableName="test-contacts")["Count"] == 0


def test_a_minimal_sign_up_gets_the_welcome_chain_too(flow_store, api, clock) -> None:
    body = {"email": "boris@example.com", "data_processing": {"text_id": "personal-data-v1"},
            "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}]}
    assert api.http.post("/v1/subscriptions", headers=BROWSER, body=json.dumps(body)).status_code == 202
    assert run_doi_worker() == 1
    assert _confirm(api) == 200
    assert len(_welcome_mails(clock, 4)) == 3
    assert wiring.contacts().get(contact_id_of("boris@example.com")).attributes == {}
