"""Every bad sign-up is a 400 naming the field and changes nothing; export and erasure for data subjects."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.ledger import LedgerRepository
from cli.outbox import sent_mail
from tests.integration.consent.conftest import (
    BROWSER,
    contact_id_of,
    link_in,
    post_signup,
    run_doi_worker,
    signup,
    steps_messages,
)

EMAIL_MARKETING = {"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}
BAD = [
    ({"email": "not-an-address"}, "email"),
    ({"email": 42}, "email"),
    ({"phone": "12"}, "phone"),
    ({"phone": "+7916123456789999"}, "phone"),
    ({"email": None, "phone": None}, "email"),
    ({"consents": []}, "consents"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"locale": "not a locale!"}, "locale"),
    ({"consents": "yes"}, "consents"),
    ({"consents": [{"channel": "email", "purpose": "marketing", "text_id": "no-such-text"}]}, "consents[0].text_id"),
    ({"consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"},
                   {"channel": "fax", "purpose": "marketing", "text_id": "marketing-sms-v1"}]}, "consents[1].channel"),
    ({"consents": [{**EMAIL_MARKETING, "text_id": "marketing-sms-v1"}]}, "consents[0].text_id"),
    ({"consents": [{"channel": "email", "purpose": "gossip", "text_id": "marketing-email-v1"}]}, "consents[0].purpose"),
    ({"consents": [{**EMAIL_MARKETING, "channel": "push", "text_id": "marketing-push-v1"}]}, "consents[0].channel"),
    ({"consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1", "x": 1}]},
     "consents[0].x"),
    ({"consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}] * 2}, "consents[1]"),
    ({"data_processing": None}, "data_processing"),
    ({"data_processing": {"text_id": "marketing-email-v1"}}, "data_processing.text_id"),
    ({"attributes": {"birthday": "17.05.1990"}}, "attributes.birthday"),
    ({"attributes": {"point_id": "no spaces allowed"}}, "attributes.point_id"),
    ({"attributes": {"Bad-Name": 1}}, "attributes.Bad-Name"),
    ({"attributes": {"notes": {"nested": True}}}, "attributes.notes"),
    ({"source": "x" * 500}, "source"),
    ({"surprise": 1}, "surprise"),
]


def _state() -> tuple:
    scans = {t: wiring.client("dynamodb").scan(TableName=f"test-{t}")["Items"]
             for t in ("contacts", "identities", "consent-ledger", "enrollments")}
    return json.dumps(scans, sort_keys=True), len(steps_messages())


@pytest.fixture
def existing(api, clock) -> str:
    post_signup(api, signup(email="anna@example.com", phone=None))
    steps_messages()
    return contact_id_of("anna@example.com")


def test_every_bad_field_is_a_400_naming_it_and_nothing_stored_changes(api, existing) -> None:
    before = _state()
    for change, field in BAD:
        body = {**signup(email="anna@example.com", phone="+79161234567"), **change}
        if field == "phone":
            body["consents"] = body["consents"][:1]
        response = post_signup(api, {k: v for k, v in body.items() if v is not None})
        answer = json.loads(response.body)
        assert (response.status_code, answer["field"]) == (400, field), (change, answer)
        assert set(answer) == {"error", "message", "field"}
    for raw in (b"", b"{not json", b"[]", b'"text"'):
        response = api.http.post("/v1/subscriptions", headers=BROWSER, body=raw)
        assert response.status_code == 400 and json.loads(response.body)["error"]
    form = api.http.post("/v1/subscriptions", headers={"Content-Type": "application/x-www-form-urlencoded"},
                         body="email=a@example.com")
    assert form.status_code == 415 and json.loads(form.body)["error"] == "unsupported_media_type"
    assert _state() == before


def test_a_consent_on_a_channel_without_its_address_is_refused(api, existing) -> None:
    response = post_signup(api, signup(email="boris@example.com", phone=None,
                                       consents=[{"channel": "sms", "purpose": "marketing",
                                                  "text_id": "marketing-sms-v1"}]))
    assert (response.status_code, json.loads(response.body)["field"]) == (400, "consents[0].channel")


def test_bad_preference_posts_are_400s_and_change_nothing(api, clock) -> None:
    post_signup(api, signup(phone=None))
    run_doi_worker()
    api.http.get(link_in(sent_mail()[0].text))
    contact_id = contact_id_of("anna@example.com")
    url = wiring.links().preferences_url(contact_id).split("example.com", 1)[-1].split(":8000", 1)[-1]
    before = LedgerRepository().history(contact_id)
    for body, field in (({"consents": {"sms:marketing": True}}, "consents.sms:marketing"),
                        ({"consents": {"email:marketing": "no"}}, "consents.email:marketing"),
                        ({"consents": []}, "consents"), ({"other": 1}, None)):
        response = api.http.post(url, headers={"Content-Type": "application/json"}, body=json.dumps(body))
        assert (response.status_code, json.loads(response.body)["field"]) == (400, field)
    assert LedgerRepository().history(contact_id) == before


def _key(role: str, point: str | None = None) -> dict[str, str]:
    _, key = ApiKeyRepository().create(role, point, None, wiring.clock().now())
    return {"Authorization": f"Bearer {key}"}


def test_export_returns_everything_held_with_the_full_consent_history(api, clock) -> None:
    post_signup(api, signup())
    run_doi_worker()
    api.http.get(link_in(sent_mail()[0].text))
    contact_id = contact_id_of("anna@example.com")

    response = api.http.get(f"/v1/admin/contacts/{contact_id}/export", headers=_key("service-manager"))

    assert response.status_code == 200
    export = json.loads(response.body)
    assert export["contact"]["email"] == "anna@example.com" and export["contact"]["phone"] == "+79161234567"
    assert export["contact"]["attributes"]["first_name"] == "Anna"
    assert len(export["consent_history"]) == 6 and {e["kind"] for e in export["consent_history"]} == {
        "requested", "confirmed"}
    assert {e["chain_id"] for e in export["enrollments"]} >= {"welcome"}
    assert api.http.get(f"/v1/admin/contacts/{contact_id}/export").status_code == 401
    assert api.http.get(f"/v1/admin/contacts/{contact_id}/export", headers=_key("ingest")).status_code == 403
    assert api.http.get(f"/v1/admin/contacts/{contact_id}/export",
                        headers=_key("point-manager", "msk-01")).status_code == 200
    other_point = api.http.get(f"/v1/admin/contacts/{contact_id}/export", headers=_key("point-manager", "spb-02"))
    assert other_point.status_code == 404 and b"anna" not in other_point.body
    assert api.http.get("/v1/admin/contacts/nobody/export", headers=_key("service-manager")).status_code == 404


def test_erasure_removes_personal_data_and_keeps_a_tombstone_and_the_withdrawal_proof(api, clock) -> None:
    post_signup(api, signup())
    run_doi_worker()
    api.http.get(link_in(sent_mail()[0].text))
    contact_id = contact_id_of("anna@example.com")
    assert api.http.delete(f"/v1/admin/contacts/{contact_id}",
                           headers=_key("point-manager", "spb-02")).status_code == 404

    response = api.http.delete(f"/v1/admin/contacts/{contact_id}", headers=_key("service-manager"))

    assert response.status_code == 200 and json.loads(response.body)["status"] == "erased"
    raw = json.dumps(wiring.client("dynamodb").scan(TableName="test-contacts")["Items"])
    assert "anna" not in raw.lower() and "4567" not in raw and "Anna" not in raw
    assert wiring.client("dynamodb").scan(TableName="test-identities")["Items"] == []
    kinds = [(e.kind, e.channel) for e in LedgerRepository().history(contact_id)]
    assert ("erased", None) in kinds and ("revoked", "email") in kinds and ("revoked", "sms") in kinds
    assert ("confirmed", "email") in kinds  # the proof that consent existed stays
    assert all(not s.state.active for s in wiring.enrollments().for_contact(contact_id).values())
    again = api.http.delete(f"/v1/admin/contacts/{contact_id}", headers=_key("service-manager"))
    assert again.status_code == 200 and LedgerRepository().history(contact_id) == LedgerRepository().history(
        contact_id)
    post_signup(api, signup())  # the address may sign up again: a new contact, not the tombstone
    assert contact_id_of("anna@example.com") != contact_id
