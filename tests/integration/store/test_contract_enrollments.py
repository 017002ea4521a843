"""The enrolments contract on both stores: the sparse due index, leases, optimistic locking, timers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import Enrollment, leave, start
from chalicelib.domain.lifecycle import Timer
from chalicelib.store.enrollments import LEASE, ContactMoved, DueItem, EnrollmentConflict, Stored, shard_of
from chalicelib.store.touches import TouchRecord, TouchWrite
from tests.integration.helpers import NOW
from tests.integration.store.conftest import new_contact

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


def _claimed(contact_id: str) -> tuple[Stored, str]:
    """A welcome enrolment claimed by the tick, as the step worker reads it."""
    repository = wiring.enrollments()
    repository.save(_welcome(contact_id), None, NOW)
    [item] = [i for i in _due(shard_of(contact_id, repository.shards)) if i.contact_id == contact_id]
    claim = repository.claim(item, EPOCH)
    assert claim is not None
    stored = repository.get(contact_id, "welcome")
    assert stored is not None
    return stored, claim


def _reservation(contact_id: str) -> TouchWrite:
    return TouchWrite.reserving(TouchRecord(
        contact_id=contact_id, touch_key="welcome#0#0", touch_id="t-1", channel="email", occasion_id="welcome-thanks",
        category="trigger", status="reserved", created_at=NOW, chain_id="welcome", step=0,
    ))


def test_a_step_reads_its_enrolment_and_the_contact_together(store) -> None:
    wiring.contacts().create(new_contact("c-1", "c-1@example.com"), [])
    stored, claim = _claimed("c-1")

    read = wiring.enrollments().load_step("c-1", "welcome")

    assert read.stored == stored and read.stored.claim == claim
    assert read.snapshot is not None and read.snapshot.email == "c-1@example.com"
    assert read.snapshot == wiring.snapshot_loader()("c-1")
    nothing = wiring.enrollments().load_step("c-2", "welcome")
    assert nothing.stored is None and nothing.snapshot is None


def test_a_step_reserves_its_touch_and_advances_the_enrolment_together(store) -> None:
    stored, claim = _claimed("c-1")
    moved = leave(stored.state, "goal", NOW)

    assert wiring.enrollments().advance(moved, stored, NOW, claim=claim, touch=_reservation("c-1"))

    after = wiring.enrollments().get("c-1", "welcome")
    assert after.state.status == "exited" and after.claim is None and after.revision == stored.revision + 1
    assert wiring.touches().get("c-1", "welcome#0#0").status == "reserved"
    assert not _due(shard_of("c-1", wiring.enrollments().shards), EPOCH + LEASE)


def test_a_send_moves_the_contact_on_from_the_version_it_read_and_a_stale_one_writes_nothing(store) -> None:
    wiring.contacts().create(new_contact("c-1", "c-1@example.com"), [])
    repository = wiring.enrollments()
    stored, claim = _claimed("c-1")
    read = repository.load_step("c-1", "welcome").snapshot.version

    assert repository.advance(stored.state, stored, NOW, claim=claim, touch=_reservation("c-1"), contact_version=read)
    assert repository.load_step("c-1", "welcome").snapshot.version == read + 1

    # A second worker, on another chain of the contact, decided on the same version: its send would go over a
    # cap the first one filled.
    repository.save(dataclasses.replace(_welcome("c-1"), chain_id="second"), None, NOW)
    [item] = [i for i in _due(shard_of("c-1", repository.shards)) if i.chain_id == "second"]
    other_claim = repository.claim(item, EPOCH)
    other = repository.get("c-1", "second")
    second = TouchWrite.reserving(dataclasses.replace(_reservation("c-1").touch, touch_key="second#0#0"))
    with pytest.raises(ContactMoved):
        repository.advance(leave(other.state, "goal", NOW), other, NOW, claim=other_claim or "", touch=second,
                           contact_version=read)
    assert wiring.touches().get("c-1", "second#0#0") is None
    assert repository.get("c-1", "second") == other


def test_a_stale_step_writes_neither_the_touch_nor_the_enrolment(store) -> None:
    stored, claim = _claimed("c-1")
    wiring.enrollments().save(stored.state, stored, NOW, keep_claim=True)  # an event moved the revision on

    with pytest.raises(EnrollmentConflict):
        wiring.enrollments().advance(leave(stored.state, "goal", NOW), stored, NOW, claim=claim,
                                     touch=_reservation("c-1"))
    with pytest.raises(EnrollmentConflict):
        wiring.enrollments().advance(leave(stored.state, "goal", NOW), stored, NOW, claim="another")

    assert wiring.touches().get("c-1", "welcome#0#0") is None
    assert wiring.enrollments().get("c-1", "welcome").state.status == "running"


def test_a_touch_reserved_before_refuses_the_step_and_nothing_is_written(store) -> None:
    stored, claim = _claimed("c-1")
    assert wiring.touches().reserve(_reservation("c-1").touch)

    assert not wiring.enrollments().advance(leave(stored.state, "goal", NOW), stored, NOW, claim=claim,
                                            touch=_reservation("c-1"))

    after = wiring.enrollments().get("c-1", "welcome")
    assert after.claim == claim and after.revision == stored.revision and after.state.status == "running"


def test_a_held_send_puts_the_enrolment_back_claim_included(store) -> None:
    stored, claim = _claimed("c-1")
    moved = leave(stored.state, "goal", NOW)
    wiring.enrollments().advance(moved, stored, NOW, claim=claim, touch=_reservation("c-1"))

    wiring.enrollments().restore(stored, moved, NOW)

    after = wiring.enrollments().get("c-1", "welcome")
    assert after.claim == claim and after.state == stored.state and after.revision == stored.revision + 2
    with pytest.raises(EnrollmentConflict):  # only the write it undoes
        wiring.enrollments().restore(stored, moved, NOW)


def test_the_step_reads_the_suppressions_of_the_keys_it_was_handed_and_of_any_new_address(store) -> None:
    wiring.contacts().create(new_contact("c-1", "c-1@example.com", "+79161234567"), [])
    wiring.suppressions().suppress("email:c-1@example.com", "hard_bounce", NOW)
    wiring.suppressions().suppress("phone:+79161234567", "stop_list", NOW)
    repository = wiring.enrollments()
    repository.save(_welcome("c-1"), None, NOW, addresses=("email:c-1@example.com",))
    [item] = _due(shard_of("c-1", repository.shards))
    assert item.addresses == ("email:c-1@example.com",)  # what the tick hands the step

    read = repository.load_step("c-1", "welcome", addresses=item.addresses)  # the phone is not among them

    assert read.snapshot == wiring.snapshot_loader()("c-1")
    assert read.snapshot.suppressed_channels == {"email", "sms"} and read.snapshot.stop_listed


def test_a_step_keeps_the_contacts_current_suppression_keys_on_the_enrolment(store) -> None:
    stored, claim = _claimed("c-1")
    assert stored.addresses == ()

    wiring.enrollments().advance(stored.state, stored, NOW, claim=claim, addresses=("email:c-1@example.com",))

    after = wiring.enrollments().get("c-1", "welcome")
    assert after.addresses == ("email:c-1@example.com",) and after.state == stored.state and after.claim is None
    wiring.enrollments().save(after.state, after, NOW)  # an event's write keeps them
    assert wiring.enrollments().get("c-1", "welcome").addresses == ("email:c-1@example.com",)
