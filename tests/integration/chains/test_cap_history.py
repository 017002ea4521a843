"""The cap windows' history: `recent()` reads a key range of the sparse counted index, whatever the contact's age,
and only the touches that count toward the caps."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib.store.models import TouchModel
from chalicelib.store.touches import TouchRecord, TouchRepository
from tests.integration.helpers import NOW

WINDOW = timedelta(days=30)


def _touch(key: str, age: timedelta, contact_id: str = "c-1", status: str = "done", **full: Any) -> TouchRecord:
    touch = TouchRecord(
        contact_id=contact_id, touch_key=key, touch_id=f"t-{key}", channel="email", occasion_id="welcome-thanks",
        category="promo", status=status, created_at=NOW - age, **full,
    )
    TouchRepository().record_decision(touch)
    return touch


def _requests() -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    client = TouchModel._get_connection().connection.client
    client.meta.events.register("before-call.dynamodb.*", lambda model, params, **_: calls.append(
        {"operation": model.name, **json.loads(params["body"])}))
    return calls


def test_recent_returns_exactly_the_touches_in_the_window_with_its_edges(aws) -> None:
    for n in range(40):
        _touch(f"old-{n}", WINDOW + timedelta(days=1 + n))
    _touch("just-outside", WINDOW + timedelta(microseconds=1))
    _touch("at-the-edge", WINDOW)
    _touch("inside", timedelta(days=3), chain_id="welcome", step=0, decision="done", actor="k-1")
    _touch("now", timedelta())
    _touch("skipped", timedelta(days=1), status="skipped", decision="skip", reason="capped")  # never counts
    _touch("deferred", timedelta(days=1), status="deferred", decision="defer", reason="quiet_hours")
    _touch("other-contact", timedelta(days=1), contact_id="c-2")
    found = TouchRepository().recent("c-1", NOW, WINDOW)
    assert [t.touch_key for t in found] == ["at-the-edge", "inside", "now"]  # in the order they began to count
    inside = found[1]
    assert (inside.counted_at, inside.channel, inside.category, inside.occasion_id, inside.status) == (
        NOW - timedelta(days=3), "email", "promo", "welcome-thanks", "done")


def test_a_send_counts_from_its_reservation_until_it_proves_never_sent(aws) -> None:
    touches = TouchRepository()
    touches.reserve(TouchRecord(
        contact_id="c-1", touch_key="welcome#0", touch_id="t-1", channel="email", occasion_id="welcome-thanks",
        category="trigger", status="reserved", created_at=NOW - timedelta(hours=1),
    ))
    touches.mark("c-1", "welcome#0", "sent", NOW, provider_message_id="m-1")
    touches.advance_status("c-1", "welcome#0", "opened", NOW)
    [counted] = touches.recent("c-1", NOW, WINDOW)
    assert (counted.counted_at, counted.status) == (NOW - timedelta(hours=1), "reserved")
    touches.mark("c-1", "welcome#0", "held", NOW, error_code="Throttling")  # throttled: never reached SES
    assert touches.recent("c-1", NOW, WINDOW) == []


def test_recent_with_no_touches_in_the_window_is_empty(aws) -> None:
    _touch("old", WINDOW + timedelta(days=400))
    assert TouchRepository().recent("c-1", NOW, WINDOW) == []
    assert TouchRepository().recent("c-never", NOW, WINDOW) == []


def test_recent_reads_a_key_range_of_the_counted_index_not_a_filtered_history(aws) -> None:
    for n in range(30):
        _touch(f"old-{n}", WINDOW + timedelta(days=1 + n))
    _touch("inside", timedelta(hours=1))
    calls = _requests()
    assert [t.touch_key for t in TouchRepository().recent("c-1", NOW, WINDOW)] == ["inside"]
    [query] = calls
    assert query["operation"] == "Query" and query["IndexName"] == "counted-index"
    assert "FilterExpression" not in query and "counted_at" in str(query["ExpressionAttributeNames"])
    assert ">=" in query["KeyConditionExpression"]


def test_a_re_reserved_touch_moves_to_its_new_time(aws) -> None:
    _touch("deferred", WINDOW + timedelta(days=2), status="deferred", decision="defer")
    TouchRepository().reserve(TouchRecord(
        contact_id="c-1", touch_key="deferred", touch_id="t-2", channel="email", occasion_id="welcome-thanks",
        category="promo", status="reserved", created_at=NOW,
    ))
    [touch] = TouchRepository().recent("c-1", NOW, WINDOW)
    assert (touch.touch_key, touch.counted_at, touch.status) == ("deferred", NOW, "reserved")
