"""GET /v1/admin/occasions/{id}/checklist: every contact of a point for one period of an occasion, with their
mark (done, not done, refused with the reason, sent or deferred by touchplan) or none yet ("open").

A page costs one Query of the point index and the BatchGetItems of the page's marks (each mark sits at a key
known in advance, domain.manual.mark_key: this period's and the previous one's, two per contact, 100 keys a
request), however many contacts the point has. A contact marked in the previous period less than a period
ago is "recent": not due yet. The cursor is opaque: the
last contact id of the page, bound to the occasion, point and period it was made for.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from chalicelib.clock import Clock
from chalicelib.domain.manual import REPLACEABLE, mark_key, period_of, previous_key, too_soon
from chalicelib.domain.model import Strategy
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.services.subscriptions import POINT_ID
from chalicelib.store.contacts import Contact, ContactRepository
from chalicelib.store.touches import TouchRecord, TouchRepository

PAGE = 100
QUERY = ("point_id", "period", "segment", "cursor", "limit")
STATES = {"done": "done", "not_done": "not_done", "refused": "refused", "sent": "sent", "delivered": "sent",
          "opened": "sent", "clicked": "sent", "reserved": "sent", "deferred": "deferred", "failed": "failed",
          "held": "failed", "bounced": "failed", "complained": "failed"}


def _encode(occasion_id: str, point_id: str, start: datetime, after: str) -> str:
    raw = json.dumps({"o": occasion_id, "p": point_id, "s": start.isoformat(), "a": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, occasion_id: str, point_id: str, start: datetime) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    expected = {"o": occasion_id, "p": point_id, "s": start.isoformat()}
    if not isinstance(data, dict) or {k: data.get(k) for k in expected} != expected or not isinstance(
            data.get("a"), str):
        raise ClientError("invalid_field", "cursor must be the next_cursor of the same checklist.", "cursor")
    return str(data["a"])


def _row(contact: Contact, mark: TouchRecord | None, earlier: TouchRecord | None) -> dict[str, Any]:
    """`earlier`: a standing mark of the previous period less than a period ago (the contact is not due yet)."""
    row: dict[str, Any] = {
        "contact_id": contact.contact_id, "first_name": contact.attributes.get("first_name"),
        "email": contact.email, "phone": contact.phone, "segment": contact.segment,
        "state": STATES.get(mark.status, mark.status) if mark else "recent" if earlier else "open",
    }
    mark = mark or earlier
    if mark is not None:
        row.update(channel=mark.channel, comment=mark.comment, actor=mark.actor, at=mark.created_at.isoformat(),
                   reason=mark.reason, rule=mark.rule, until=mark.until.isoformat() if mark.until else None)
    return row


@dataclass
class Checklist:
    strategy: Strategy
    contacts: ContactRepository
    touches: TouchRepository
    clock: Clock

    def page(self, occasion_id: str, query: Mapping[str, str], scope: str | None) -> dict[str, Any]:
        """`scope`: a point manager's point (another point is 403)."""
        occasion = self.strategy.occasions.get(occasion_id)
        if occasion is None:
            raise ClientError("not_found", "No occasion with this id.", None, status=404)
        for name in query:
            if name not in QUERY:
                raise ClientError("unknown_field", f"Unknown parameter {name!r} (expected {', '.join(QUERY)}).", name)
        point_id = (query.get("point_id") or scope or "").strip()
        if not POINT_ID.fullmatch(point_id):
            raise ClientError("invalid_field", "point_id must be an id like msk-01.", "point_id")
        if scope is not None and point_id != scope:
            raise ClientError("forbidden", "A point manager sees only the checklist of their own point.",
                              "point_id", status=403)
        at = self.clock.now()
        if query.get("period"):
            try:
                at = datetime.combine(date.fromisoformat(query["period"]), time(12), UTC)
            except ValueError:
                raise ClientError("invalid_field", "period must be a date (YYYY-MM-DD) inside the period.",
                                  "period") from None
        start, end = period_of(occasion, at)
        limit = limits.page_limit(query.get("limit"), PAGE, PAGE)
        after = _decode(query["cursor"], occasion_id, point_id, start) if query.get("cursor") else None
        contacts, more = self.contacts.point_page(point_id, after, limit)
        key, before = mark_key(occasion_id, start), previous_key(occasion, start)
        marks = self.touches.marks([(c.contact_id, k) for c in contacts for k in (key, before)])

        def earlier(contact: Contact) -> TouchRecord | None:
            mark = marks.get((contact.contact_id, before))
            standing = mark is not None and mark.status not in REPLACEABLE and too_soon(occasion, mark.created_at, at)
            return mark if standing else None

        segment = query.get("segment")
        rows = [_row(c, marks.get((c.contact_id, key)), earlier(c)) for c in contacts
                if c.status != "erased" and (not segment or c.segment == segment)]
        return {
            "occasion_id": occasion_id, "point_id": point_id,
            "period": {"from": start.isoformat(), "to": end.isoformat()},
            "contacts": rows, "next_cursor": _encode(occasion_id, point_id, start, more) if more else None,
        }
