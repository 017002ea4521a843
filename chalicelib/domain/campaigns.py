"""Campaigns: a manager's one-off (or weekly) mailing of an occasion to an audience, at a local time.

A campaign's recipients are enrolled in a one-step pseudo-chain `campaign:<id>:<occurrence>`, due at the send
time in each recipient's own zone, so the tick and the step worker deliver it under every contact rule. Who
is held out and who gets the A/B test share is a stable hash of the campaign and the contact; the rest of an
A/B campaign waits for the winner, picked `pick_after` the first send by the open or click rate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from chalicelib.domain.durations import parse_duration
from chalicelib.domain.model import Chain, Occasion, Reentry, SendStep
from chalicelib.domain.zones import candidate_zones

CHAIN_PREFIX = "campaign:"
SEGMENTS = ("prospect", "new", "active", "leaving", "sleeping", "lost")
METRICS = ("open_rate", "click_rate")
RECURRENCES = ("weekly",)
# Fan-out of an occurrence starts this long before its first zone's send time: members are picked close to the
# send, and the enrolments wait on the due index meanwhile.
FAN_OUT_LEAD = timedelta(days=1)
# The earliest and the latest a local wall time can be in UTC (UTC+14 .. UTC-12).
_EARLIEST_OFFSET, _LATEST_OFFSET = timedelta(hours=14), timedelta(hours=12)
_LOCAL_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
CANCELLED_REASON = "campaign_cancelled"

Status = Literal["scheduled", "fanning_out", "sending", "done", "cancelled"]
Phase = Literal["test", "rest"]  # an A/B campaign enrols its test share first, the rest once a winner is picked
Group = Literal["holdout", "test", "rest"]


class InvalidCampaign(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Audience:
    segment: str | None = None
    point_id: str | None = None
    interests: tuple[str, ...] = ()  # any of them
    attributes: Mapping[str, object] = field(default_factory=dict)  # every one equal


@dataclass(frozen=True)
class SendAt:
    local_time: time | None = None  # with `date`: that wall time in each recipient's zone
    date: date | None = None
    at: datetime | None = None  # or one instant for everyone


@dataclass(frozen=True)
class AbTest:
    variants: tuple[str, ...]
    test_share: float
    pick_after: timedelta
    metric: str


@dataclass(frozen=True)
class Definition:
    occasion_id: str
    audience: Audience
    channels: tuple[str, ...]
    send_at: SendAt
    ab: AbTest | None = None
    holdout_share: float = 0.0
    recur: str | None = None
    until: date | None = None  # the last day a weekly campaign may send on


@dataclass(frozen=True)
class Winner:
    variant: str
    metric: str
    picked_at: datetime
    numbers: Mapping[str, Mapping[str, float]]  # variant -> sent, opened, clicked, and the metric's rate


@dataclass(frozen=True)
class Counts:
    """The fan-out's tally of the current occurrence: audience = holdout + enrolled + waiting (for the winner)."""

    audience: int = 0
    holdout: int = 0
    enrolled: int = 0
    waiting: int = 0

    def add(self, other: Counts) -> Counts:
        return Counts(self.audience + other.audience, self.holdout + other.holdout,
                      self.enrolled + other.enrolled, self.waiting + other.waiting)


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    definition: Definition
    status: Status
    created_by: str
    created_at: datetime
    occurrence: int = 0
    phase: Phase = "test"
    cursor: str | None = None  # the contact id the fan-out continues after
    counts: Counts = Counts()
    first_send_at: datetime | None = None  # the earliest due instant enrolled in this occurrence
    last_send_at: datetime | None = None
    winner: Winner | None = None
    cancelled_at: datetime | None = None
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status in ("scheduled", "fanning_out", "sending")

    def chain_id(self, occurrence: int | None = None) -> str:
        return campaign_chain_id(self.campaign_id, self.occurrence if occurrence is None else occurrence)


def campaign_chain_id(campaign_id: str, occurrence: int) -> str:
    return f"{CHAIN_PREFIX}{campaign_id}:{occurrence}"


def campaign_of(chain_id: str) -> str | None:
    """The campaign id of a campaign pseudo-chain id, None for any other chain."""
    if not chain_id.startswith(CHAIN_PREFIX):
        return None
    campaign_id, _, occurrence = chain_id[len(CHAIN_PREFIX):].rpartition(":")
    return campaign_id if campaign_id and occurrence.isdigit() else None


