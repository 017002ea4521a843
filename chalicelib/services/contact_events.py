"""The event worker: what one ingested event changes for its contact.

In order: the contact's chains react (idempotent), then the contact's facts and the event's once-only
marker are written in one transaction, then the effects that must happen once (conversion, push endpoint)
follow the marker. A resent event id changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import Clock
from chalicelib.domain.lifecycle import SEGMENT_TIMERS, TIMER_EVENTS, CoursePurchase, OrderFacts, segment, timers
from chalicelib.domain.model import Strategy
from chalicelib.domain.purchases import PURCHASES, interests_from, remember
from chalicelib.services.chain_events import ChainEvents
from chalicelib.services.records import PermanentRecordError
from chalicelib.store.profiles import AlreadyApplied, Facts, FactsChange, ProfileRepository
from chalicelib.store.timers import DueTimer, TimerRepository

ACTIVITY = frozenset({"order_placed", "site_visit", "email_opened", "email_clicked", "survey_completed",
                      "product_viewed", "search_performed", "favorite_added", "cart_updated"})
PROFILE_FIELDS = ("timezone", "locale", "point_id")
ATTEMPTS = 3


def facts_change(event_type: str, properties: Mapping[str, Any], at: datetime, facts: Facts) -> FactsChange:
    change = FactsChange(activity_at=at if event_type in ACTIVITY else None)
    if event_type == "order_placed":
        purchases = remember(facts.attributes.get(PURCHASES), properties.get("items") or (), at)
        change = replace(change, orders=1, revenue=float(properties["amount"]), order_at=at,
                         attributes={PURCHASES: purchases} if purchases else None)
    elif event_type == "survey_completed":
        change = replace(change, attributes={"interests": interests_from(properties["answers"])})
    elif event_type == "profile_updated":
        attributes = dict(properties["attributes"])
        fields = {name: str(attributes.pop(name)) if attributes.get(name) else None for name in PROFILE_FIELDS}
        b2b = attributes.pop("b2b", None)
        change = replace(
            change, attributes=attributes or None, timezone=fields["timezone"], locale=fields["locale"],
            point_id=fields["point_id"], b2b=b2b if isinstance(b2b, bool) else None,
        )
    return change


def _birthday(attributes: Mapping[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(attributes["birthday"]))
    except (KeyError, ValueError):
        return None


def _courses(event_type: str, properties: Mapping[str, Any], at: datetime) -> tuple[CoursePurchase, ...]:
    """Course-based products in an order (items with `course_days`) start a refill timer."""
    if event_type != "order_placed":
        return ()
    return tuple(
        CoursePurchase(str(item["sku"]), at, int(item["course_days"]))
        for item in properties.get("items") or ()
        if isinstance(item.get("course_days"), int) and item["course_days"] > 0
    )


def order_facts(facts: Facts, change: FactsChange, courses: tuple[CoursePurchase, ...] = ()) -> OrderFacts:
    orders = [t for t in (facts.first_order_at, facts.last_order_at, change.order_at) if t is not None]
    return OrderFacts(
        orders=facts.orders_count + change.orders, first_order_at=min(orders, default=None),
        last_order_at=max(orders, default=None),
        last_activity_at=max(filter(None, (facts.last_activity_at, change.activity_at)), default=None),
        birthday=_birthday({**facts.attributes, **(change.attributes or {})}), courses=courses,
    )


@dataclass(frozen=True)
class EventOutcome:
    status: str  # applied | duplicate | unmatched
    contact_id: str | None = None
    chains: tuple[str, ...] = ()


@dataclass
class EventWorker:
    strategy: Strategy
    profiles: ProfileRepository
    chains: ChainEvents
    timers: TimerRepository
    clock: Clock
    on_order: Callable[[str, float, datetime], object] = lambda contact_id, amount, at: None
    on_push_token: Callable[[str, str, str], object] = lambda contact_id, platform, token: None
    on_erasure_due: Callable[[str], object] = lambda contact_id: None

    def handle(self, body: Mapping[str, Any]) -> EventOutcome:
        event = body.get("event")
        if not isinstance(event, dict):
            raise PermanentRecordError("event message without an event")
        (kind, value), = event["contact"].items()
        contact_id = self.profiles.resolve(kind, value)
        if contact_id is None:
            return EventOutcome("unmatched")
        if self.profiles.was_applied(event["id"]):
            return EventOutcome("duplicate", contact_id)
        loaded = self.profiles.facts(contact_id)
        if loaded is None:
            return EventOutcome("unmatched")
        facts, row = loaded
        now = self.clock.now()
        at = datetime.fromisoformat(event["occurred_at"])
        properties = dict(event.get("properties") or {})
        change = facts_change(event["type"], properties, at, facts)
        after = order_facts(facts, change, _courses(event["type"], properties, at))
        if event["type"] == "order_placed":
            properties["order_number"] = after.orders  # the Nth-purchase chain starts on it
        changed = self.chains.apply(contact_id, event["type"], at, now, properties,
                                    snapshot=self.profiles.snapshot(row))
        try:
            self.profiles.apply(row, change, event["id"], now, segment(after, self.strategy.lifecycle, now))
        except AlreadyApplied:
            return EventOutcome("duplicate", contact_id)
        items = properties.get("items") or ()
        self._arm_timers(contact_id, after, change.timezone or facts.timezone, now, items)
        if event["type"] == "order_placed":
            self.on_order(contact_id, float(properties["amount"]), at)
        if event["type"] == "push_token_registered":
            self.on_push_token(contact_id, str(properties["platform"]), str(properties["token"]))
        return EventOutcome("applied", contact_id, tuple(changed))

    def on_confirmed(self, contact_id: str, now: datetime) -> None:
        """A confirmed sign-up arms the timers its facts already imply (stop list, a birthday given)."""
        loaded = self.profiles.facts(contact_id)
        if loaded is not None:
            facts, _ = loaded
            after = replace(order_facts(facts, FactsChange()), last_activity_at=now)
            self._arm_timers(contact_id, after, facts.timezone, now, ())

    def on_timer(self, timer: DueTimer, now: datetime) -> None:
        """What a fired timer changes besides the chains it starts: a segment timer stores the segment the
        facts imply now (no event comes when a customer simply stops buying); a due erasure erases."""
        if timer.event == TIMER_EVENTS["erasure"]:
            self.on_erasure_due(timer.contact_id)
        elif timer.kind in SEGMENT_TIMERS:
            for _ in range(ATTEMPTS):
                loaded = self.profiles.facts(timer.contact_id)
                if loaded is None:
                    return
                facts, row = loaded
                now_in = segment(order_facts(facts, FactsChange()), self.strategy.lifecycle, now)
                if self.profiles.set_segment(row, now_in, now):
                    return
            raise RuntimeError("segment update kept racing other writes")  # the timer's step is retried

    def _arm_timers(
        self, contact_id: str, facts: OrderFacts, zone: str | None, now: datetime, items: Iterable[Any]
    ) -> None:
        """Timers follow the facts: the next leaving / stop-list / birthday / refill instants, each once."""
        by_sku = {str(i.get("sku")): i for i in items if isinstance(i, dict)}
        for timer in timers(facts, self.strategy.lifecycle, ZoneInfo(zone or "UTC"), now):
            item = by_sku.get(str(timer.properties.get("sku")))
            if timer.kind == "refill" and item is not None:
                # The refill reminder shows the product: keep what the order said about it.
                timer = replace(timer, properties={**timer.properties, "product": dict(item)})
            self.timers.arm(contact_id, timer, now)
