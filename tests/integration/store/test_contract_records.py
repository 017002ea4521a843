"""The smaller repositories on both stores: suppressions, feedback records, profiles, stats, keys, SMS state,
snapshots and the ledger; and a check that the memory store overrides every method that touches a table."""

from __future__ import annotations

import inspect
from datetime import date, timedelta
from decimal import Decimal

import pytest

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.store import memory
from chalicelib.store.contacts import ConsentRecord, ContactRepository
from chalicelib.store.enrollments import EnrollmentRepository
from chalicelib.store.feedback import FeedbackRecords
from chalicelib.store.keys import ApiKeyRepository, hash_key
from chalicelib.store.ledger import ConsentEvent, LedgerRepository
from chalicelib.store.profiles import AlreadyApplied, FactsChange, ProfileRepository
from chalicelib.store.sms_state import StoredOptOutCache, StoredSpendCounter
from chalicelib.store.stats import StatsRepository
from chalicelib.store.suppressions import SuppressionRepository
from chalicelib.store.timers import TimerRepository
from chalicelib.store.touches import TouchRepository
from tests.integration.helpers import NOW
from tests.integration.store.conftest import new_contact

ANNA = "anna@example.com"
PAIRS = [
    (memory.MemoryContacts, ContactRepository), (memory.MemoryEnrollments, EnrollmentRepository),
    (memory.MemoryTimers, TimerRepository), (memory.MemoryTouches, TouchRepository),
    (memory.MemoryLedger, LedgerRepository), (memory.MemorySuppressions, SuppressionRepository),
    (memory.MemoryFeedbackRecords, FeedbackRecords), (memory.MemoryProfiles, ProfileRepository),
    (memory.MemoryStats, StatsRepository), (memory.MemoryApiKeys, ApiKeyRepository),
    (memory.MemorySpendCounter, StoredSpendCounter), (memory.MemoryOptOutCache, StoredOptOutCache),
]
# Built on other methods of the same repository, so they hold on either store.
SHARED = {(ContactRepository, "current_consents"), (ContactRepository, "connection")}


@pytest.mark.parametrize(("fake", "real"), PAIRS, ids=[real.__name__ for _, real in PAIRS])
def test_the_memory_store_overrides_every_method_that_reads_or_writes_a_table(fake, real) -> None:
    public = {name for cls in real.__mro__ if cls is not object for name in vars(cls) if not name.startswith("_")}
    methods = {name for name in public if callable(getattr(real, name)) or isinstance(getattr(real, name), property)}
    inherited = {name for name in methods if (real, name) not in SHARED
                 and not any(name in vars(cls) for cls in fake.__mro__ if not issubclass(real, cls))}
    assert inherited == set(), f"{fake.__name__} would reach pynamodb through {sorted(inherited)}"
    assert inspect.signature(fake.__init__) != inspect.signature(real.__init__) or real.__init__ is object.__init__


def test_an_address_is_suppressed_once_with_its_first_reason(store) -> None:
    suppressions = wiring.suppressions()
    assert suppressions.suppress("email:anna@example.com", "hard_bounce", NOW, "ses", "f-1")
    assert not suppressions.suppress("email:anna@example.com", "complaint", NOW + timedelta(days=1))
    assert suppressions.is_suppressed("email:anna@example.com") and not suppressions.is_suppressed("phone:+7916")
    keys = ["phone:+79161234567", "email:anna@example.com", "email:boris@example.com"]
    suppressions.suppress(keys[0], "sms_stop", NOW)
    assert suppressions.reasons(keys) == {keys[0]: "sms_stop", keys[1]: "hard_bounce"}
    assert suppressions.records(keys) == [
        {"address": keys[1], "reason": "hard_bounce", "at": NOW.isoformat(), "source": "ses"},
        {"address": keys[0], "reason": "sms_stop", "at": NOW.isoformat(), "source": None},
    ]
    assert suppressions.records([]) == [] and suppressions.reasons([]) == {}


