"""The touches contract on both stores: a send is reserved once, outcomes never move backwards."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.store.touches import HISTORY_LIMIT, SentTouch, TouchRecord
from tests.integration.helpers import NOW
from tests.integration.store.conftest import NOT_ON_MOTO


def _touch(key: str = "welcome#0", at=NOW, **fields) -> TouchRecord:
    fields = {"touch_id": f"t-{key}", "status": "reserved", **fields}
    return TouchRecord(contact_id="c-1", touch_key=key, channel="email", occasion_id="welcome-thanks",
                       category="trigger", created_at=at, **fields)


def test_a_send_is_reserved_once_and_only_a_held_one_again(store) -> None:
    touches = wiring.touches()
    assert touches.reserve(_touch(chain_id="welcome", step=0))
    assert not touches.reserve(_touch())  # a redelivered message finds the reservation
    touches.mark("c-1", "welcome#0", "held", NOW, error_code="Throttling", error="x" * 900)
    held = touches.get("c-1", "welcome#0")
    assert (held.status, held.error_code, len(held.error)) == ("held", "Throttling", 500)

    later = NOW + timedelta(minutes=1)
    assert touches.reserve(_touch(at=later, touch_id="t-2"))  # held: provably never reached the provider
    touches.mark("c-1", "welcome#0", "sent", later, provider_message_id="m-1", cost=0.1)
    assert not touches.reserve(_touch(at=later))
    sent = touches.get("c-1", "welcome#0")
    assert (sent.status, sent.touch_id, sent.error_code, sent.provider_message_id) == ("sent", "t-2", None, "m-1")
    assert sent.created_at == later and sent.chain_id is None
    assert [(e.status, e.decision) for e in sent.history] == [
        ("reserved", "send"), ("held", "send"), ("reserved", "send"), ("sent", "send")]
    assert touches.by_provider_message("m-1") == SentTouch("c-1", "welcome#0", "t-2")
    assert touches.by_provider_message("m-2") is None


def test_a_deferred_touch_keeps_its_reason_until_it_is_reserved(store) -> None:
    touches = wiring.touches()
    until = NOW + timedelta(hours=9)
    touches.record_decision(_touch(status="deferred", decision="defer", reason="quiet_hours", until=until))
    deferred = touches.get("c-1", "welcome#0")
    assert (deferred.status, deferred.reason, deferred.until) == ("deferred", "quiet_hours", until)
    assert touches.reserve(_touch(at=until))
    assert touches.get("c-1", "welcome#0").until is None
    touches.record_decision(_touch(status="skipped", decision="skip", reason="cap"))  # never over a reserved one
    assert touches.get("c-1", "welcome#0").status == "reserved"


def test_concurrent_workers_reserve_a_send_exactly_once(store) -> None:
    if store == "moto":
        pytest.skip(NOT_ON_MOTO)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(wiring.touches().reserve(_touch())))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_a_mark_tells_whether_it_moved_the_touch_from_reserved(store) -> None:
    touches = wiring.touches()
    touches.reserve(_touch(chain_id="welcome", step=0))

    # What the step worker counts a send on: the first mark moved it, a repeated one did not.
    assert touches.mark("c-1", "welcome#0", "sent", NOW, provider_message_id="m-1") is True
    assert touches.mark("c-1", "welcome#0", "sent", NOW, provider_message_id="m-1") is False

    assert touches.get("c-1", "welcome#0").status == "sent"
    assert touches.by_provider_message("m-1") == SentTouch("c-1", "welcome#0", "t-welcome#0", "welcome", 0)


def test_feedback_moves_a_touch_forward_only(store) -> None:
    touches = wiring.touches()
    touches.record_decision(_touch("promo#0", status="skipped", decision="skip", reason="cap"))
    assert touches.advance_status("c-1", "promo#0", "delivered", NOW) is None  # never sent
    touches.reserve(_touch())
    touches.mark("c-1", "welcome#0", "sent", NOW, provider_message_id="m-1")
    # Each move tells the status it replaced: what the feedback counts (a click first counts the delivery too).
    assert touches.advance_status("c-1", "welcome#0", "clicked", NOW) == "sent"
    assert touches.advance_status("c-1", "welcome#0", "opened", NOW) is None  # an open after a click stays clicked
    assert touches.advance_status("c-1", "welcome#0", "complained", NOW) == "clicked"
    assert touches.advance_status("c-9", "welcome#0", "delivered", NOW) is None
    assert touches.get("c-1", "welcome#0").status == "complained"


def test_the_history_keeps_the_latest_entries_only(store) -> None:
    touches = wiring.touches()
    touches.reserve(_touch())
    for n in range(HISTORY_LIMIT + 3):
        touches.mark("c-1", "welcome#0", "held", NOW + timedelta(seconds=n))
    history = touches.get("c-1", "welcome#0").history
    assert len(history) == HISTORY_LIMIT and history[-1].at == NOW + timedelta(seconds=HISTORY_LIMIT + 2)
    # A move on a full history (trimmed by the write) still tells the status it replaced.
    assert touches.advance_status("c-1", "welcome#0", "delivered", NOW + timedelta(hours=1)) == "held"
    history = touches.get("c-1", "welcome#0").history
    assert len(history) == HISTORY_LIMIT and history[-1].status == "delivered"


def test_a_contacts_touches_in_key_order_and_within_a_window(store) -> None:
    touches = wiring.touches()
    touches.reserve(_touch("welcome#1", NOW))
    touches.reserve(_touch("doi#r-1", NOW - timedelta(days=8)))
    touches.reserve(_touch("promo#0", NOW - timedelta(days=1)))
    assert [t.touch_key for t in touches.for_contact("c-1")] == ["doi#r-1", "promo#0", "welcome#1"]
    assert [t.touch_key for t in touches.recent("c-1", NOW, timedelta(days=7))] == ["promo#0", "welcome#1"]
    assert touches.for_contact("c-2") == [] and touches.get("c-2", "welcome#1") is None


def test_only_touches_that_count_toward_the_caps_are_in_the_cap_history(store) -> None:
    touches = wiring.touches()
    touches.record_decision(_touch("promo#0", status="deferred", decision="defer", reason="quiet_hours"))
    touches.record_decision(_touch("promo#1", status="skipped", decision="skip", reason="cap"))
    touches.reserve(_touch("welcome#0", NOW - timedelta(hours=2)))
    touches.mark("c-1", "welcome#0", "sent", NOW, provider_message_id="m-1")
    touches.advance_status("c-1", "welcome#0", "clicked", NOW)
    touches.reserve(_touch("welcome#1", NOW - timedelta(hours=1)))
    touches.mark("c-1", "welcome#1", "failed", NOW, error_code="MessageRejected")
    [counted] = touches.recent("c-1", NOW, timedelta(days=7))
    assert (counted.touch_key, counted.counted_at, counted.status) == (
        "welcome#0", NOW - timedelta(hours=2), "reserved")
    assert touches.reserve(_touch("promo#0", NOW))  # a deferred send reserved at last counts from then
    assert [t.touch_key for t in touches.recent("c-1", NOW, timedelta(days=7))] == ["welcome#0", "promo#0"]
