"""POST /v1/events and the event worker: validated at the edge, applied once, chains react."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.services.contact_events import EventWorker
from chalicelib.services.ingest import parse_event
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, IdentityModel
from chalicelib.store.profiles import ProfileRepository
from tests.integration.helpers import NOW

ORDER = {"type": "order_placed", "id": "ord-1001", "contact": {"email": " Anna@Example.com "},
         "occurred_at": "2026-11-25T10:00:00+03:00", "properties": {"amount": 1290.5, "items": [{"sku": "A1"}]}}
PROFILE = {"type": "profile_updated", "id": "p1", "contact": {"contact_id": "c-1"},
           "occurred_at": "2026-11-25T10:00:00Z", "properties": {"attributes": {}}}


def _key(role: str = "ingest", point: str | None = None) -> str:
    return ApiKeyRepository().create(role, point, None, NOW)[1]


def _post(api, body, key: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = api.http.post("/v1/events", headers=headers, body=json.dumps(body).encode())
    return response.status_code, json.loads(response.body)


def _queued() -> list[dict]:
    sqs = wiring.client("sqs")
    messages = sqs.receive_message(QueueUrl=wiring.queues().url("events"), MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_an_ingest_key_posts_one_event_and_it_is_queued(api) -> None:
    status, body = _post(api, ORDER, _key())
    assert (status, body) == (202, {"accepted": 1, "ids": ["ord-1001"]})
    [message] = _queued()
    assert message["kind"] == "event" and message["event"]["contact"] == {"email": "Anna@Example.com"}


def test_a_batch_of_events_is_accepted_whole(api) -> None:
    batch = {"events": [ORDER, {**ORDER, "id": "visit-1", "type": "site_visit", "properties": {}}]}
    assert _post(api, batch, _key()) == (202, {"accepted": 2, "ids": ["ord-1001", "visit-1"]})


def test_no_key_is_401_and_a_manager_key_is_403(api) -> None:
    assert _post(api, ORDER, None)[0] == 401
    assert _post(api, ORDER, "tp_made_up")[0] == 401
    status, body = _post(api, ORDER, _key("service-manager"))
    assert status == 403 and body["error"] == "forbidden"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "type": "order_cancelled"}, "type"),
        ({**ORDER, "properties": {}}, "properties.amount"),
        ({**ORDER, "properties": {"amount": "12"}}, "properties.amount"),
        ({**ORDER, "occurred_at": "2026-11-25T10:00:00"}, "occurred_at"),
        ({**ORDER, "contact": {"email": "a@example.com", "phone": "+79161234567"}}, "contact"),
        ({**ORDER, "id": ""}, "id"),
        ({**ORDER, "contact": {"phone": "call me maybe"}}, "contact.phone"),
        ({**ORDER, "extra": 1}, "extra"),
        ({"events": [ORDER, {**ORDER, "properties": {"amount": -1}}]}, "events[1].properties.amount"),
        ({"events": [ORDER] * 101}, "events"),
        ({**PROFILE, "properties": {"attributes": {"timezone": "Mars/Base"}}}, "properties.attributes.timezone"),
        # Each profile attribute is named itself, as attributes.birthday is at sign-up, and held to its rules.
        ({**PROFILE, "properties": {"attributes": {"birthday": "1990-02-30"}}}, "properties.attributes.birthday"),
        ({**PROFILE, "properties": {"attributes": {"birthday": 19900517}}}, "properties.attributes.birthday"),
        ({**PROFILE, "properties": {"attributes": {"locale": 123}}}, "properties.attributes.locale"),
        ({**PROFILE, "properties": {"attributes": {"point_id": "msk 01"}}}, "properties.attributes.point_id"),
        ({"events": [ORDER, {**PROFILE, "properties": {"attributes": {"b2b": "yes"}}}]},
         "events[1].properties.attributes.b2b"),
    ],
)
def test_bad_events_get_400_naming_the_field_and_nothing_is_queued(api, body, field) -> None:
    status, answer = _post(api, body, _key())
    assert status == 400
    assert answer["field"] == field
    assert answer["message"]
    assert _queued() == []


def test_a_body_that_is_not_json_is_400(api) -> None:
    response = api.http.post("/v1/events", headers={"Authorization": f"Bearer {_key()}",
                                                    "Content-Type": "application/json"}, body=b"{nope")
    assert response.status_code == 400
    assert json.loads(response.body)["error"] == "invalid_json"


def _contact() -> None:
    ContactModel("c-1", status="active", email="anna@example.com", created_at=NOW, timezone="Europe/Moscow",
                 consents={"email:marketing": {"state": "granted"}, "any:data_processing": {"state": "granted"}}).save()
    IdentityModel("email:anna@example.com", contact_id="c-1", created_at=NOW).save()


def _worker() -> EventWorker:
    return EventWorker(wiring.strategy(), ProfileRepository(), wiring.chain_events(), wiring.timers(), wiring.clock())


def test_an_order_ends_the_welcome_chain_and_counts_once_even_when_resent(aws) -> None:
    _contact()
    welcome = start(wiring.strategy().chains["welcome"], None, "c-1", NOW)
    wiring.enrollments().save(welcome, None, NOW)
    message = {"kind": "event", "event": ORDER}
    outcome = _worker().handle(message)
    assert outcome.status == "applied" and "welcome" in outcome.chains
    stored = wiring.enrollments().get("c-1", "welcome").state
    assert (stored.status, stored.exit_reason) == ("exited", "goal:order_placed")
    assert _worker().handle(message).status == "duplicate"
    row = ContactModel.get("c-1")
    assert (row.orders_count, row.revenue, row.segment) == (1, 1290.5, "new")


def test_an_event_for_an_unknown_contact_changes_nothing(aws) -> None:
    assert _worker().handle({"kind": "event", "event": {**ORDER, "contact": {"email": "x@example.com"}}}).status \
        == "unmatched"


def test_a_profile_update_sets_time_zone_and_attributes(aws) -> None:
    _contact()
    event = {"type": "profile_updated", "id": "p-1", "contact": {"contact_id": "c-1"},
             "occurred_at": "2026-11-25T10:00:00+03:00",
             "properties": {"attributes": {"timezone": "Asia/Yekaterinburg", "first_name": "Anna"}}}
    _worker().handle({"kind": "event", "event": event})
    row = ContactModel.get("c-1")
    assert row.timezone == "Asia/Yekaterinburg" and row.attributes.as_dict()["first_name"] == "Anna"


def test_an_event_may_name_the_contact_by_phone_in_any_common_spelling(aws) -> None:
    _contact()
    IdentityModel("phone:+79161234567", contact_id="c-1", created_at=NOW).save()
    visit = {"type": "site_visit", "id": "v-9", "contact": {"phone": "+7 (916) 123-45-67"},
             "occurred_at": "2026-11-25T10:00:00+03:00", "properties": {}}
    message = parse_event(visit, "").message()  # as POST /v1/events queues it
    assert _worker().handle(message).status == "applied"


@pytest.mark.parametrize("body", [
    [], "text", 42, None, {"events": "x"}, {"events": [None]}, {"events": []},
    {**ORDER, "contact": {"email": 5}}, {**ORDER, "contact": []}, {**ORDER, "properties": []},
    {**ORDER, "occurred_at": 17}, {**ORDER, "type": None}, {**ORDER, "id": 12},
    {**ORDER, "properties": {"amount": 1, "items": [{"qty": 1}]}}, {**ORDER, "properties": {"amount": True}},
])
def test_odd_bodies_get_400_never_a_server_error(api, body) -> None:
    status, answer = _post(api, body, _key())
    assert status == 400 and answer["error"] and answer["message"]


def test_the_request_correlation_id_travels_with_the_queued_event(api) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {_key()}", "X-Correlation-Id": "req-42"}
    assert api.http.post("/v1/events", headers=headers, body=json.dumps(ORDER).encode()).status_code == 202
    sqs = wiring.client("sqs")
    [message] = sqs.receive_message(QueueUrl=wiring.queues().url("events"), MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "req-42"
