"""GET /v1/admin/contacts?email=|phone=|point_id=: find contacts, within the caller's point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.services.errors import ClientError
from chalicelib.services.subscriptions import POINT_ID, normalise_email, normalise_phone
from chalicelib.store.contacts import Contact, ContactRepository, identity_key

CRITERIA = ("email", "phone", "point_id")
MAX_RESULTS = 100


def _summary(contact: Contact) -> dict[str, Any]:
    return {
        "contact_id": contact.contact_id, "status": contact.status, "email": contact.email, "phone": contact.phone,
        "point_id": contact.point_id, "segment": contact.segment, "created_at": contact.created_at.isoformat(),
    }


def _typed_phone(value: str) -> str:
    """`?phone=+7916...` as typed: query decoding turns the `+` into a space, which no number starts with."""
    rest = value.lstrip(" ")
    return f"+{rest}" if value.startswith(" ") and rest[:1].isdigit() else value


def search(contacts: ContactRepository, query: Mapping[str, str], scope: str | None) -> dict[str, Any]:
    """Exactly one criterion. `scope` is a point manager's point: they find only that point's contacts."""
    given = [name for name in CRITERIA if query.get(name)]
    if len(given) != 1:
        field = given[1] if given else None
        raise ClientError("invalid_query", "Search by exactly one of email, phone or point_id.", field)
    criterion = given[0]
    value = (_typed_phone(query[criterion]) if criterion == "phone" else query[criterion]).strip()
    if criterion == "point_id":
        if not POINT_ID.fullmatch(value):  # also a blank one, which the point index cannot be queried with
            raise ClientError("invalid_field", "point_id must be an id like msk-01.", "point_id")
        if scope is not None and value != scope:
            raise ClientError("forbidden", "A point manager sees only the contacts of their own point.", "point_id",
                              status=403)
        found = contacts.by_point(value, MAX_RESULTS)
    else:
        # The same normalisation as sign-up, so a search finds what a sign-up stored.
        address = normalise_email(value) if criterion == "email" else normalise_phone(value, None)
        channel = "email" if criterion == "email" else "sms"
        key = identity_key(channel, address)
        owner = contacts.owners([key]).get(key)
        contact = contacts.get(owner) if owner else None
        found = [contact] if contact is not None else []
    visible = [c for c in found if scope is None or c.point_id == scope]
    return {"contacts": [_summary(c) for c in visible]}
