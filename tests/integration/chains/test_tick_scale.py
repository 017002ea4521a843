"""The tick at scale: it reads only due work, and its parallel workers claim each due item exactly once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.services.tick import TickResult, tick
from chalicelib.store.enrollments import EnrollmentRepository, enrollment_row, shard_of
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


@pytest.fixture
def sorted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's `Table.all_items` in the same order, keyed once per item: moto sorts the whole table before every
    query by comparing DynamoType pairs, about 1.7 million comparisons at 100,000 rows. A table's key types are
    fixed by its schema, so ordering by the keys' values is moto's order."""
    from moto.dynamodb.models.table import Table

    def all_items(table: Table) -> list[Any]:
        if not table.range_key_attr:
            return sorted(table.items.values(), key=lambda item: item.hash_key.cast_value)
        items = [item for by_range in table.items.values() for item in by_range.values()]
        return sorted(items, key=lambda item: (item.hash_key.cast_value, item.range_key.cast_value))

    monkeypatch.setattr(Table, "all_items", all_items)


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


def _seed_in_moto(due: int, waiting: int, done: int) -> set[tuple[str, str]]:
    """As `_seed`, written straight into moto's in-process table: at 100,000 rows a BatchWriteItem through the
    API (pynamodb's serialisation, then moto's size check per attribute) takes minutes. Each row is what
    `enrollment_row` stores. The due rows are put one by one through moto's `put_item`; the rows the tick must
    not touch share their attribute values but for the contact id and shard."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    region = wiring.get_settings().region
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(EnrollmentModel.Meta.table_name)
    chain = wiring.strategy().chains["welcome"]

    def row(contact_id: str, at: datetime, *, completed: bool = False) -> dict[str, Any]:
        state = start(chain, None, contact_id, at)
        assert state is not None
        if completed:
            state = replace(state, status="completed", due_at=None)
        serialized: dict[str, Any] = enrollment_row(state, SHARDS, NOW).serialize()
        return serialized

    def shared(attrs: dict[str, Any]) -> dict[str, DynamoType]:
        return {name: DynamoType(value) for name, value in attrs.items() if name not in ("contact_id", "due_shard")}

    due_keys = set()
    for n in range(due):
        table.put_item(row(f"c-{n}", NOW))
        due_keys.add((f"c-{n}", "welcome"))
    later, ended = shared(row("c", NOW + timedelta(days=1))), shared(row("c", NOW, completed=True))
    for n in range(due, due + waiting + done):
        contact_id = DynamoType({"S": f"c-{n}"})
        attrs = {**(later if n < due + waiting else ended), "contact_id": contact_id}
        if n < due + waiting:
            attrs["due_shard"] = DynamoType({"N": str(shard_of(f"c-{n}", SHARDS))})
        item = Item(contact_id, attrs["chain_id"], {})
        item.attrs = LimitedSizeDict(attrs)  # one size check per row, not one per attribute
        table.items[contact_id][attrs["chain_id"]] = item
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


def test_a_tick_over_100_000_enrolments_with_500_due_reads_only_the_due_items(aws, atomic_moto, sorted_once) -> None:
    due = _seed_in_moto(due=500, waiting=79_500, done=20_000)
    assert EnrollmentModel.count() == 100_000
    calls, scanned = _dynamodb_calls()
    captured = CapturedSteps()
    result = tick(EnrollmentRepository(SHARDS), captured, SHARDS, NOW)
    assert (result.claimed, result.lost_races, result.more_waiting) == (500, 0, False)
    assert set(_claimed(captured)) == due
    operations = Counter(c["operation"] for c in calls)
    assert set(operations) == {"Query", "UpdateItem"}
    assert operations["UpdateItem"] == 500
    queries = [c for c in calls if c["operation"] == "Query"]
    assert len(queries) == SHARDS
    assert {q["IndexName"] for q in queries} == {"due-index"}
    assert sum(scanned) == 500
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


class _Batches(CapturedSteps):
    """Keeps the size of every batch the tick queues."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def send_many(self, queue: str, bodies: Any) -> int:
        sent = super().send_many(queue, bodies)
        self.sizes.append(sent)
        return sent


def test_claims_from_many_shards_are_queued_ten_to_a_batch_not_one_batch_per_shard(aws) -> None:
    due = _seed(due=23, waiting=0)
    assert len({shard_of(contact_id, SHARDS) for contact_id, _ in due}) > 3
    queued = _Batches()
    result = tick(EnrollmentRepository(SHARDS), queued, SHARDS, NOW, workers=1)
    assert result.claimed == 23
    assert queued.sizes == [10, 10, 3]
    assert set(_claimed(queued)) == due
