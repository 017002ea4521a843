"""What the contact rules read about one contact, loaded in as few requests as possible."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.zones import zone
from chalicelib.store.models import ContactModel
from chalicelib.store.suppressions import SuppressionRepository, address_key

DATA_PROCESSING = "data_processing"
STOP_LIST = "stop_list"
STORED_DEPTH = 32  # DynamoDB's nesting limit: deeper values exist only on moto, stored before the edge's limits
_DEEP_READ_RECURSION = 20_000
MAX_KEY_BYTES = 2048  # DynamoDB refuses a partition key that is empty or longer (ValidationException)


@dataclass(frozen=True)
class ContactSnapshot:
    contact_id: str
    status: str
    email: str | None
    phone: str | None
    push_endpoint: str | None
    timezone: str | None
    locale: str | None
    segment: str | None
    b2b: bool
    attributes: Mapping[str, object]
    consents: Mapping[tuple[str, str], bool]  # (channel, purpose) -> granted; absent: never asked
    data_processing: bool
    version: int  # the contact row's version when read: a send decided on it holds only while it is unchanged
    suppressed_channels: frozenset[str] = field(default_factory=frozenset)
    stop_listed: bool = False

    def address_keys(self) -> tuple[str, ...]:
        """The suppression keys of the contact's addresses."""
        return address_keys(self.email, self.phone)


def address_keys(email: str | None, phone: str | None) -> tuple[str, ...]:
    return tuple(sorted({address_key(c, a) for c, a in (("email", email), ("sms", phone)) if a}))


def consent_states(raw: Mapping[str, object]) -> tuple[dict[tuple[str, str], bool], bool]:
    """Splits the stored `<channel>:<purpose>` map into communication consents and the data-processing one."""
    consents: dict[tuple[str, str], bool] = {}
    data_processing = False
    for key, value in raw.items():
        state = value.get("state") if isinstance(value, Mapping) else value
        if state not in ("granted", "revoked"):
            continue  # requested but never confirmed: not a consent yet
        channel, _, purpose = key.rpartition(":")
        if purpose == DATA_PROCESSING:
            data_processing = state == "granted"
        else:
            consents[(channel, purpose)] = state == "granted"
    return consents, data_processing


def read_contact(contact_id: str) -> ContactModel | None:
    """The contact row (strongly consistent), readable whatever one stored value holds.

    A value nested deeper than DynamoDB allows (stored on moto before the edge refused it) makes botocore
    and pynamodb recurse past Python's limit: such a row is read raw once more, and what lies deeper than
    STORED_DEPTH is left out. An unknown time zone reads as none. Saving the row then heals it. An id no
    row can have (empty, or longer than a key may be) is simply not found."""
    if not contact_id or len(contact_id.encode()) > MAX_KEY_BYTES:
        return None
    try:
        row = ContactModel.get(contact_id, consistent_read=True)
    except DoesNotExist:
        return None
    except RecursionError:
        found = _read_deep(contact_id)
        if found is None:
            return None
        row = found
    return readable(row)


def readable(row: ContactModel) -> ContactModel:
    """The row as the rules read it: an unknown time zone reads as none."""
    if row.timezone and zone(row.timezone) is None:
        row.timezone = None
    return row


def _read_deep(contact_id: str) -> ContactModel | None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _DEEP_READ_RECURSION))
    try:
        item = ContactModel._get_connection().get_item(contact_id, consistent_read=True).get("Item")
    finally:
        sys.setrecursionlimit(limit)
    if item is None:
        return None
    kept = {name: pruned for name, value in item.items() if (pruned := _within(value, STORED_DEPTH)) is not None}
    return ContactModel.from_raw_data(kept)


def _within(value: dict[str, Any], budget: int) -> dict[str, Any] | None:
    """A DynamoDB attribute value without what is nested deeper than `budget` levels (None: all of it)."""
    if "M" in value or "L" in value:
        if budget == 0:
            return None
        if "M" in value:
            return {"M": {k: kept for k, v in value["M"].items() if (kept := _within(v, budget - 1)) is not None}}
        return {"L": [kept for v in value["L"] if (kept := _within(v, budget - 1)) is not None]}
    return value


def load_snapshot(contact_id: str) -> ContactSnapshot | None:
    row = read_contact(contact_id)
    return None if row is None else snapshot_of(row)


def snapshot_of(row: ContactModel, reasons: dict[str, str] | None = None) -> ContactSnapshot:
    """The snapshot of a contact row already read; its suppressions' reasons by key are looked up unless
    given (read with the row)."""
    consents, data_processing = consent_states(row.consents.as_dict() if hasattr(row.consents, "as_dict")
                                               else dict(row.consents or {}))
    keys = {}
    if row.email:
        keys["email"] = address_key("email", row.email)
    if row.phone:
        keys["sms"] = address_key("sms", row.phone)
    if reasons is None:
        reasons = SuppressionRepository().reasons(sorted(set(keys.values())))
    suppressed = {channel for channel, address in keys.items() if address in reasons}
    stop_listed = STOP_LIST in reasons.values()
    attributes = row.attributes.as_dict() if hasattr(row.attributes, "as_dict") else dict(row.attributes or {})
    return ContactSnapshot(
        contact_id=row.contact_id, status=row.status, email=row.email, phone=row.phone,
        push_endpoint=row.push_endpoint_arn, timezone=row.timezone, locale=row.locale, segment=row.segment,
        b2b=bool(row.b2b), attributes=attributes, consents=consents, data_processing=data_processing,
        version=int(row.version or 0), suppressed_channels=frozenset(suppressed), stop_listed=stop_listed,
    )


def suppress_contact(snapshot: ContactSnapshot, reason: str, now: datetime) -> None:
    """Suppresses every address of the contact (the stop list: a year without return)."""
    for channel, address in (("email", snapshot.email), ("sms", snapshot.phone)):
        if address:
            SuppressionRepository().suppress(address_key(channel, address), reason, now, "chain")