def parse_definition(
    body: object, occasions: Mapping[str, Occasion], channels: Sequence[str], now: datetime,
) -> Definition:
    """The campaign a POST body asks for; InvalidCampaign names the first field that is wrong."""
    if not isinstance(body, Mapping):
        raise InvalidCampaign("", "The body must be a JSON object.")
    unknown = set(body) - {"occasion_id", "audience", "channels", "send_at", "ab", "holdout_share", "recur", "until"}
    if unknown:
        raise InvalidCampaign(sorted(unknown)[0], "Not a campaign field.")
    occasion_id = body.get("occasion_id")
    if not isinstance(occasion_id, str) or occasion_id not in occasions:
        raise InvalidCampaign("occasion_id", "Must name a known occasion.")
    occasion = occasions[occasion_id]
    picked = _channels(body.get("channels"), occasion, channels)
    send_at = _send_at(body.get("send_at"), now)
    ab = _ab(body.get("ab"), occasion, picked)
    holdout = _share(body.get("holdout_share", 0), "holdout_share", upper_open=True)
    recur = body.get("recur")
    if recur is not None and recur not in RECURRENCES:
        raise InvalidCampaign("recur", f"Must be one of {', '.join(RECURRENCES)}, or left out.")
    until = _date(body.get("until"), "until") if body.get("until") is not None else None
    if until is not None and recur is None:
        raise InvalidCampaign("until", "Only a recurring campaign has an end date.")
    return Definition(occasion_id, _audience(body.get("audience")), picked, send_at, ab, holdout, recur, until)


