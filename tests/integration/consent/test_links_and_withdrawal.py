"""Preference centre, one-click unsubscribe and signed links on moto: withdrawal is immediate and proven.

The chain step worker re-checks consent at send time (its own tests); here, withdrawal also takes every claimed
or due step of a chain that can no longer reach the contact off the queue's path."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.store.ledger import LedgerRepository
from chalicelib.store.suppressions import SuppressionRepository
from cli.outbox import sent_mail
from tests.integration.consent.conftest import contact_id_of, link_in, path_of, post_signup, run_doi_worker, signup
from tests.integration.helpers import due_messages

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b0undary"}
ONE_CLICK_MULTIPART = (
    '--b0undary\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b0undary--\r\n'
)


def _confirmed(api, email: str = "anna@example.com", phone: str | None = "+79161234567") -> str:
    post_signup(api, signup(email=email, phone=phone))
    run_doi_worker()
    assert api.http.get(link_in(sent_mail()[-1].text)).status_code == 200
    return contact_id_of(email)


def _consents(contact_id: str) -> dict:
    return dict(wiring.contacts().current_consents(contact_id).consents)


def _kinds(contact_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.channel, e.purpose) for e in LedgerRepository().history(contact_id)]


@pytest.mark.parametrize(
    ("headers", "body"),
    [(FORM, "List-Unsubscribe=One-Click"), (MULTIPART, ONE_CLICK_MULTIPART),
     ({"Content-Type": "application/json"}, '{"List-Unsubscribe": "One-Click"}')],
    ids=["form", "multipart", "json"],
)
def test_one_click_unsubscribe_stops_marketing_at_once_with_200_and_no_redirect(api, clock, headers, body) -> None:
    contact_id = _confirmed(api)
    url = path_of(wiring.links().unsubscribe_url(contact_id))

    response = api.http.post(url, headers=headers, body=body)

    assert response.status_code == 200 and "Location" not in response.headers
    assert _consents(contact_id) == {("email", "marketing"): False, ("sms", "marketing"): False}
    assert sorted(k for k in _kinds(contact_id) if k[0] == "revoked") == [
        ("revoked", "email", "marketing"), ("revoked", "sms", "marketing")]
    revocation = next(e for e in LedgerRepository().history(contact_id) if e.kind == "revoked")
    assert revocation.text_id in ("marketing-email-v1", "marketing-sms-v1") and revocation.token_id
    assert api.http.post(url, headers=headers, body=body).status_code == 200  # again: still fine, no new entry
    assert len([k for k in _kinds(contact_id) if k[0] == "revoked"]) == 2


def test_an_unsubscribe_link_for_one_channel_stops_that_channel_only(api, clock) -> None:
    contact_id = _confirmed(api)
    api.http.post(path_of(wiring.links().unsubscribe_url(contact_id, "email")), headers=FORM,
                  body="List-Unsubscribe=One-Click")
    assert _consents(contact_id) == {("email", "marketing"): False, ("sms", "marketing"): True}


def test_get_of_the_unsubscribe_link_shows_a_confirm_page_and_changes_nothing(api, clock) -> None:
    contact_id = _confirmed(api)
    before = _kinds(contact_id)
    page = api.http.get(path_of(wiring.links().unsubscribe_url(contact_id)))
    assert page.status_code == 200 and b'name="List-Unsubscribe" value="One-Click"' in page.body
    assert _kinds(contact_id) == before and all(_consents(contact_id).values())


def test_the_preference_centre_shows_masked_addresses_and_applies_a_form(api, clock) -> None:
    contact_id = _confirmed(api)
    url = path_of(wiring.links().preferences_url(contact_id))
    page = api.http.get(url)
    assert page.status_code == 200
    assert b"anna@example.com" not in page.body and b"a***@example.com" in page.body
    assert b"+79161234567" not in page.body and b"4567" in page.body
    assert page.body.count(b'type="checkbox"') == 5  # email and SMS x marketing and service, personal data

    form = "email:marketing=off&email:marketing=on&sms:marketing=off&action=save"
    saved = api.http.post(url, headers=FORM, body=form)

    assert saved.status_code == 200
    assert _consents(contact_id) == {("email", "marketing"): True, ("sms", "marketing"): False}
    assert ("revoked", "sms", "marketing") in _kinds(contact_id)
    back_on = api.http.post(url, headers={"Content-Type": "application/json"},
                            body=json.dumps({"consents": {"sms:marketing": True}}))
    assert json.loads(back_on.body)["consents"]["sms:marketing"] is True
    granted = [e for e in LedgerRepository().history(contact_id) if e.kind == "granted"]
    assert [(e.channel, e.text_id, e.source) for e in granted] == [("sms", "marketing-sms-v1", "preference-centre")]


def test_unsubscribe_from_everything_turns_every_switch_off(api, clock) -> None:
    contact_id = _confirmed(api)
    url = path_of(wiring.links().preferences_url(contact_id))
    api.http.post(url, headers=FORM, body="action=unsubscribe_all")
    assert set(_consents(contact_id).values()) == {False}
    assert ("revoked", "email", "service") in _kinds(contact_id)


def test_a_token_for_one_contact_never_changes_another(api, clock) -> None:
    anna = _confirmed(api, "anna@example.com", None)
    boris = _confirmed(api, "boris@example.com", None)
    url = path_of(wiring.links().preferences_url(anna))
    api.http.post(url, headers={"Content-Type": "application/json"},
                  body=json.dumps({"consents": {"email:marketing": False}}))
    assert _consents(anna) == {("email", "marketing"): False}
    assert _consents(boris) == {("email", "marketing"): True}
    # The contact id is inside the signed part: swapping it in breaks the signature.
    key, payload, mac = url.split("token=")[1].split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged_payload = base64.urlsafe_b64encode(json.dumps({**claims, "c": boris}).encode()).decode().rstrip("=")
    forged = api.http.post(f"/v1/preferences?token={key}.{forged_payload}.{mac}",
                           headers={"Content-Type": "application/json"},
                           body=json.dumps({"consents": {"email:marketing": False}}))
    assert forged.status_code == 400 and _consents(boris) == {("email", "marketing"): True}


def test_tampered_and_unknown_tokens_get_the_same_answer_and_change_nothing(api, clock) -> None:
    contact_id = _confirmed(api)
    good = wiring.links().unsubscribe_url(contact_id).split("token=")[1]
    tampered = good[:-2] + ("xx" if not good.endswith("xx") else "yy")
    unknown = wiring.links().unsubscribe_url("no-such-contact").split("token=")[1]
    before = _kinds(contact_id)
    answers = [api.http.post(f"/v1/unsubscribe?token={t}", headers=FORM, body="List-Unsubscribe=One-Click")
               for t in (tampered, unknown, "", "k1.e30.AAAA")]
    assert {(a.status_code, a.body) for a in answers} == {(400, answers[0].body)}
    pages = [api.http.get(f"/v1/preferences?token={t}") for t in (tampered, unknown)]
    assert pages[0].body == pages[1].body and pages[0].status_code == 400
    assert _kinds(contact_id) == before


def test_links_stay_valid_90_days_and_more_and_expire_after_a_year(api, clock) -> None:
    contact_id = _confirmed(api)
    url = path_of(wiring.links().preferences_url(contact_id))
    clock.advance(days=91)
    assert api.http.get(url).status_code == 200
    clock.advance(days=365)
    assert api.http.get(url).status_code == 410


def test_links_signed_before_a_key_rotation_still_work_after_it(api, clock, aws) -> None:
    contact_id = _confirmed(api)
    old = path_of(wiring.links().unsubscribe_url(contact_id))
    secrets = aws.client("secretsmanager")
    keys = json.loads(secrets.get_secret_value(SecretId="test/touchplan/token-keys")["SecretString"])
    rotated = {**keys, "current": "k2", "k2": "a-new-key-" + "x" * 40}
    secrets.put_secret_value(SecretId="test/touchplan/token-keys", SecretString=json.dumps(rotated))
    wiring.reset()  # a new container

    new = wiring.links().unsubscribe_url(contact_id)
    assert "token=k2." in new
    assert api.http.post(old, headers=FORM, body="List-Unsubscribe=One-Click").status_code == 200
    assert _consents(contact_id) == {("email", "marketing"): False, ("sms", "marketing"): False}

    secrets.put_secret_value(SecretId="test/touchplan/token-keys",
                             SecretString=json.dumps({"current": "k2", "k2": rotated["k2"]}))
    wiring.reset()  # k1 dropped: its links stop working
    assert api.http.get(old).status_code == 400


def test_a_step_queued_before_an_unsubscribe_never_sends(api, clock) -> None:
    contact_id = _confirmed(api, phone=None)
    mails_before = len(sent_mail())
    claimed = due_messages(clock.now())
    welcome = [m for m in claimed if m["chain_id"] == "welcome"]
    assert welcome, "the welcome step is due and claimed"
    api.http.post(path_of(wiring.links().unsubscribe_url(contact_id)), headers=FORM, body="List-Unsubscribe=One-Click")

    # The step worker acts on a message only while the enrolment still holds the message's claim.
    for message in welcome:
        stored = wiring.enrollments().get(contact_id, message["chain_id"])
        assert stored.claim != message["claim"]
    stored = wiring.enrollments().get(contact_id, "welcome")
    assert stored.state.status in ("paused", "exited") and stored.state.due_at is None
    assert wiring.contacts().current_consents(contact_id).consents == {("email", "marketing"): False}
    assert len(sent_mail()) == mails_before


def test_a_doi_message_queued_before_erasure_or_suppression_never_goes_out(api, clock) -> None:
    post_signup(api, signup(email="erased@example.com", phone=None))
    post_signup(api, signup(email="bounced@example.com", phone=None))
    erased = contact_id_of("erased@example.com")
    wiring.erasure().erase(erased, None, "test")
    SuppressionRepository().suppress("email:bounced@example.com", "hard_bounce", clock.now())
    assert run_doi_worker() == 2
    assert sent_mail() == []


def test_signing_up_again_when_active_asks_for_a_new_confirmation_and_keeps_consent(api, clock) -> None:
    post_signup(api, signup(phone=None))
    run_doi_worker()
    api.http.get(link_in(sent_mail()[0].text))
    clock.advance(days=2)
    post_signup(api, signup(phone=None))  # an active contact signs up again for the same things
    contact = wiring.contacts().get(contact_id_of("anna@example.com"))
    assert contact.consents["email:marketing"].state == "granted"  # an unconfirmed request never touches it
    assert run_doi_worker() == 1 and len(sent_mail()) == 2  # a fresh request needs its own confirmation


def test_unknown_kinds_on_the_steps_queue_are_dead_lettered(aws) -> None:
    from functions.queues import on_step

    event = {"Records": [{"messageId": "m1", "receiptHandle": "r", "body": '{"kind": "nonsense", "attempt": 0}',
                          "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                          "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:test-steps",
                          "awsRegion": "eu-west-1"}]}

    class Context:
        function_name = "on_step"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:on_step"
        aws_request_id = "r1"

    assert on_step(event, Context()) == {"done": 0, "retried": 0, "dead_lettered": 1}
    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName="test-steps-dlq")["QueueUrl"]
    [dead] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(dead["Body"])["kind"] == "nonsense"
