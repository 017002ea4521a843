"""Stats: per chain x step x variant x day counters, conversions within the attribution window, the read."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from chalicelib import wiring
from chalicelib.domain.model import Strategy, SubjectVariant
from chalicelib.services.stats import StatsService
from chalicelib.store.stats import StatsRepository, counter_key
from chalicelib.store.touches import TouchRecord
from tests.integration.feedback.conftest import NOW, add_contact, run_due_steps, worker

DAY = NOW.date()


def _touch(contact_id: str, key: str, status: str, at, *, chain: str = "welcome", step: int = 0,
           variant: str | None = None) -> TouchRecord:
    touches = wiring.touches()
    touch = TouchRecord(contact_id, key, f"t-{key}", "email", "welcome-thanks", "trigger", "reserved", at,
                        chain_id=chain, step=step, variant=variant)
    touches.reserve(touch)
    touches.mark(contact_id, key, "sent", at, provider_message_id=f"m-{key}")
    if status != "sent":
        touches.advance_status(contact_id, key, status, at)
    return touch


def _counts(chain: str, first: date = DAY, last: date = DAY) -> dict[tuple[int, str | None], dict]:
    return {(r.step, r.variant): r.as_dict() for r in wiring.stats().read(chain, first, last)}


def test_each_sent_step_counts_once_under_its_chain_step_and_variant(aws) -> None:
    from tests.integration.feedback.conftest import enrol

    for contact_id in ("c-1", "c-2"):
        add_contact(contact_id)
        enrol(contact_id)
    step_worker = worker()
    run_due_steps(step_worker)
    run_due_steps(step_worker)  # nothing due twice: no second count

    row = _counts("welcome")[(0, None)]
    assert (row["sent"], row["delivered"], row["skipped"]) == (2, 0, 0)


def _with_ab_subjects(strategy: Strategy, occasion_id: str) -> Strategy:
    """The strategy with an A/B subject test on the occasion's email (the shipped default has none)."""
    occasion = strategy.occasions[occasion_id]
    email = {
        locale: dataclasses.replace(t, variants=(SubjectVariant("A", "Offers", ""), SubjectVariant("B", "Deals", "")))
        for locale, t in occasion.templates["email"].items()
    }
    tested = dataclasses.replace(occasion, templates={**occasion.templates, "email": email})
    return dataclasses.replace(strategy, occasions={**strategy.occasions, occasion_id: tested})


def test_deferred_and_skipped_sends_count_by_reason(aws, clock) -> None:
    from chalicelib.store.models import SuppressionModel
    from tests.integration.feedback.conftest import enrol

    night = NOW.replace(hour=20, minute=30)  # 23:30 in Moscow
    add_contact("c-1")
    add_contact("c-2")
    SuppressionModel("email:c-2@example.com", reason="hard_bounce", at=night).save()
    for contact_id in ("c-1", "c-2"):
        enrol(contact_id, at=night)
    clock.at = night
    run_due_steps()

    row = _counts("welcome", night.date(), night.date())[(0, None)]
    assert (row["sent"], row["deferred_by_reason"], row["skipped_by_reason"]) == (
        0, {"quiet_hours": 1}, {"suppressed": 1})


def test_an_order_after_a_click_credits_the_clicked_touch_even_when_a_later_one_was_opened(aws) -> None:
    add_contact("c-1")
    _touch("c-1", "k-click", "clicked", NOW - timedelta(days=2), step=2, variant="B")
    _touch("c-1", "k-open", "opened", NOW - timedelta(days=1), step=4)
    stats = dataclasses.replace(wiring.stats(), strategy=_with_ab_subjects(wiring.strategy(), "welcome-offers"))

    credited = stats.attribute_order("c-1", 2500.0, NOW)

    assert credited is not None and credited.touch_key == "k-click"
    rows = {(r.step, r.variant): r.as_dict() for r in stats.read("welcome", DAY, DAY)}
    assert (rows[(2, "B")]["converted"], rows[(2, "B")]["revenue"]) == (1, 2500.0)
    assert (2, "A") not in rows  # nothing counted for A: no row


def test_without_a_click_the_latest_open_in_the_window_gets_the_order(aws) -> None:
    add_contact("c-1")
    _touch("c-1", "k-old", "opened", NOW - timedelta(days=3), step=0)
    _touch("c-1", "k-new", "opened", NOW - timedelta(hours=5), step=2)

    assert wiring.stats().attribute_order("c-1", 990.5, NOW).touch_key == "k-new"
    assert _counts("welcome")[(2, None)]["revenue"] == 990.5


