"""POST /v1/events: server-to-server events, validated at the edge and queued for the event worker.

Validation names the exact field (`events[3].properties.amount`) so a back end can fix its payload; a
batch with one bad event is refused whole, so nothing is half-accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.events import INGESTED, Kind
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.services.subscriptions import POINT_ID, normalise_phone

MAX_BATCH = 100
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:@#/-]{1,128}$")
CONTACT_KEYS = ("email", "phone", "contact_id", "external_id")
# Properties are kept on the contact and on chain enrolments: well inside DynamoDB's 32 levels and 400 KB,
# and small enough that a dead letter (the event plus its reason) still fits an SQS message.
PROPERTIES = limits.Shape(depth=8)
MAX_EVENT_BYTES = 64 * limits.KB
MAX_COURSE_DAYS = 3650


Check = Callable[[object], str | None]  # a property's problem, said after its path, or None


def _number(minimum: float = 0) -> Check:
    def check(value: object) -> str | None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum
        return None if ok else f"must be a number >= {minimum:g}"

    return check


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and 0 < len(value) <= 500 else "must be a non-empty string (<= 500)"


def _items(value: object) -> str | None:
    if not isinstance(value, list) or len(value) > 500:
        return "must be a list of at most 500 items"
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            return "each item must be an object with a string sku"
        days = item.get("course_days")
        if isinstance(days, int | float) and days > MAX_COURSE_DAYS:
            return f"each item's course_days must be at most {MAX_COURSE_DAYS}"
    return None


def _object(value: object) -> str | None:
    return None if isinstance(value, dict) else "must be an object"


def _zone(value: object) -> str | None:
    try:
        ZoneInfo(value if isinstance(value, str) else "")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        return f"must be an IANA time zone like Europe/Moscow, not {str(value)[:64]!r}"
    return None


def _locale(value: object) -> str | None:
    return None if isinstance(value, str) and len(value) <= 35 else "must be a language tag like ru-RU"


def _b2b(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _birthday(value: object) -> str | None:
    try:
        day = date.fromisoformat(value if isinstance(value, str) else "")
    except ValueError:
        day = None
    return None if day is not None and 1900 <= day.year <= 2100 else "must be a date like 1990-05-17"


def _point(value: object) -> str | None:
    return None if isinstance(value, str) and POINT_ID.fullmatch(value) else "must be an id like msk-01"


# The attributes the worker reads into the profile, held to a sign-up's rules (null: left as it is). The error
# names the attribute itself (properties.attributes.birthday), as a sign-up's does (attributes.birthday).
PROFILE_ATTRIBUTES: Mapping[str, Check] = {
    "timezone": _zone, "locale": _locale, "b2b": _b2b, "birthday": _birthday, "point_id": _point,
}


def _attributes(value: object) -> str | None:
    return None if isinstance(value, dict) else "must be an object"


def _count(value: object) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "must be a count >= 0"


_CHECKS: Mapping[Kind, Check] = {
    "number": _number(), "count": _count, "text": _text, "items": _items, "object": _object,
    "attributes": _attributes,
}
# type -> {property: (required, check)}, for every type the catalogue says back ends may send.
EVENT_TYPES: Mapping[str, Mapping[str, tuple[bool, Check]]] = {
    name: {p.name: (p.required, _CHECKS[p.kind]) for p in event.properties} for name, event in INGESTED.items()
}


def _check_profile(attributes: Mapping[str, object], path: str) -> None:
    for name, check in PROFILE_ATTRIBUTES.items():
        value = attributes.get(name)
        problem = None if value is None else check(value)
        if problem:
            raise _fail(f"{path}.{name}", problem)


@dataclass(frozen=True)
class IngestEvent:
    type: str
    id: str
    contact: dict[str, str]
    occurred_at: str
    properties: dict[str, Any] = field(default_factory=dict)

    def message(self) -> dict[str, Any]:
        return {"kind": "event", "event": asdict(self), "attempt": 0}


def _fail(path: str, message: str) -> ClientError:
    return ClientError("invalid_field", f"{path} {message}.", path)


def parse_event(raw: object, path: str) -> IngestEvent:
    if not isinstance(raw, dict):
        raise _fail(path or "$", "must be an event object")
    prefix = f"{path}." if path else ""
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ClientError("unknown_event_type", f"{prefix}type must be one of: {known}.", f"{prefix}type")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not ID_PATTERN.match(event_id):
        raise _fail(f"{prefix}id", "must be a client event id of 1-128 letters, digits or ._:@#/-")
    contact = raw.get("contact")
    if not isinstance(contact, dict) or len(contact) != 1 or next(iter(contact)) not in CONTACT_KEYS:
        raise _fail(f"{prefix}contact", f"must name the contact by exactly one of {', '.join(CONTACT_KEYS)}")
    (key, value), = contact.items()
    if not isinstance(value, str) or not value.strip() or len(value) > 320:
        raise _fail(f"{prefix}contact.{key}", "must be a non-empty string")
    limits.text(value, f"{prefix}contact.{key}", 320)
    if key == "phone":
        # Made E.164 as at sign-up, so "+7 (916) 123-45-67" finds the contact stored as +79161234567.
        try:
            value = normalise_phone(value, None)
        except ClientError as exc:
            raise _fail(f"{prefix}contact.phone", "must be a phone number in international format") from exc
    occurred_at = limits.instant(raw.get("occurred_at"), f"{prefix}occurred_at").isoformat()
    properties = raw.get("properties", {})
    if not isinstance(properties, dict):
        raise _fail(f"{prefix}properties", "must be an object")
    limits.check_members(properties, f"{prefix}properties", PROPERTIES)
    for name, (required, check) in EVENT_TYPES[kind].items():
        if name not in properties:
            if required:
                raise _fail(f"{prefix}properties.{name}", f"is required for {kind}")
            continue
        problem = check(properties[name])
        if problem:
            raise _fail(f"{prefix}properties.{name}", problem)
        if check is _attributes:
            _check_profile(properties[name], f"{prefix}properties.{name}")
    unknown = set(raw) - {"type", "id", "contact", "occurred_at", "properties"}
    if unknown:
        raise _fail(f"{prefix}{sorted(unknown)[0]}", "is not a field of an event")
    event = IngestEvent(kind, event_id, {key: value.strip()}, occurred_at, dict(properties))
    if limits.size(event.message()) > MAX_EVENT_BYTES:
        largest = max(properties, key=lambda name: limits.size(properties[name]), default=None)
        where = f"{prefix}properties.{largest}" if largest else path or "$"
        raise _fail(where, f"makes the event larger than {MAX_EVENT_BYTES // limits.KB} KB")
    return event


def parse_batch(body: object) -> list[IngestEvent]:
    """One event, or {"events": [...]} with 1 to 100 events."""
    if isinstance(body, dict) and "events" in body:
        events = body["events"]
        if set(body) != {"events"}:
            extra = sorted(set(body) - {"events"})[0]
            raise _fail(extra, "is not a field of an event batch")
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH:
            raise _fail("events", f"must be a list of 1 to {MAX_BATCH} events")
        return [parse_event(event, f"events[{i}]") for i, event in enumerate(events)]
    return [parse_event(body, "")]


class EventQueue(Protocol):
    def send_many(self, queue: str, bodies: Any) -> int: ...


def accept(body: object, queue: EventQueue) -> dict[str, Any]:
    events = parse_batch(body)
    queue.send_many("events", (event.message() for event in events))
    return {"accepted": len(events), "ids": [event.id for event in events]}
