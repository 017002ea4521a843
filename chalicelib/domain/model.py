"""The typed strategy: what the strategy file declares, after validation (see parse_strategy)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Literal

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
CHANNEL_KINDS = ("email", "sms", "push")
# Channels a person uses, not touchplan: a manager records these touches by hand. Caps may name them.
PERSONAL_CHANNELS = ("phone", "messenger", "meeting", "post")
# An occasion without a `period` may reach the same contact once in this long (manual marks, the checklist).
DEFAULT_PERIOD = timedelta(days=30)
REACTIONS = ("opened", "clicked", "ordered", "survey_answered", "visited")
# How long after personal-data consent is withdrawn the data is erased (152-FZ art. 21(5): 30 days at most).
ERASURE_AFTER = timedelta(days=30)


@dataclass(frozen=True)
class DailyWindow:
    """Wall-clock hours in which something is allowed, on the given weekdays (0 = Monday).

    `open` > `close` means the window crosses midnight and belongs to the day it opens on.
    """

    open: time
    close: time
    days: frozenset[int] = ALL_DAYS

    def allows(self, wall: datetime) -> bool:
        clock, day = wall.time(), wall.weekday()
        if self.open < self.close:
            return day in self.days and self.open <= clock < self.close
        return (day in self.days and clock >= self.open) or (
            clock < self.close and (day - 1) % 7 in self.days
        )

    def next_open(self, wall: datetime) -> datetime | None:
        """The earliest naive wall time >= `wall` inside the window (plain clock arithmetic, no zone)."""
        if self.allows(wall):
            return wall
        for ahead in range(9):
            day = wall.date() + timedelta(days=ahead)
            opening = datetime.combine(day, self.open)
            if day.weekday() in self.days and opening > wall:
                return opening
        return None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    sending: DailyWindow

    def contains(self, wall: datetime) -> bool:
        return not self.sending.allows(wall)


def quiet_hours(start: time, end: time) -> QuietHours:
    return QuietHours(start=start, end=end, sending=DailyWindow(open=end, close=start))


@dataclass(frozen=True)
class Channel:
    id: str
    cost: float
    quiet_hours: QuietHours | None


@dataclass(frozen=True)
class Purpose:
    id: str
    opt_in: bool  # False: allowed until revoked (service notices); True: only after a granted consent


@dataclass(frozen=True)
class Category:
    id: str
    priority: int
    purpose: str
    quiet_hours: bool


@dataclass(frozen=True)
class Cap:
    """At most `max` counted touches of these categories on these channels in any rolling window `per`."""

    id: str
    categories: frozenset[str]
    channels: frozenset[str]
    max: int
    per: timedelta


@dataclass(frozen=True)
class B2BWindow:
    window: DailyWindow
    categories: frozenset[str]


@dataclass(frozen=True)
class Arbitration:
    slot: timedelta
    categories: frozenset[str]


@dataclass(frozen=True)
class Lifecycle:
    active_within: timedelta
    active_min_orders: int
    leaving_after: timedelta
    dormant_after: timedelta
    stop_list_after: timedelta
    birthday_at: time
    refill_lead: timedelta


@dataclass(frozen=True)
class ConsentText:
    id: str
    purpose: str
    channel: str | None
    text: Mapping[str, str]


@dataclass(frozen=True)
class SubjectVariant:
    id: str
    subject: str
    preheader: str


@dataclass(frozen=True)
class EmailTemplate:
    variants: tuple[SubjectVariant, ...]
    html: str
    text: str


@dataclass(frozen=True)
class SmsTemplate:
    text: str


@dataclass(frozen=True)
class PushTemplate:
    title: str
    body: str


Template = EmailTemplate | SmsTemplate | PushTemplate


@dataclass(frozen=True)
class Offer:
    """What `{{ offer.* }}` shows: a promo code and discount, valid for a while after the send.

    A contact's own `offer` attribute (a personal code) overrides these."""

    promo_code: str | None
    discount: str | None
    valid_for: timedelta | None

    def for_send(self, now: datetime) -> dict[str, str]:
        shown = {"promo_code": self.promo_code, "discount": self.discount}
        if self.valid_for is not None:
            shown["expires_on"] = (now + self.valid_for).date().isoformat()
        return {k: v for k, v in shown.items() if v is not None}