def test_an_order_after_the_attribution_window_or_without_reaction_is_credited_to_nobody(aws) -> None:
    add_contact("c-1")
    window = wiring.strategy().attribution_window
    _touch("c-1", "k-late", "clicked", NOW - window - timedelta(minutes=1))
    _touch("c-1", "k-sent", "sent", NOW - timedelta(hours=1))

    assert wiring.stats().attribute_order("c-1", 100.0, NOW) is None
    assert _counts("welcome", DAY - timedelta(days=30), DAY) == {}


def test_the_read_sums_days_and_reasons_and_leaves_out_other_periods(aws) -> None:
    counters = StatsRepository()
    key = counter_key("welcome", 2, None)
    counters.add(key, DAY, {"sent": 3, "opened": 1})
    counters.add(key, DAY + timedelta(days=1), {"sent": 2, "clicked": 1, "revenue": 10.5})
    counters.add(key, DAY + timedelta(days=9), {"sent": 100})
    counters.add_decision(key, DAY, "skipped", "quiet_hours")
    counters.add_decision(key, DAY + timedelta(days=1), "skipped", "quiet_hours")
    counters.add_decision(key, DAY + timedelta(days=1), "deferred", "cap_window")
    counters.add_decision(key, DAY, "failed", "template_render_failed")
    service = StatsService(wiring.strategy(), counters, wiring.touches(), emit=lambda *a: None)

    [row] = [r.as_dict() for r in service.read("welcome", DAY, DAY + timedelta(days=1))]
    assert row == {
        "chain": "welcome", "step": 2, "variant": None, "sent": 5, "delivered": 0, "opened": 1, "clicked": 1,
        "bounced": 0, "complained": 0, "unsubscribed": 0, "converted": 0, "revenue": 10.5,
        "skipped": 2, "skipped_by_reason": {"quiet_hours": 2}, "deferred": 1, "deferred_by_reason": {"cap_window": 1},
        "failed": 1, "failed_by_reason": {"template_render_failed": 1},
    }
    assert service.read("no-such-chain", DAY, DAY) == []


class _RecordingCounters(StatsRepository):
    """Counter writes as calls; the key "broken" refuses its write."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add(self, key, day, counts) -> None:
        if key.startswith("broken"):
            raise RuntimeError("throttled")
        self.calls.append(("add", key, day, dict(counts)))

    def add_decision(self, key, day, decision, reason, count=1) -> None:
        self.calls.append(("decision", key, day, decision, reason, count))


def _chain_touch(key: str, chain: str = "welcome", status: str = "sent", reason: str | None = None) -> TouchRecord:
    return TouchRecord("c-1", key, f"t-{key}", "email", "welcome-thanks", "trigger", status, NOW, chain_id=chain,
                       step=0, reason=reason)


def test_a_batch_writes_each_counter_row_once_with_its_sum() -> None:
    counters = _RecordingCounters()
    stats = StatsService(wiring.strategy(), counters, wiring.touches(), emit=lambda *_: None)

    with stats.batched():
        for n in range(3):
            stats.sent(_chain_touch(f"welcome#{n}"), NOW)
        stats.count(_chain_touch("welcome#0"), {"opened": 1}, NOW)
        with stats.batched():  # an inner batch leaves the writing to the outer one
            stats.decided(_chain_touch("welcome#5", status="skipped", reason="cap"), NOW)
        stats.decided(_chain_touch("welcome#6", status="skipped", reason="cap"), NOW)
        assert counters.calls == []

    assert counters.calls == [("add", counter_key("welcome", 0, None), DAY, {"sent": 3, "opened": 1}),
                              ("decision", counter_key("welcome", 0, None), DAY, "skipped", "cap", 2)]
    stats.sent(_chain_touch("welcome#7"), NOW)  # outside a batch: written at once
    assert counters.calls[-1] == ("add", counter_key("welcome", 0, None), DAY, {"sent": 1})


def test_a_counter_row_that_fails_to_write_is_logged_and_the_others_are_written(caplog) -> None:
    counters = _RecordingCounters()
    stats = StatsService(wiring.strategy(), counters, wiring.touches(), emit=lambda *_: None)

    with stats.batched():
        stats.sent(_chain_touch("broken#0", chain="broken"), NOW)
        stats.sent(_chain_touch("welcome#0"), NOW)

    assert counters.calls == [("add", counter_key("welcome", 0, None), DAY, {"sent": 1})]
    [lost] = [r for r in caplog.records if r.getMessage() == "stats counts lost"]
    assert (lost.counter, lost.counts, lost.detail) == ("broken#0#-", {"sent": 1}, "throttled")