def test_feedback_writes_each_ledger_entry_once_and_finds_the_owner(store) -> None:
    records = wiring.feedback_records()
    wiring.contacts().create(new_contact("c-1", ANNA), [])
    bounce = ConsentEvent(kind="bounced", at=NOW, channel="email", event_id="ses-1", detail={"type": "Permanent"})
    assert records.append("c-1", bounce)
    assert not records.append("c-1", bounce)  # SNS redelivered the notification
    assert wiring.ledger().history("c-1") == [bounce]
    assert records.owner("email:anna@example.com") == "c-1" and records.owner("email:x@example.com") is None
    assert records.set_push_endpoint("c-1", "arn:endpoint", NOW) and records.push_endpoint("c-1") == "arn:endpoint"
    assert wiring.contacts().get("c-1").version == 2
    assert not records.set_push_endpoint("c-9", "arn:endpoint", NOW) and records.push_endpoint("c-9") is None
    assert records.suppress("email:anna@example.com", "complaint", NOW) and records.is_suppressed(
        "email:anna@example.com")


def test_an_event_changes_the_facts_once_and_only_from_the_version_read(store) -> None:
    profiles = wiring.profiles()
    wiring.contacts().create(new_contact("c-1", ANNA, timezone="Europe/Moscow", attributes={"first_name": "A"}), [])
    assert profiles.resolve("email", " Anna@Example.com") == "c-1" and profiles.resolve("contact_id", "c-1") == "c-1"
    assert profiles.resolve("contact_id", "c-9") is None and profiles.resolve("external_id", "shop-1") is None
    facts, row = profiles.facts("c-1")
    _, stale = profiles.facts("c-1")
    assert (facts.orders_count, facts.revenue, facts.timezone, facts.attributes) == (0, 0.0, "Europe/Moscow",
                                                                                     {"first_name": "A"})
    assert profiles.snapshot(row).consents == {} and profiles.snapshot(row).email == ANNA
    order = FactsChange(orders=1, revenue=1200.5, order_at=NOW, activity_at=NOW, attributes={"city": "Moscow"},
                        b2b=True)
    profiles.apply(row, order, "e-1", NOW, "new")

    assert profiles.was_applied("e-1") and not profiles.was_applied("e-2")
    with pytest.raises(AlreadyApplied):
        profiles.apply(profiles.facts("c-1")[1], order, "e-1", NOW, "new")
    with pytest.raises(Exception):  # noqa: B017 - read before the write; each store raises its own
        profiles.apply(stale, order, "e-2", NOW, "new")
    assert not profiles.was_applied("e-2")
    facts, row = profiles.facts("c-1")
    assert (facts.orders_count, facts.revenue, facts.first_order_at, facts.last_order_at) == (1, 1200.5, NOW, NOW)
    assert facts.attributes == {"first_name": "A", "city": "Moscow"} and facts.timezone == "Europe/Moscow"
    contact = wiring.contacts().get("c-1")
    assert (contact.segment, contact.b2b, contact.version) == ("new", True, 2)

    _, stale = profiles.facts("c-1")
    assert profiles.set_segment(row, "new", NOW)  # already there: nothing to write
    assert profiles.set_segment(row, "leaving", NOW)
    assert not profiles.set_segment(stale, "active", NOW)  # read before the segment was written
    assert wiring.contacts().get("c-1").segment == "leaving"
    assert profiles.facts("c-9") is None


def test_stats_add_up_per_day_and_per_reason(store) -> None:
    counters = wiring.counters()
    day = date(2026, 11, 25)
    counters.add("welcome#0#-", day, {"sent": 1, "revenue": 0.1})
    counters.add("welcome#0#-", day, {"sent": 1, "revenue": 0.2})
    counters.add("welcome#0#-", day + timedelta(days=1), {"opened": 1})
    counters.add("welcome#0#-", day + timedelta(days=9), {"sent": 5})
    counters.add_decision("welcome#0#-", day + timedelta(days=1), "skipped", "cap")
    counters.add_decision("welcome#0#-", day, "skipped", "cap")
    counters.add_decision("welcome#0#-", day, "failed", "Throttling")
    with pytest.raises(ValueError):
        counters.add("welcome#0#-", day, {"nonsense": 1})
    with pytest.raises(ValueError):
        counters.add_decision("welcome#0#-", day, "sent", "x")

    totals = counters.totals("welcome#0#-", day, day + timedelta(days=1))
    assert (totals.counts["sent"], totals.counts["opened"], totals.counts["revenue"]) == (2, 1, 0.3)
    assert totals.reasons == {"skipped": {"cap": 2}, "deferred": {}, "failed": {"Throttling": 1}}
    assert counters.totals("welcome#0#-", day - timedelta(days=9), day - timedelta(days=1)) is None
    assert counters.totals("promo#0#-", day, day) is None


