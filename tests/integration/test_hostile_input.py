"""Issue 9's findings, one by one: what an attacker or a broken client sends gets a 400 naming the field,
never a 5xx; a poison record harms only itself; a point manager cannot tell a foreign id from an unknown one."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.services.records import run_records
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel
from functions.queues import EVENTS, apply_event
from tests.integration import hostile
from tests.integration.hostile import CONTACT, NOW, Deep, Stage, dump

VISIT = {"type": "site_visit", "id": "v-1", "contact": {"contact_id": CONTACT},
         "occurred_at": "2026-11-25T10:00:00+03:00"}


@pytest.fixture
def stage(api: Any) -> Iterator[Stage]:
    # `api` runs the app on the shared test clock, at NOW.
    yield Stage.seed()


def _events(api: Any, stage: Stage, body: str) -> tuple[int, dict[str, Any]]:
    response = api.http.post("/v1/events", body=body.encode("utf-8", "surrogatepass"), headers={
        "Authorization": f"Bearer {stage.ingest_key}", "Content-Type": "application/json"})
    return response.status_code, json.loads(response.body)


def _queued(queue: str = EVENTS) -> list[dict[str, Any]]:
    return [json.loads(body) for body in hostile._drain(queue)]


def _manager(role: str = "service-manager", point: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiKeyRepository().create(role, point, None, NOW)[1]}"}


@pytest.mark.parametrize("path", ["/v1/confirm?token=k1.%C3%A9.x", "/v1/preferences?token=k1.abc.%C3%A9",
                                  "/v1/unsubscribe?token=k1.abc.%C3%A9", "/v1/preferences?token=k1.%00.x"])
def test_a_non_ascii_token_gets_the_bad_link_page(api: Any, stage: Stage, path: str) -> None:
    response = api.http.get(path)
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
    if not path.startswith("/v1/confirm"):
        response = api.http.post(path, body=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": hostile.FORM})
        assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/v1/subscriptions", "/v1/events", "/v1/preferences?token=x"])
def test_json_nested_a_thousand_deep_is_400_on_every_json_route(api: Any, stage: Stage, path: str) -> None:
    response = api.http.post(path, body=b"[" * 1000 + b"]" * 1000, headers={
        "Authorization": f"Bearer {stage.ingest_key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    assert json.loads(response.body) == {"error": "too_deep", "field": None,
                                         "message": "The request body is nested deeper than 32 levels."}


@pytest.mark.parametrize(("properties", "kind", "field"), [
    ({"answers": Deep(500)}, "survey_completed", "properties.answers"),
    ({"answers": Deep(9)}, "survey_completed", "properties.answers"),
    ({"attributes": {"x": Deep(200)}}, "profile_updated", "properties.attributes.x"),
    ({"answers": {"q1": "x" * 1_000_000}}, "survey_completed", "properties.answers.q1"),
    ({"answers": {f"q{i}": "x" * 4000 for i in range(20)}}, "survey_completed", "properties.answers"),
    ({"amount": float("inf")}, "order_placed", "properties.amount"),
    ({"amount": float("nan")}, "order_placed", "properties.amount"),
    ({"amount": 10**400}, "order_placed", "properties.amount"),
    ({"amount": 1, "items": [{"sku": "A1", "course_days": 10**9}]}, "order_placed", "properties.items"),
    ({"query": "\ud800"}, "search_performed", "properties.query"),
    ({"query": "a\x00b"}, "search_performed", "properties.query"),
    ({"attributes": {"timezone": "x" * 300}}, "profile_updated", "properties.attributes"),
    ({"attributes": {"point_id": "x" * 3000}}, "profile_updated", "properties.attributes"),
])
def test_a_property_nothing_could_store_or_process_is_400_naming_it(
    api: Any, stage: Stage, properties: dict[str, Any], kind: str, field: str
) -> None:
    status, answer = _events(api, stage, dump({**VISIT, "type": kind, "properties": properties}))
    assert status == 400 and answer["field"].startswith(field) and answer["message"]
    assert _queued() == []


@pytest.mark.parametrize(("change", "field"), [
    ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"occurred_at": "9999-12-31T23:59:59-14:00"}, "occurred_at"),
    ({"occurred_at": "1899-12-31T23:59:59Z"}, "occurred_at"),
    ({"occurred_at": "2026-11-25\x0010:00:00+03:00"}, "occurred_at"),
    ({"contact": {"contact_id": "c-1\x00"}}, "contact.contact_id"),
    ({"contact": {"email": "\udfff@example.com"}}, "contact.email"),
])
def test_dates_out_of_the_calendar_and_nul_characters_are_400(api: Any, stage: Stage, change: dict[str, Any],
                                                              field: str) -> None:
    status, answer = _events(api, stage, dump({**VISIT, **change}))
    assert (status, answer["field"]) == (400, field)
    assert _queued() == []


def test_a_batch_too_large_to_queue_is_refused_whole(api: Any, stage: Stage) -> None:
    status, answer = _events(api, stage, hostile.big_batch(events=100, large=10, size=110_000))
    assert status == 400 and answer["field"] == "events[90].properties.answers"
    assert _queued() == []


def test_a_batch_of_large_events_is_queued_whole_and_every_event_applies(api: Any, stage: Stage) -> None:
    status, answer = _events(api, stage, hostile.big_batch(events=20, large=10, size=40_000))
    assert (status, answer["accepted"]) == (202, 20)
    assert hostile.drain_and_work(EVENTS) == []


def test_an_accepted_event_with_odd_but_valid_values_applies_without_a_dead_letter(api: Any, stage: Stage) -> None:
    answers = {"текст": "🙂 <script>", "nested": Deep(7), "tiny": 1e-50, "big": -(10**15), "none": None}
    batch = [{**VISIT, "id": "s-1", "type": "survey_completed", "properties": {"answers": answers}},
             {**VISIT, "id": "o-1", "type": "order_placed", "occurred_at": "8999-12-30T23:59:59-14:00",
              "properties": {"amount": 10**15, "items": [{"sku": "A1", "course_days": 3650}]}},
             {**VISIT, "id": "v-2", "occurred_at": "1900-01-01T00:00:00Z"}]
    assert _events(api, stage, dump({"events": batch})) == (202, {"accepted": 3, "ids": ["s-1", "o-1", "v-2"]})
    assert hostile.drain_and_work(EVENTS) == []


def _put_deep_attribute(depth: int) -> None:
    """What a 200-deep `profile_updated` left behind before the edge refused it (moto keeps any depth)."""
    deep: dict[str, Any] = {"S": "x"}
    for _ in range(depth):
        deep = {"M": {"a": deep}}
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # botocore validates parameters recursively
    try:
        wiring.client("dynamodb").update_item(
            TableName="test-contacts", Key={"contact_id": {"S": CONTACT}},
            UpdateExpression="SET attributes.deep = :d, attributes.kept = :k",
            ExpressionAttributeValues={":d": deep, ":k": {"S": "kept"}})
    finally:
        sys.setrecursionlimit(limit)


def test_a_contact_holding_a_value_nested_200_deep_stays_readable_and_writable(api: Any, stage: Stage) -> None:
    _put_deep_attribute(200)
    manager = _manager()
    card = api.http.get(f"/v1/admin/contacts/{CONTACT}", headers=manager)
    assert card.status_code == 200 and json.loads(card.body)["contact"]["attributes"]["kept"] == "kept"
    for query in ("email=anna@example.com", "point_id=msk-01"):
        found = api.http.get(f"/v1/admin/contacts?{query}", headers=manager)
        assert found.status_code == 200 and [c["contact_id"] for c in json.loads(found.body)["contacts"]] == [CONTACT]
    page = api.http.get(f"/v1/preferences?token={stage.tokens['prefs'][0]}")
    assert page.status_code == 200 and b"<html" in page.body

    assert _events(api, stage, dump(VISIT))[0] == 202
    assert hostile.drain_and_work(EVENTS) == []
    row = ContactModel.get(CONTACT)  # the event's write healed the row: the deep value is cut at DynamoDB's depth
    assert row.last_activity_at is not None and row.attributes.as_dict()["kept"] == "kept"


def test_a_contact_with_an_unknown_time_zone_stored_still_takes_events(api: Any, stage: Stage) -> None:
    row = ContactModel.get(CONTACT)
    row.update(actions=[ContactModel.timezone.set("Mars/Olympus_Mons")])
    assert _events(api, stage, dump({**VISIT, "type": "order_placed", "properties": {"amount": 10}}))[0] == 202
    assert hostile.drain_and_work(EVENTS) == []
    assert api.http.get(f"/v1/admin/contacts/{CONTACT}", headers=_manager()).status_code == 200


def test_a_poison_event_is_dead_lettered_at_once_with_its_reason_and_the_contact_carries_on(
    api: Any, stage: Stage
) -> None:
    # Queued before the edge knew the limit: answers 200 levels deep.
    poison = json.loads(dump({"kind": "event", "attempt": 0, "event": {
        **VISIT, "id": "poison-1", "type": "survey_completed", "properties": {"answers": Deep(200)}}}))
    later = {"kind": "event", "attempt": 0, "event": {**VISIT, "id": "later-1", "type": "order_placed",
                                                      "properties": {"amount": 25}}}
    outcome = run_records([json.dumps(poison), json.dumps(later)], EVENTS, apply_event, wiring.queues(),
                          lambda *a, **k: None)

    assert (outcome.done, outcome.retried, outcome.dead_lettered) == (1, 0, 1)
    [dead] = _queued("events-dlq")
    assert dead["event"]["id"] == "poison-1" and dead["attempt"] == 1
    assert "properties.answers" in dead["error"] and "deeper than 8 levels" in dead["error"]
    assert _queued(EVENTS) == []  # not retried
    card = api.http.get(f"/v1/admin/contacts/{CONTACT}", headers=_manager())
    assert card.status_code == 200
    assert ContactModel.get(CONTACT).orders_count == 1
    assert _events(api, stage, dump({**VISIT, "id": "after-1"}))[0] == 202
    assert hostile.drain_and_work(EVENTS) == []


def test_a_queued_body_nested_too_deep_even_to_parse_is_dead_lettered_not_redelivered(stage: Stage) -> None:
    outcome = run_records(["[" * 5000 + "]" * 5000], EVENTS, apply_event, wiring.queues(), lambda *a, **k: None)
    assert outcome.dead_lettered == 1
    [dead] = _queued("events-dlq")
    assert dead["kind"] == "unparseable" and "not JSON we can read" in dead["error"]


def test_a_point_manager_gets_404_for_a_foreign_and_for_an_unknown_contact_alike(api: Any, stage: Stage) -> None:
    other = _manager("point-manager", "spb-02")
    foreign = api.http.get(f"/v1/admin/contacts/{CONTACT}", headers=other)
    unknown = api.http.get("/v1/admin/contacts/no-such-contact", headers=other)
    assert (foreign.status_code, foreign.body) == (unknown.status_code, unknown.body)
    assert foreign.status_code == 404
    for path in (f"/v1/admin/contacts/{CONTACT}/export",):
        assert api.http.get(path, headers=other).status_code == 404
    assert api.http.delete(f"/v1/admin/contacts/{CONTACT}", headers=other).status_code == 404
    assert api.http.get(f"/v1/admin/contacts/{CONTACT}", headers=_manager("point-manager", "msk-01")).status_code \
        == 200
