"""The List-Unsubscribe header of a real chain mail unsubscribes exactly the contact it was sent to."""

from __future__ import annotations

from urllib.parse import urlsplit

from chalicelib import wiring
from tests.integration.feedback.conftest import add_contact, send_welcome


def test_the_one_click_url_in_a_mail_unsubscribes_that_contact_only(api) -> None:
    add_contact("c-1")
    add_contact("c-2")
    mail = send_welcome("c-1")
    send_welcome("c-2")
    assert mail.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = urlsplit(mail.headers["List-Unsubscribe"].strip("<>"))
    response = api.http.post(f"{url.path}?{url.query}", body="List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert wiring.contacts().current_consents("c-1").consents[("email", "marketing")] is False
    assert wiring.contacts().current_consents("c-2").consents[("email", "marketing")] is True