@dataclass(frozen=True)
class Occasion:
    id: str
    title: str
    category: str
    priority: int
    validity: timedelta  # how long after it fell due a deferred send is still worth sending
    quiet_hours: bool
    templates: Mapping[str, Mapping[str, Template]]  # channel -> locale -> template
    offer: Offer | None = None
    period: timedelta = DEFAULT_PERIOD  # how often the same contact may get it: one mark per period

    def variants(self, channel: str) -> tuple[str, ...]:
        by_locale = self.templates.get(channel, {})
        first = next(iter(by_locale.values()), None)
        if isinstance(first, EmailTemplate) and len(first.variants) > 1:
            return tuple(v.id for v in first.variants)
        return ()


@dataclass(frozen=True)
class Condition:
    """True when any of `reactions` happened, or when the contact attribute matches."""

    reactions: frozenset[str] = frozenset()
    attribute: str | None = None
    equals: object = None
    present: bool | None = None

    def holds(self, flags: frozenset[str], attributes: Mapping[str, object]) -> bool:
        if self.reactions:
            return bool(self.reactions & flags)
        if self.attribute is None:
            return False
        value = attributes.get(self.attribute)
        if self.present is not None:
            return (value not in (None, "", [], {})) == self.present
        return value == self.equals

    def describe(self) -> str:
        if self.reactions:
            return " or ".join(sorted(self.reactions))
        if self.present is not None:
            return f"{self.attribute} {'set' if self.present else 'unset'}"
        return f"{self.attribute} = {self.equals}"


@dataclass(frozen=True)
class WaitStep:
    id: str
    wait: timedelta


@dataclass(frozen=True)
class SendStep:
    id: str
    occasion: str
    channels: tuple[str, ...]
    sms: Literal["never", "allowed", "on_no_reaction"]


@dataclass(frozen=True)
class BranchStep:
    """Go to `then` as soon as the condition holds; to `otherwise` once `within` passed without it.

    Targets are step indexes; len(steps) means the end of the chain.
    """

    id: str
    condition: Condition
    within: timedelta | None
    then: int
    otherwise: int


@dataclass(frozen=True)
class ExitStep:
    id: str
    condition: Condition | None  # None: always leave here


@dataclass(frozen=True)
class HookStep:
    id: str
    hook: str
    duration: timedelta | None


Step = WaitStep | SendStep | BranchStep | ExitStep | HookStep


@dataclass(frozen=True)
class PropertyTest:
    property: str
    op: Literal["at_least", "in", "equals"]
    value: object

    def holds(self, properties: Mapping[str, object]) -> bool:
        actual = properties.get(self.property)
        if self.op == "equals":
            return actual == self.value
        if self.op == "in":
            return isinstance(self.value, tuple) and actual in self.value
        return (
            isinstance(actual, int | float) and not isinstance(actual, bool)
            and isinstance(self.value, int | float) and actual >= self.value
        )


@dataclass(frozen=True)
class Trigger:
    event: str
    when: tuple[PropertyTest, ...] = ()

    def matches(self, event_type: str, properties: Mapping[str, object]) -> bool:
        return event_type == self.event and all(t.holds(properties) for t in self.when)


@dataclass(frozen=True)
class Reentry:
    """Whether a contact who left or finished the chain may enter again: never, always, or after `after`
    since the previous entry. `restart`: a new trigger while running starts the chain over."""

    policy: Literal["never", "always", "after"]
    after: timedelta | None = None
    restart: bool = False


@dataclass(frozen=True)
class Reach:
    channel: str
    purpose: str
    opt_in: bool


@dataclass(frozen=True)
class Chain:
    id: str
    title: str
    start: tuple[Trigger, ...]
    exit_on: frozenset[str]
    reentry: Reentry
    on_consent_revoked: Literal["pause", "exit"]
    holdout: float
    steps: tuple[Step, ...]
    reach: tuple[Reach, ...]  # the channel x purpose pairs its sends use; none usable = consent revoked


@dataclass(frozen=True)
class DoiRules:
    occasion: str
    token_ttl: timedelta
    caps: tuple[tuple[int, timedelta], ...]  # (max, per) per address


@dataclass(frozen=True)
class Strategy:
    version: int
    locales: tuple[str, ...]
    currency: str
    channels: Mapping[str, Channel]
    purposes: Mapping[str, Purpose]
    categories: Mapping[str, Category]
    caps: tuple[Cap, ...]
    b2b: B2BWindow | None
    arbitration: Arbitration | None
    fallback_zones: tuple[str, ...]
    lifecycle: Lifecycle
    consent_texts: Mapping[str, ConsentText]
    occasions: Mapping[str, Occasion]
    chains: Mapping[str, Chain]
    attribution_window: timedelta
    doi: DoiRules
    links: Mapping[str, str] = field(default_factory=dict)  # site pages templates link to: survey_url, cart_url
    erasure_after: timedelta = ERASURE_AFTER  # `consent.erasure_after`: withdrawal -> erasure delay