def _channels(value: object, occasion: Occasion, known: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidCampaign("channels", "Must be a non-empty list of channels.")
    for index, channel in enumerate(value):
        if not isinstance(channel, str) or channel not in known:
            raise InvalidCampaign(f"channels[{index}]", f"Must be one of {', '.join(known)}.")
        if channel not in occasion.templates:
            raise InvalidCampaign(f"channels[{index}]", f"The occasion has no {channel} template.")
    return tuple(dict.fromkeys(value))


def _send_at(value: object, now: datetime) -> SendAt:
    if not isinstance(value, Mapping) or not value:
        raise InvalidCampaign("send_at", 'Must be {"local_time": "08:30", "date": "YYYY-MM-DD"} or {"at": ...}.')
    if "at" in value:
        if set(value) != {"at"}:
            raise InvalidCampaign("send_at", "Give either `at` or `local_time` with `date`, not both.")
        raw = value["at"]
        try:
            at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise InvalidCampaign("send_at.at", "Must be an ISO-8601 instant with an offset.")
        return SendAt(at=at.astimezone(UTC))
    unknown = set(value) - {"local_time", "date"}
    if unknown:
        raise InvalidCampaign(f"send_at.{sorted(unknown)[0]}", "Not a send_at field.")
    raw_time = value.get("local_time")
    match = _LOCAL_TIME.fullmatch(raw_time) if isinstance(raw_time, str) else None
    if match is None:
        raise InvalidCampaign("send_at.local_time", "Must be a wall time HH:MM, e.g. 08:30.")
    day = _date(value.get("date"), "send_at.date")
    if datetime.combine(day, time(23, 59), UTC) + _LATEST_OFFSET < now:
        raise InvalidCampaign("send_at.date", "The day is over in every zone.")
    return SendAt(local_time=time(int(match[1]), int(match[2])), date=day)


def _date(value: object, name: str) -> date:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidCampaign(name, "Must be a date YYYY-MM-DD.")


def _share(value: object, name: str, *, upper_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1 \
            or (upper_open and value == 1):
        raise InvalidCampaign(name, "Must be a number from 0 to 1" + (" (1 excluded)." if upper_open else "."))
    return float(value)


def _ab(value: object, occasion: Occasion, channels: Sequence[str]) -> AbTest | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidCampaign("ab", "Must be an object: variants, test_share, pick_after, metric.")
    offered = {v for c in channels for v in occasion.variants(c)}
    variants = value.get("variants")
    if not isinstance(variants, list) or len(variants) < 2 or len(set(map(str, variants))) != len(variants):
        raise InvalidCampaign("ab.variants", "Must list at least two different variants.")
    for index, variant in enumerate(variants):
        if variant not in offered:
            known = ", ".join(sorted(offered)) or "none"
            raise InvalidCampaign(f"ab.variants[{index}]", f"Not a variant of the occasion ({known}).")
    share = _share(value.get("test_share"), "ab.test_share")
    if share == 0:
        raise InvalidCampaign("ab.test_share", "Must be above 0: someone has to test the variants.")
    raw = value.get("pick_after")
    pick_after = parse_duration(raw) if isinstance(raw, str) else None
    if not pick_after:
        raise InvalidCampaign("ab.pick_after", 'Must be a duration such as "4h" or "1d".')
    metric = value.get("metric")
    if metric not in METRICS:
        raise InvalidCampaign("ab.metric", f"Must be one of {', '.join(METRICS)}.")
    return AbTest(tuple(variants), share, pick_after, str(metric))


def _audience(value: object) -> Audience:
    if not isinstance(value, Mapping):
        raise InvalidCampaign("audience", "Must be an object with a segment or a point_id.")
    unknown = set(value) - {"segment", "point_id", "interests", "attributes"}
    if unknown:
        raise InvalidCampaign(f"audience.{sorted(unknown)[0]}", "Not an audience field.")
    segment, point = value.get("segment"), value.get("point_id")
    if segment is not None and segment not in SEGMENTS:
        raise InvalidCampaign("audience.segment", f"Must be one of {', '.join(SEGMENTS)}.")
    if point is not None and (not isinstance(point, str) or not point):
        raise InvalidCampaign("audience.point_id", "Must be a point id.")
    if segment is None and point is None:
        # Members are found through the segment or the point index: a whole-base mailing is one per segment.
        raise InvalidCampaign("audience", "Needs a segment or a point_id.")
    interests = value.get("interests", [])
    if not isinstance(interests, list) or not all(isinstance(i, str) and i for i in interests):
        raise InvalidCampaign("audience.interests", "Must be a list of interests.")
    attributes = value.get("attributes", {})
    if not isinstance(attributes, Mapping) or not all(
            isinstance(v, str | int | float | bool) for v in attributes.values()):
        raise InvalidCampaign("audience.attributes", "Must map attribute names to plain values.")
    return Audience(segment, point, tuple(i.lower() for i in interests), dict(attributes))


def matches(audience: Audience, segment: str | None, point_id: str | None,
            attributes: Mapping[str, object]) -> bool:
    """Whether a contact found through the index belongs to the audience."""
    if audience.segment is not None and segment != audience.segment:
        return False
    if audience.point_id is not None and point_id != audience.point_id:
        return False
    if audience.interests:
        held = attributes.get("interests")
        interests = {str(i).lower() for i in held} if isinstance(held, list) else set()
        if not interests & set(audience.interests):
            return False
    return all(attributes.get(name) == wanted for name, wanted in audience.attributes.items())


def send_instant(send_at: SendAt, time_zone: str | None, phone: str | None, fallback: Sequence[str],
                 occurrence: int) -> datetime:
    """When the occurrence goes to one recipient: `local_time` on the day in their zone (the first zone they
    may be in when not known; quiet hours still hold in all of them), or the absolute instant."""
    shift = timedelta(weeks=occurrence)
    if send_at.at is not None:
        return send_at.at + shift
    assert send_at.local_time is not None and send_at.date is not None
    where = candidate_zones(time_zone, phone, fallback)[0]
    local = datetime.combine(send_at.date + shift, send_at.local_time, where)
    return local.astimezone(UTC)


def earliest_send(send_at: SendAt, occurrence: int) -> datetime:
    """The first instant any recipient of the occurrence may get it."""
    if send_at.at is not None:
        return send_at.at + timedelta(weeks=occurrence)
    assert send_at.local_time is not None and send_at.date is not None
    day = send_at.date + timedelta(weeks=occurrence)
    return datetime.combine(day, send_at.local_time, UTC) - _EARLIEST_OFFSET


def fan_out_from(definition: Definition, occurrence: int) -> datetime:
    return earliest_send(definition.send_at, occurrence) - FAN_OUT_LEAD


def next_occurrence(definition: Definition, occurrence: int) -> int | None:
    """The occurrence after this one, None when the campaign does not recur (or its end date is reached)."""
    if definition.recur != "weekly":
        return None
    following = occurrence + 1
    if definition.until is not None:
        first = earliest_send(definition.send_at, following) + _EARLIEST_OFFSET + _LATEST_OFFSET
        if first.date() > definition.until:
            return None
    return following


def _bucket(*parts: object) -> float:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def group_of(campaign_id: str, contact_id: str, definition: Definition) -> Group:
    """The contact's group: stable for the campaign, independent between holdout and test share."""
    if definition.holdout_share and _bucket("holdout", campaign_id, contact_id) < definition.holdout_share:
        return "holdout"
    if definition.ab is not None and _bucket("ab", campaign_id, contact_id) >= definition.ab.test_share:
        return "rest"
    return "test"


def variants_for(campaign: Campaign, contact_id: str, offered: Sequence[str]) -> tuple[str, ...]:
    """The template variants the contact's send may take: the tested ones for the test share, the winner for
    the rest (every variant offered when the campaign runs no test)."""
    ab = campaign.definition.ab
    if ab is None:
        return tuple(offered)
    if campaign.winner is not None and (campaign.occurrence > 0 or
                                        group_of(campaign.campaign_id, contact_id, campaign.definition) == "rest"):
        return (campaign.winner.variant,)
    return tuple(v for v in offered if v in ab.variants)


def pick_after(campaign: Campaign) -> datetime | None:
    """When the A/B winner is due: `pick_after` after the test share's first send."""
    ab = campaign.definition.ab
    if ab is None or campaign.first_send_at is None:
        return None
    return campaign.first_send_at + ab.pick_after


def pick_winner(ab: AbTest, counts: Mapping[str, Mapping[str, float]], now: datetime) -> Winner:
    """The variant with the best rate of `ab.metric` over its sends; ties go to the earlier listed variant."""
    numerator = "opened" if ab.metric == "open_rate" else "clicked"
    numbers: dict[str, dict[str, float]] = {}
    for variant in ab.variants:
        got = counts.get(variant, {})
        sent = float(got.get("sent", 0))
        row = {name: float(got.get(name, 0)) for name in ("sent", "opened", "clicked")}
        row[ab.metric] = round(row[numerator] / sent, 4) if sent else 0.0
        numbers[variant] = row
    best = max(ab.variants, key=lambda v: (numbers[v][ab.metric], -ab.variants.index(v)))
    return Winner(best, ab.metric, now, numbers)


def campaign_chain(campaign: Campaign, chain_id: str) -> Chain:
    """The one-step pseudo-chain the step worker runs for an occurrence's enrolments (`chain_id`)."""
    definition = campaign.definition
    return Chain(
        id=chain_id, title=f"campaign {campaign.campaign_id}", start=(),
        exit_on=frozenset(), reentry=Reentry("never"), on_consent_revoked="exit", holdout=0.0,
        steps=(SendStep(id="send", occasion=definition.occasion_id, channels=definition.channels, sms="allowed"),),
        reach=(),
    )


def enrolled(campaign: Campaign, page: Counts, first: datetime | None, last: datetime | None,
             cursor: str | None) -> Campaign:
    """The campaign after one fan-out page: its tally, send window and where to continue."""
    return replace(
        campaign, counts=campaign.counts.add(page), cursor=cursor, status="fanning_out",
        first_send_at=min(filter(None, (campaign.first_send_at, first)), default=None),
        last_send_at=max(filter(None, (campaign.last_send_at, last)), default=None),
    )


def as_json(definition: Definition) -> dict[str, Any]:
    """The definition as stored and as answered: the POST body's shape."""
    send_at = definition.send_at
    out: dict[str, Any] = {
        "occasion_id": definition.occasion_id,
        "audience": {"segment": definition.audience.segment, "point_id": definition.audience.point_id,
                     "interests": list(definition.audience.interests),
                     "attributes": dict(definition.audience.attributes)},
        "channels": list(definition.channels),
        "send_at": {"at": send_at.at.isoformat()} if send_at.at else {
            "local_time": send_at.local_time.strftime("%H:%M") if send_at.local_time else None,
            "date": send_at.date.isoformat() if send_at.date else None},
        "ab": None if definition.ab is None else {
            "variants": list(definition.ab.variants), "test_share": definition.ab.test_share,
            "pick_after": f"{int(definition.ab.pick_after.total_seconds())}s", "metric": definition.ab.metric},
        "holdout_share": definition.holdout_share,
        "recur": definition.recur,
        "until": definition.until.isoformat() if definition.until else None,
    }
    return out


def from_json(stored: Mapping[str, Any]) -> Definition:
    """The stored definition back (as_json's inverse)."""
    audience = stored["audience"]
    send_at = stored["send_at"]
    ab = stored.get("ab")
    return Definition(
        occasion_id=stored["occasion_id"],
        audience=Audience(audience.get("segment"), audience.get("point_id"), tuple(audience.get("interests") or ()),
                          dict(audience.get("attributes") or {})),
        channels=tuple(stored["channels"]),
        send_at=SendAt(at=datetime.fromisoformat(send_at["at"])) if send_at.get("at") else SendAt(
            local_time=time.fromisoformat(send_at["local_time"]), date=date.fromisoformat(send_at["date"])),
        ab=None if not ab else AbTest(tuple(ab["variants"]), float(ab["test_share"]),
                                      parse_duration(ab["pick_after"]) or timedelta(), ab["metric"]),
        holdout_share=float(stored.get("holdout_share") or 0),
        recur=stored.get("recur"),
        until=date.fromisoformat(stored["until"]) if stored.get("until") else None,
    )
