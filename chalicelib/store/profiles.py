"""The contact facts that events change (orders, activity, profile), and the once-only event marker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.settings import get_settings
from chalicelib.store.models import CONNECTION, ContactModel, IdentityModel, share_connection
from chalicelib.store.snapshots import ContactSnapshot, read_contact, snapshot_of
from chalicelib.store.suppressions import address_key

_settings = get_settings()
PROCESSED_FOR = timedelta(days=30)  # a client may resend an event id within this time and be ignored


class ProcessedEventModel(Model):
    """A marker per applied event id in the idempotency table (TTL `expiration`)."""

    class Meta:
        table_name = _settings.table("idempotency")
        region = _settings.region

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()


share_connection(ProcessedEventModel)


@dataclass(frozen=True)
class Facts:
    orders_count: int
    revenue: float
    first_order_at: datetime | None
    last_order_at: datetime | None
    last_activity_at: datetime | None
    attributes: dict[str, Any]
    timezone: str | None
    locale: str | None
    point_id: str | None


@dataclass(frozen=True)
class FactsChange:
    orders: int = 0
    revenue: float = 0.0
    order_at: datetime | None = None
    activity_at: datetime | None = None
    attributes: dict[str, Any] | None = None
    timezone: str | None = None
    locale: str | None = None
    point_id: str | None = None
    b2b: bool | None = None  # None: unchanged


class AlreadyApplied(Exception):
    """The event id was applied before: a client resent it."""


def identity_key(kind: str, value: str) -> str:
    """The identity an event's contact reference names (phones arrive E.164 from the ingest edge)."""
    if kind == "external_id":
        return f"ext:{value.strip()}"
    return address_key("sms" if kind == "phone" else kind, value)


class ProfileRepository:
    def resolve(self, kind: str, value: str) -> str | None:
        """The contact id an event names, or None when no such contact is known."""
        if kind == "contact_id":
            try:
                ContactModel.get(value, attributes_to_get=["contact_id"])
            except DoesNotExist:
                return None
            return value
        try:
            return str(IdentityModel.get(identity_key(kind, value), consistent_read=True).contact_id)
        except DoesNotExist:
            return None

    def facts(self, contact_id: str) -> tuple[Facts, ContactModel] | None:
        row = read_contact(contact_id)
        if row is None:
            return None
        attributes = row.attributes.as_dict() if hasattr(row.attributes, "as_dict") else dict(row.attributes or {})
        return Facts(
            orders_count=int(row.orders_count or 0), revenue=float(row.revenue or 0),
            first_order_at=row.first_order_at, last_order_at=row.last_order_at,
            last_activity_at=row.last_activity_at, attributes=attributes, timezone=row.timezone,
            locale=row.locale, point_id=row.point_id,
        ), row

    def snapshot(self, row: ContactModel) -> ContactSnapshot:
        """What the contact rules read about the contact of a row `facts` gave."""
        return snapshot_of(row)

    def apply(self, row: ContactModel, change: FactsChange, event_id: str, now: datetime, segment: str) -> None:
        """Writes the change and the event's marker in one transaction (raises AlreadyApplied on a resend).

        The contact's version attribute makes a concurrent writer fail the transaction; the caller retries.
        """
        row.orders_count = int(row.orders_count or 0) + change.orders
        row.revenue = float(row.revenue or 0) + change.revenue
        if change.order_at is not None:
            row.first_order_at = min(filter(None, (row.first_order_at, change.order_at)))
            row.last_order_at = max(filter(None, (row.last_order_at, change.order_at)))
        if change.activity_at is not None:
            row.last_activity_at = max(filter(None, (row.last_activity_at, change.activity_at)))
        if change.attributes:
            merged = row.attributes.as_dict() if hasattr(row.attributes, "as_dict") else dict(row.attributes or {})
            merged.update(change.attributes)
            row.attributes = merged
        for name in ("timezone", "locale", "point_id"):
            if getattr(change, name):
                setattr(row, name, getattr(change, name))
        if change.b2b is not None:
            row.b2b = change.b2b
        row.segment = segment
        row.updated_at = now
        marker = ProcessedEventModel(f"event#{event_id}", expiration=int((now + PROCESSED_FOR).timestamp()))
        try:
            with TransactWrite(connection=CONNECTION) as transaction:
                transaction.save(row)
                transaction.save(marker, condition=ProcessedEventModel.id.does_not_exist())
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise AlreadyApplied(event_id) from exc
            raise

    def set_segment(self, row: ContactModel, segment: str, now: datetime) -> bool:
        """Stores the segment a timer moved the contact to, if the row is still as read (False: read again)."""
        if row.segment == segment or row.status == "erased":
            return True
        try:
            row.update(actions=[ContactModel.segment.set(segment), ContactModel.updated_at.set(now)])
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def was_applied(self, event_id: str) -> bool:
        try:
            ProcessedEventModel.get(f"event#{event_id}", consistent_read=True)
        except DoesNotExist:
            return False
        return True
