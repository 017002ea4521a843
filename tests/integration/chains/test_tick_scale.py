"""The tick at scale: it reads only due work, and its parallel workers claim each due item exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.services.tick import TickResult, tick
from chalicelib.store.enrollments import EnrollmentRepository, enrollment_row
from chalicelib.store.models import EnrollmentModel
from tests.integration.helpers import NOW, CapturedSteps

SHARDS = 16


@pytest.fixture
def atomic_moto(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One moto DynamoDB request at a time, as DynamoDB applies each conditional write atomically (moto's
    backend is not thread-safe, and the tick's workers share it)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic(handler: Any) -> Any:
        with lock:
            return call_action(handler)

    monkeypatch.setattr(DynamoHandler, "call_action", atomic)
    yield


def _seed(due: int, waiting: int, done: int = 0) -> set[tuple[str, str]]:
    """`due` enrolments due now, `waiting` due in a day, `done` completed (off the index); the due keys."""
    chain = wiring.strategy().chains["welcome"]
    due_keys = set()
    with EnrollmentModel.batch_write() as batch:
        for n in range(due + waiting + done):
            contact_id = f"c-{n}"
            at = NOW if n < due else NOW + timedelta(days=1)
            state = start(chain, None, contact_id, at)
            assert state is not None
            if n >= due + waiting:
                state = state.__class__(**{**state.__dict__, "status": "completed", "due_at": None})
            batch.save(enrollment_row(state, SHARDS, NOW))
            if n < due:
                due_keys.add((contact_id, "welcome"))
    return due_keys


def _dynamodb_calls() -> tuple[list[dict[str, Any]], list[int]]:
    """Every DynamoDB request the app's models make from now on (operation and body), and how many items
    each Query read."""
    calls: list[dict[str, Any]] = []
    scanned: list[int] = []
    client = EnrollmentModel._get_connection().connection.client

    def before(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append({"operation": model.name, **json.loads(params["body"])})

    def after(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            scanned.append(parsed.get("ScannedCount", 0))

    client.meta.events.register("before-call.dynamodb.*", before)
    client.meta.events.register("after-call.dynamodb.*", after)
    return calls, scanned


def _claimed(captured: CapturedSteps) -> Counter[tuple[str, str]]:
    return Counter((m["contact_id"], m["chain_id"]) for m in captured.messages)


def test_a_tick_over_many_enrolments_with_few_due_reads_only_the_due_items(aws, atomic_moto) -> None:
    due = _seed(due=12, waiting=400, done=100)
    calls, scanned = _dynamodb_calls()
    captured = CapturedSteps()
    result = tick(EnrollmentRepository(SHARDS), captured, SHARDS, NOW)
    assert (result.claimed, result.lost_races, result.more_waiting) == (12, 0, False)
    assert set(_claimed(captured)) == due
    operations = Counter(c["operation"] for c in calls)
    assert set(operations) == {"Query", "UpdateItem"}
    assert operations["UpdateItem"] == 12
    queries = [c for c in calls if c["operation"] == "Query"]
    assert len(queries) == SHARDS
    assert {q["IndexName"] for q in queries} == {"due-index"}
    assert sum(scanned) == 12
    assert all("FilterExpression" not in q for q in queries)


def test_two_racing_ticks_claim_each_due_item_exactly_once(aws, atomic_moto) -> None:
    due = _seed(due=300, waiting=50)
    captured = CapturedSteps()
    results: list[TickResult] = []
    barrier = threading.Barrier(2)

    def one_tick() -> None:
        barrier.wait()
        results.append(tick(EnrollmentRepository(SHARDS), captured, SHARDS, NOW, workers=4))

    racers = [threading.Thread(target=one_tick) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    claimed = _claimed(captured)
    assert set(claimed) == due and set(claimed.values()) == {1}
    assert sum(r.claimed for r in results) == 300
    assert sum(r.claimed + r.lost_races for r in results) >= 300
    assert len({m["claim"] for m in captured.messages}) == 300
    assert tick(EnrollmentRepository(SHARDS), CapturedSteps(), SHARDS, NOW).claimed == 0


def test_each_worker_keeps_to_its_budget_slice_and_the_rest_stays_due(aws, atomic_moto) -> None:
    due = _seed(due=100, waiting=0)
    first = CapturedSteps()
    result = tick(EnrollmentRepository(SHARDS), first, SHARDS, NOW, budget=40, workers=4)
    assert (result.claimed, result.more_waiting) == (40, True)
    second = CapturedSteps()
    result = tick(EnrollmentRepository(SHARDS), second, SHARDS, NOW, budget=1_000, workers=4)
    assert (result.claimed, result.more_waiting) == (60, False)
    assert _claimed(first) + _claimed(second) == Counter(dict.fromkeys(due, 1))


def test_a_tick_out_of_time_queues_what_it_claimed_and_leaves_the_rest_due(aws, atomic_moto) -> None:
    due = _seed(due=100, waiting=0)
    checks = Counter[str]()
    lock = threading.Lock()

    def out_of_time() -> bool:
        with lock:
            checks["asked"] += 1
            return checks["asked"] > 6  # a few chunks, then the invocation runs out

    captured = CapturedSteps()
    result = tick(EnrollmentRepository(SHARDS), captured, SHARDS, NOW, out_of_time=out_of_time, workers=4)
    assert result.more_waiting and 0 < result.claimed < 100
    assert len(captured.messages) == result.claimed  # every claim was queued before the tick stopped
    rest = CapturedSteps()
    tick(EnrollmentRepository(SHARDS), rest, SHARDS, NOW)
    assert _claimed(captured) + _claimed(rest) == Counter(dict.fromkeys(due, 1))
