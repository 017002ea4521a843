"""The enrolments contract on both stores: the sparse due index, leases, optimistic locking, timers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import Enrollment, leave, start
from chalicelib.domain.lifecycle import Timer
from chalicelib.store.enrollments import LEASE, DueItem, EnrollmentConflict, shard_of
from tests.integration.helpers import NOW

EPOCH = int(NOW.timestamp())


def _welcome(contact_id: str, due_in: timedelta = timedelta(0)) -> Enrollment:
    state = start(wiring.strategy().chains["welcome"], None, contact_id, NOW)
    assert state is not None
    return dataclasses.replace(state, due_at=NOW + due_in)


def _contacts_on_shard(shard: int, count: int) -> list[str]:
    shards = wiring.enrollments().shards
    return [c for c in (f"c-{n}" for n in range(1000)) if shard_of(c, shards) == shard][:count]


def _due(shard: int, at: int = EPOCH, limit: int = 100) -> list[DueItem]:
    return list(wiring.enrollments().due(shard, at, limit))


def test_the_due_index_holds_only_waiting_work_shard_by_shard_in_due_order(store) -> None:
    enrollments = wiring.enrollments()
    first, second, later, ended = _contacts_on_shard(2, 4)
    enrollments.save(_welcome(second, timedelta(minutes=-1)), None, NOW)
    enrollments.save(_welcome(first, timedelta(minutes=-5)), None, NOW)
    enrollments.save(_welcome(later, timedelta(minutes=5)), None, NOW)
    enrollments.save(leave(_welcome(ended, timedelta(minutes=-9)), "unsubscribed", NOW), None, NOW)
    [other] = _contacts_on_shard(3, 1)
    enrollments.save(_welcome(other), None, NOW)

    assert [item.contact_id for item in _due(2)] == [first, second]
    assert _due(2)[0] == DueItem(first, "welcome", 0, EPOCH - 300)
    assert [item.contact_id for item in _due(2, limit=1)] == [first]
    assert [item.contact_id for item in _due(2, EPOCH + 300)] == [first, second, later]
    assert [item.contact_id for item in _due(3)] == [other]
    assert _due(4) == []
    assert enrollments.get(ended, "welcome").state.status == "exited"  # stored, only off the index


def test_a_claim_is_taken_once_and_falls_due_again_when_its_lease_ends(store) -> None:
    enrollments = wiring.enrollments()
    [contact] = _contacts_on_shard(1, 1)
    enrollments.save(_welcome(contact), None, NOW)
    [item] = _due(1)

    claim = enrollments.claim(item, EPOCH)
    assert claim and enrollments.claim(item, EPOCH) is None  # a second tick lost the race
    assert _due(1) == [] and enrollments.get(contact, "welcome").claim == claim
    assert enrollments.get(contact, "welcome").revision == 2
    [again] = _due(1, EPOCH + LEASE)
    assert again.due_at == EPOCH + LEASE and enrollments.claim(again, EPOCH + LEASE) not in (None, claim)
    stale = dataclasses.replace(item, step=1)
    assert enrollments.claim(stale, EPOCH) is None


def test_writes_need_the_revision_and_the_claim_that_were_read(store) -> None:
    enrollments = wiring.enrollments()
    enrollments.save(_welcome("c-1"), None, NOW, context={"cart": ["sku-1"]})
    with pytest.raises(EnrollmentConflict):
        enrollments.save(_welcome("c-1"), None, NOW)  # it exists: never a second entry
    read = enrollments.get("c-1", "welcome")
    claim = enrollments.claim(DueItem("c-1", "welcome", 0, EPOCH), EPOCH)
    with pytest.raises(EnrollmentConflict):
        enrollments.save(read.state, read, NOW)  # the claim moved the revision on
    claimed = enrollments.get("c-1", "welcome")
    with pytest.raises(EnrollmentConflict):
        enrollments.save(claimed.state, claimed, NOW, claim="someone-else")
    # An event path keeps the claim of the step in flight, and the context is kept unless replaced.
    enrollments.save(dataclasses.replace(claimed.state, opened=True), claimed, NOW, keep_claim=True)
    kept = enrollments.get("c-1", "welcome")
    assert kept.claim == claim and kept.state.opened and kept.context == {"cart": ["sku-1"]}
    moved = dataclasses.replace(kept.state, step=1, due_at=NOW + timedelta(days=2))
    enrollments.save(moved, kept, NOW, claim=claim)
    done = enrollments.get("c-1", "welcome")
    assert (done.claim, done.revision, done.state.step, done.state.due_at) == (None, 4, 1, NOW + timedelta(days=2))
    assert done.state.entered_at == NOW and done.context == {"cart": ["sku-1"]}
    assert enrollments.get("c-2", "welcome") is None
    assert set(enrollments.for_contact("c-1")) == {"welcome"} and enrollments.for_contact("c-2") == {}


def _timer(key: str, due_in: timedelta = timedelta(0), kind: str = "birthday") -> Timer:
    return Timer(kind=kind, due_at=NOW + due_in, event="birthday", key=key,  # type: ignore[arg-type]
                 properties={"year": 2027})


def test_a_timer_is_armed_once_per_occurrence_and_fires_under_its_claim(store) -> None:
    timers, enrollments = wiring.timers(), wiring.enrollments()
    assert timers.arm("c-1", _timer("2026"), NOW)
    assert not timers.arm("c-1", _timer("2026", timedelta(days=1)), NOW)  # the same occurrence: nothing changes
    [pending] = timers.for_contact("c-1")
    assert (pending.chain_id, pending.kind, pending.key, pending.due_at, pending.properties) == (
        "timer:birthday", "birthday", "2026", NOW, {"year": 2027})
    [item] = _due(shard_of("c-1", enrollments.shards))  # the same due index drives the timers
    assert item.chain_id == "timer:birthday"
    claim = enrollments.claim(item, EPOCH)
    claimed = timers.get("c-1", "timer:birthday")
    assert claimed.claim == claim

    with pytest.raises(Exception):  # noqa: B017 - each store raises its own; what counts is nothing written
        timers.fired(claimed, "someone-else", NOW)
    timers.fired(claimed, claim, NOW)
    assert timers.get("c-1", "timer:birthday") is None and timers.for_contact("c-1") == []
    assert _due(shard_of("c-1", enrollments.shards), EPOCH + 2 * LEASE) == []
    assert not timers.arm("c-1", _timer("2026"), NOW)  # fired: the occurrence never fires twice
    assert timers.arm("c-1", _timer("2027", timedelta(days=365)), NOW)  # the next one does
    assert timers.get("c-1", "timer:birthday").due_at == NOW + timedelta(days=365)


def test_a_new_occurrence_replaces_one_being_fired(store) -> None:
    timers, enrollments = wiring.timers(), wiring.enrollments()
    timers.arm("c-1", _timer("2026"), NOW)
    claim = enrollments.claim(DueItem("c-1", "timer:birthday", 0, EPOCH), EPOCH)
    claimed = timers.get("c-1", "timer:birthday")
    assert timers.arm("c-1", _timer("2027", timedelta(days=365)), NOW)
    replaced = timers.get("c-1", "timer:birthday")
    assert (replaced.key, replaced.claim, replaced.revision) == ("2027", None, 1)
    with pytest.raises(Exception):  # noqa: B017 - the step that held the old claim finds it gone
        timers.fired(claimed, claim, NOW)
