"""Contact rules: whether, when and on which channel one requested send goes out.

`decide` applies the rules in a fixed order and returns a Decision; it never sends. Rules that only
postpone (quiet hours, B2B window, caps, arbitration) are applied together until one instant satisfies
all of them: the decision is then `send` (that instant is now), `defer` (later, within validity) or
`skip` (not before the send expires).

Frequency caps are rolling windows: a cap of `max` per `per` holds at instant t when at most max - 1
counted touches lie in (t - per, t], so that this send makes at most `max`. Counted touches are those
handed to a provider or reserved for it (reserved, sent, delivered, opened, clicked, bounced,
complained), and touches a manager marked done by hand (done; hook rows match no cap). A deferred message
counts nothing while it waits: it counts from the instant it is actually sent, and the decision then sees
the caps as they are at that instant.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from chalicelib.domain.model import Cap, Strategy
from chalicelib.domain.reasons import Reason, Rule
from chalicelib.domain.zones import allowed, candidate_zones, next_allowed

COUNTED = frozenset({"reserved", "sent", "delivered", "opened", "clicked", "bounced", "complained", "done"})
DATA_PROCESSING = "data_processing"
_MAX_ROUNDS = 64


@dataclass(frozen=True)
class ContactView:
    """What the rules may know about one contact."""

    contact_id: str
    confirmed: bool  # double opt-in done; before it only the DOI message may be sent
    data_processing: bool  # personal-data processing consent granted and not withdrawn
    consents: Mapping[tuple[str, str], bool]  # (channel, purpose) -> granted / revoked; absent = never given
    addresses: frozenset[str]  # channels with a usable address: email, sms (phone), push (device)
    time_zone: str | None = None
    phone: str | None = None
    segment: str | None = None
    b2b: bool = False
    locale: str = "ru"
    attributes: Mapping[str, object] = field(default_factory=dict)

    def may_receive(self, channel: str, purpose: str, opt_in: bool) -> bool:
        given = self.consents.get((channel, purpose))
        return given is True if opt_in else given is not False


@dataclass(frozen=True)
class Suppression:
    channels: frozenset[str] = frozenset()  # channels whose address is suppressed (bounce, complaint, STOP)
    stop_listed: bool = False  # a year without return: no marketing at all


@dataclass(frozen=True)
class Touch:
    at: datetime
    channel: str
    category: str
    status: str
    occasion_id: str | None = None


@dataclass(frozen=True)
class SendRequest:
    """One send that fell due. `due_at` is when it first fell due; validity runs from there."""

    key: str  # the touch key: unique per send, and the last tie-breaker of arbitration
    occasion_id: str
    category: str
    purpose: str
    priority: int
    channels: tuple[str, ...]
    sms_allowed: bool
    due_at: datetime
    valid_until: datetime
    quiet_hours: bool = True
    chain_id: str | None = None
    step: int | None = None
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # channel -> A/B variant ids


@dataclass(frozen=True)
class RuleContext:
    contact: ContactView
    suppression: Suppression = Suppression()
    history: tuple[Touch, ...] = ()  # recent touches, at least as far back as the longest cap window
    competing: tuple[SendRequest, ...] = ()  # other sends for this contact due now and not yet decided


Action = Literal["send", "defer", "skip", "exit"]


@dataclass(frozen=True)
class Decision:
    action: Action
    at: datetime | None  # send: now; defer: when to decide again; skip/exit: None
    reason: str
    rule: str
    channel: str | None = None
    variant: str | None = None
    detail: str = ""  # e.g. the id of the cap that was full


def request_for(
    strategy: Strategy, occasion_id: str, due_at: datetime, *, key: str, chain_id: str | None = None,
    step: int | None = None, channels: Sequence[str] | None = None, sms_allowed: bool = True,
) -> SendRequest:
    """A SendRequest filled in from the occasion and its category."""
    occasion = strategy.occasions[occasion_id]
    category = strategy.categories[occasion.category]
    picked = tuple(channels) if channels is not None else tuple(occasion.templates)
    return SendRequest(
        key=key, occasion_id=occasion_id, category=category.id, purpose=category.purpose,
        priority=occasion.priority, channels=picked, sms_allowed=sms_allowed, due_at=due_at,
        valid_until=due_at + occasion.validity, quiet_hours=occasion.quiet_hours, chain_id=chain_id,
        step=step, variants={c: v for c in picked if (v := occasion.variants(c))},
    )


def decide(request: SendRequest, context: RuleContext, strategy: Strategy, now: datetime) -> Decision:
    if now > request.valid_until:
        return Decision("skip", None, Reason.EXPIRED, Rule.VALIDITY)
    contact = context.contact
    if not contact.data_processing:
        return Decision("exit", None, Reason.NO_DATA_PROCESSING_CONSENT, Rule.CONSENT)
    if not contact.confirmed and request.occasion_id != strategy.doi.occasion:
        return Decision("skip", None, Reason.NOT_CONFIRMED, Rule.CONSENT)
    reachable = [c for c in request.channels if c in contact.addresses]
    if not reachable:
        return Decision("skip", None, Reason.NO_ADDRESS, Rule.CONSENT)
    purpose = strategy.purposes.get(request.purpose)
    opt_in = purpose.opt_in if purpose else True
    consented = [c for c in reachable if contact.may_receive(c, request.purpose, opt_in)]
    if not consented:
        return Decision("skip", None, Reason.NO_CONSENT, Rule.CONSENT)
    if context.suppression.stop_listed and opt_in:
        return Decision("skip", None, Reason.STOP_LISTED, Rule.SUPPRESSION)
    open_channels = [c for c in consented if c not in context.suppression.channels]
    if not open_channels:
        return Decision("skip", None, Reason.SUPPRESSED, Rule.SUPPRESSION)
    if not request.sms_allowed:
        open_channels = [c for c in open_channels if c != "sms"]
        if not open_channels:
            return Decision("skip", None, Reason.SMS_NOT_ALLOWED, Rule.CHANNEL)
    channel = min(open_channels, key=lambda c: (_cost(strategy, c), c))
    return _schedule(request, context, strategy, now, channel)


def _cost(strategy: Strategy, channel: str) -> float:
    known = strategy.channels.get(channel)
    return known.cost if known else float("inf")


@dataclass(frozen=True)
class _Block:
    rule: Rule
    reason: Reason
    detail: str = ""


def _schedule(request: SendRequest, context: RuleContext, strategy: Strategy, now: datetime,
              channel: str) -> Decision:
    contact = context.contact
    zones = candidate_zones(contact.time_zone, contact.phone, strategy.fallback_zones)
    quiet = strategy.channels[channel].quiet_hours if channel in strategy.channels else None
    b2b = strategy.b2b if contact.b2b and strategy.b2b else None
    if b2b is not None and request.category not in b2b.categories:
        b2b = None
    applicable = [c for c in strategy.caps if request.category in c.categories and channel in c.channels]
    arbitration = strategy.arbitration
    arbitrated = arbitration is not None and request.category in arbitration.categories
    # Instants only move forward from now, so touches older than the longest window never matter.
    spans = [c.per for c in applicable] + ([arbitration.slot] if arbitration and arbitrated else [])
    horizon = now - max(spans, default=timedelta())
    recent = [t for t in context.history if t.at > horizon and t.status in COUNTED] if spans else []
    caps = [(cap, sorted(t.at for t in recent if t.category in cap.categories and t.channel in cap.channels))
            for cap in applicable]
    slot_touches = sorted(t.at for t in recent if arbitration and t.category in arbitration.categories)

    def hold(at: datetime) -> tuple[datetime | None, _Block | None]:
        """The first rule that forbids `at`, and the earliest instant it would allow."""
        if quiet is not None and request.quiet_hours and not allowed(quiet.sending, zones, at):
            return next_allowed(quiet.sending, zones, at), _Block(Rule.QUIET_HOURS, Reason.QUIET_HOURS)
        if b2b is not None and not allowed(b2b.window, zones, at):
            return next_allowed(b2b.window, zones, at), _Block(Rule.B2B_WINDOW, Reason.B2B_WINDOW)
        for cap, counted in caps:
            room = _cap_room(cap, counted, at)
            if room > at:
                return room, _Block(Rule.FREQUENCY_CAP, Reason.CAP_REACHED, cap.id)
        if arbitrated and arbitration is not None:
            if at == now and any(_rank(c) < _rank(request) for c in _rivals(request, context, strategy, now)):
                return now + arbitration.slot, _Block(Rule.ARBITRATION, Reason.LOWER_PRIORITY)
            recent = [a for a in slot_touches if at - arbitration.slot < a <= at]
            if recent:
                return recent[-1] + arbitration.slot, _Block(Rule.ARBITRATION, Reason.SLOT_TAKEN)
        return at, None

    at = now
    first: _Block | None = None
    for _ in range(_MAX_ROUNDS):
        moved, block = hold(at)
        if block is None:
            break
        first = first or block
        if moved is None:
            return Decision("skip", None, Reason.NO_LEGAL_SLOT, block.rule, channel, detail=block.detail)
        if moved > request.valid_until:
            return Decision("skip", None, Reason.EXPIRED, block.rule, channel, detail=block.detail)
        at = moved
    else:
        return Decision("skip", None, Reason.NO_LEGAL_SLOT, first.rule if first else Rule.ALL, channel)
    if first is not None:
        return Decision("defer", at, first.reason, first.rule, channel, detail=first.detail)
    chain = strategy.chains.get(request.chain_id or "")
    if chain is not None and in_holdout(context.contact.contact_id, chain.id, chain.holdout):
        return Decision("skip", None, Reason.HOLDOUT, Rule.HOLDOUT, channel)
    variants = request.variants.get(channel, ())
    variant = assign_variant(contact.contact_id, request.chain_id or request.occasion_id, request.step,
                             variants) if variants else None
    return Decision("send", now, Reason.CLEAR, Rule.ALL, channel, variant)


def _cap_room(cap: Cap, counted: Sequence[datetime], at: datetime) -> datetime:
    """The earliest instant >= at when the window (t - per, t] holds fewer than `max` counted touches."""
    inside = [a for a in counted if at - cap.per < a <= at]
    if len(inside) < cap.max:
        return at
    return inside[len(inside) - cap.max] + cap.per


def _rank(request: SendRequest) -> tuple[int, datetime, str, str]:
    """Arbitration order: higher priority, then the send that expires first, then ids (total, stable)."""
    return (-request.priority, request.valid_until, request.occasion_id, request.key)


def _rivals(
    request: SendRequest, context: RuleContext, strategy: Strategy, now: datetime
) -> list[SendRequest]:
    arbitration = strategy.arbitration
    return [
        c for c in context.competing
        if arbitration is not None and c.key != request.key and c.category in arbitration.categories
        and c.valid_until >= now
    ]


def _bucket(*parts: object) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_variant(contact_id: str, chain_id: str, step: int | str | None, variants: Sequence[str]) -> str:
    """The contact's A/B variant for this chain step: stable across retries, runs and processes."""
    if not variants:
        raise ValueError("no variants to choose from")
    return variants[int(_bucket("variant", chain_id, step, contact_id) * len(variants))]


def in_holdout(contact_id: str, chain_id: str, share: float) -> bool:
    """Whether the contact belongs to the chain's holdout group (`share` of all contacts, stable)."""
    return share > 0 and _bucket("holdout", chain_id, contact_id) < share


def decide_doi(sent: Sequence[datetime], suppressed: bool, strategy: Strategy, now: datetime) -> Decision:
    """Whether a double opt-in message may go to an address that got DOI messages at `sent`."""
    if suppressed:
        return Decision("skip", None, Reason.SUPPRESSED, Rule.SUPPRESSION)
    for most, per in strategy.doi.caps:
        if sum(1 for at in sent if now - per < at <= now) >= most:
            return Decision("skip", None, Reason.DOI_RATE_LIMITED, Rule.DOI, detail=f"{most} per {per}")
    return Decision("send", now, Reason.CLEAR, Rule.ALL)


def longest_window(strategy: Strategy) -> timedelta:
    """How far back the history passed to `decide` must reach."""
    spans = [c.per for c in strategy.caps]
    if strategy.arbitration is not None:
        spans.append(strategy.arbitration.slot)
    return max(spans, default=timedelta())
