"""Lifecycle segments (RFM) from order facts, and the due timers they imply.

The runtime recomputes timers whenever a contact's facts change (an order, a visit, a profile update)
and stores them as due items, so nothing ever scans the base. A timer's `key` names the occurrence it
stands for (e.g. "leaving after the order of 2025-03-01"), so the same occurrence fires once however
often it is recomputed.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Lifecycle

Segment = Literal["prospect", "new", "active", "leaving", "sleeping", "lost"]
TimerKind = Literal["leaving", "dormant", "stop_list", "birthday", "refill", "erasure", "manual_send",
                    "audience", "audience_publish"]
TIMER_EVENTS: dict[TimerKind, str] = {
    "leaving": "segment_leaving",
    "dormant": "segment_sleeping",  # or segment_lost for a one-off buyer
    "stop_list": "stop_list_due",
    "birthday": "birthday",
    "refill": "refill_due",
    "erasure": "erasure_due",
    "manual_send": "manual_send_due",  # a manager's send deferred (quiet hours) falls due
    "audience": "audience_expired",  # an ad audience membership ends
    "audience_publish": "audience_publish_due",  # a join or leave SNS refused is published again
}
# The timers that move the stored segment when they fire, with no event from the outside world.
SEGMENT_TIMERS: frozenset[TimerKind] = frozenset({"leaving", "dormant"})


@dataclass(frozen=True)
class CoursePurchase:
    sku: str
    bought_at: datetime
    course_days: int  # how long the bought quantity lasts


@dataclass(frozen=True)
class OrderFacts:
    orders: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_activity_at: datetime | None = None  # latest sign of life: order, visit, open, click, confirmation
    birthday: date | None = None
    courses: tuple[CoursePurchase, ...] = ()


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    due_at: datetime
    event: str  # the event type it fires (chains start on it)
    key: str
    properties: dict[str, object] = field(default_factory=dict)


def segment(facts: OrderFacts, rules: Lifecycle, now: datetime) -> Segment:
    """active: enough orders, the last one recent; new: fewer orders, the last one recent; leaving: no order
    for `leaving_after`; past `dormant_after` a repeat buyer is sleeping and a one-off buyer lost."""
    if facts.orders == 0 or facts.last_order_at is None:
        return "prospect"
    since = now - facts.last_order_at
    if since >= rules.dormant_after:
        return "lost" if facts.orders == 1 else "sleeping"
    if since >= rules.leaving_after:
        return "leaving"
    if facts.orders >= rules.active_min_orders and since <= rules.active_within:
        return "active"
    return "new"


def timers(facts: OrderFacts, rules: Lifecycle, zone: ZoneInfo, now: datetime) -> tuple[Timer, ...]:
    """The due timers the facts imply. Leaving, sleeping/lost and stop-list timers already past are due now;
    birthdays are the next occurrence at `birthday_at` local time; refills `refill_lead` before the course
    runs out, only while that is still ahead."""
    found: list[Timer] = []
    if facts.last_order_at is not None:
        last = facts.last_order_at.isoformat()
        due = facts.last_order_at + rules.leaving_after
        found.append(_timer("leaving", max(due, now), f"leaving:{last}"))
        dormant = "segment_lost" if facts.orders == 1 else "segment_sleeping"
        due = facts.last_order_at + rules.dormant_after
        found.append(replace(_timer("dormant", max(due, now), f"{dormant}:{last}"), event=dormant))
    if facts.last_activity_at is not None:
        due = facts.last_activity_at + rules.stop_list_after
        found.append(_timer("stop_list", max(due, now), f"stop_list:{facts.last_activity_at.isoformat()}"))
    if facts.birthday is not None:
        at = next_birthday(facts.birthday, rules, zone, now)
        found.append(_timer("birthday", at, f"birthday:{at.date().isoformat()}"))
    for purchase in _latest_per_sku(facts.courses):
        due = purchase.bought_at + timedelta(days=purchase.course_days) - rules.refill_lead
        if due > now:
            found.append(_timer("refill", due, f"refill:{purchase.sku}:{purchase.bought_at.isoformat()}",
                                {"sku": purchase.sku}))
    return tuple(found)


def erasure_timer(withdrawn_at: datetime, after: timedelta) -> Timer:
    """Erasure of a contact who withdrew personal-data consent at `withdrawn_at`, once per withdrawal."""
    return _timer("erasure", withdrawn_at + after, f"erasure:{withdrawn_at.isoformat()}")


def next_birthday(birthday: date, rules: Lifecycle, zone: ZoneInfo, now: datetime) -> datetime:
    """The next birthday after `now` at `birthday_at` local time; 29 February is kept on 28 February in
    common years."""
    year = now.astimezone(zone).year
    for candidate_year in (year, year + 1, year + 2):
        day = _on_year(birthday, candidate_year)
        at = datetime.combine(day, rules.birthday_at, tzinfo=zone).astimezone(now.tzinfo)
        if at > now:
            return at
    raise AssertionError("a birthday recurs within two years")


def _on_year(birthday: date, year: int) -> date:
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


def _latest_per_sku(courses: Sequence[CoursePurchase]) -> list[CoursePurchase]:
    latest: dict[str, CoursePurchase] = {}
    for purchase in courses:
        if purchase.sku not in latest or purchase.bought_at > latest[purchase.sku].bought_at:
            latest[purchase.sku] = purchase
    return sorted(latest.values(), key=lambda p: p.sku)


def _timer(kind: TimerKind, due_at: datetime, key: str, properties: dict[str, object] | None = None) -> Timer:
    return Timer(kind, due_at, TIMER_EVENTS[kind], key, properties or {})