def test_api_keys_are_found_by_the_whole_key_only(store) -> None:
    keys = wiring.api_keys()
    found, key = keys.create("point-manager", "msk-01", "till 1", NOW)
    assert keys.find(key) == found and found.point_id == "msk-01"
    assert keys.find(key + "x") is None
    assert keys.find_hashed(hash_key(key)) == found and keys.find_hashed(hash_key(key + "x")) is None
    with pytest.raises(ValueError):
        keys.create("point-manager", None, None, NOW)


def test_the_sms_spend_adds_up_in_decimal_and_opt_outs_are_remembered(store, clock: FixedClock) -> None:
    sender = wiring.sms_sender()
    spend, opt_outs = sender._spend, sender._opt_outs  # what wiring gave the SMS sender
    for _ in range(3):
        spend.add("2026-11", Decimal("0.1"))
    assert spend.month_spend("2026-11") == Decimal("0.3") and spend.month_spend("2026-12") == 0
    assert opt_outs.get("+79161234567") is None
    opt_outs.set("+79161234567", False)
    assert opt_outs.get("+79161234567") is False
    opt_outs.set("+79161234567", True)
    assert opt_outs.get("+79161234567") is True
    assert wiring.suppressions().reasons(["phone:+79161234567"]) == {"phone:+79161234567": "sns_opted_out"}


def test_the_snapshot_holds_consents_and_suppressions_and_the_stop_list_suppresses_every_address(store) -> None:
    contacts = wiring.contacts()
    contacts.create(new_contact("c-1", ANNA, "+79161234567", request_id="r-1", locale="ru-RU"), [])
    grants = {"email:marketing": ConsentRecord("granted", NOW.isoformat()),
              "sms:marketing": ConsentRecord("revoked", NOW.isoformat()),
              "any:data_processing": ConsentRecord("granted", NOW.isoformat())}
    contacts.confirm(contacts.get("c-1"), "r-1", grants, [], [], NOW)
    wiring.suppressions().suppress("email:anna@example.com", "hard_bounce", NOW)

    snapshot = wiring.snapshot_loader()("c-1")
    assert snapshot.consents == {("email", "marketing"): True, ("sms", "marketing"): False}
    assert snapshot.data_processing and snapshot.suppressed_channels == {"email"} and not snapshot.stop_listed
    assert (snapshot.status, snapshot.locale, snapshot.attributes) == ("active", "ru-RU", {})
    wiring.contact_suppressor()(snapshot, "stop_list", NOW)
    after = wiring.snapshot_loader()("c-1")
    assert after.suppressed_channels == {"email", "sms"} and after.stop_listed
    assert wiring.snapshot_loader()("c-9") is None


def test_the_ledger_lists_a_contacts_entries_in_time_order(store) -> None:
    ledger = wiring.ledger()
    second = ConsentEvent(kind="revoked", at=NOW + timedelta(days=1), channel="sms", purpose="marketing")
    first = ConsentEvent(kind="granted", at=NOW, channel="sms", purpose="marketing", text_id="marketing-sms-v1",
                         text_sha256="ab", source="double-opt-in", ip_hash="k1:ip", user_agent_hash="k1:ua",
                         token_id="tok", detail={"why": "test"})
    ledger.append("c-1", [second, first])
    assert ledger.history("c-1") == [first, second] and ledger.history("c-2") == []
    with pytest.raises(Exception):  # noqa: B017 - an entry is never replaced
        ledger.append("c-1", [first])
