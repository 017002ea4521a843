"""Ad audience memberships: one row per audience and contact, read by audience (the export) and by contact
(leaves on consent withdrawal, a goal or erasure) through the contact index. Expiry is a due timer of the
contact (`timer:audience:<name>`), so nothing here is scanned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pynamodb.attributes import ListAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.models import ContactModel, _index_meta, _meta, share_connection
from chalicelib.store.snapshots import consent_states


class AudienceContactIndex(GlobalSecondaryIndex["AudienceMemberModel"]):
    Meta = _index_meta("contact-index")
    contact_id = UnicodeAttribute(hash_key=True)
    audience = UnicodeAttribute(range_key=True)


class AudienceMemberModel(Model):
    Meta = _meta("audiences")
    audience = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)
    joined_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    source = UnicodeAttribute()  # "<chain>/<step>" or "campaign:<id>"
    identifiers = ListAttribute(of=UnicodeAttribute, default=list)  # the hashes published: email, phone
    by_contact = AudienceContactIndex()


share_connection(AudienceMemberModel)


@dataclass(frozen=True)
class Membership:
    audience: str
    contact_id: str
    joined_at: datetime
    expires_at: datetime
    source: str
    identifiers: frozenset[str] = frozenset()  # whose hashes the topic was told of: "email", "phone"


@dataclass(frozen=True)
class MemberContact:
    """What an export reads of a member: the addresses and the consents that decide which are exported."""

    contact_id: str
    status: str
    email: str | None
    phone: str | None
    consents: Mapping[tuple[str, str], bool]


def _membership(row: AudienceMemberModel) -> Membership:
    return Membership(row.audience, row.contact_id, row.joined_at, row.expires_at, row.source,
                      frozenset(row.identifiers or ()))


class AudienceRepository:
    def join(self, member: Membership) -> None:
        """Stores the membership; a contact joining again gets the new expiry, source and identifiers."""
        AudienceMemberModel(
            member.audience, member.contact_id, joined_at=member.joined_at, expires_at=member.expires_at,
            source=member.source, identifiers=sorted(member.identifiers),
        ).save()

    def get(self, audience: str, contact_id: str) -> Membership | None:
        try:
            return _membership(AudienceMemberModel.get(audience, contact_id, consistent_read=True))
        except DoesNotExist:
            return None

    def remove(self, audience: str, contact_id: str) -> bool:
        """Deletes the membership; True when this call removed it."""
        try:
            AudienceMemberModel(audience, contact_id).delete(condition=AudienceMemberModel.contact_id.exists())
        except DeleteError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def for_contact(self, contact_id: str) -> list[Membership]:
        return [_membership(row) for row in AudienceMemberModel.by_contact.query(contact_id)]

    def page(self, audience: str, after: str | None, limit: int) -> tuple[list[Membership], str | None]:
        """Up to `limit` members after the contact id `after`, in contact id order, and the id to go on from."""
        condition = AudienceMemberModel.contact_id > after if after else None
        rows = [_membership(r) for r in AudienceMemberModel.query(audience, condition, limit=limit + 1)]
        return rows[:limit], rows[limit - 1].contact_id if len(rows) > limit else None

    def contacts(self, contact_ids: Sequence[str]) -> dict[str, MemberContact]:
        """The members' contact rows, in batches of 100 (one BatchGetItem each)."""
        rows = ContactModel.batch_get(
            list(dict.fromkeys(contact_ids)),
            attributes_to_get=["contact_id", "status", "email", "phone", "consents"],
        ) if contact_ids else []
        found = {}
        for row in rows:
            consents, _ = consent_states(row.consents.as_dict() if hasattr(row.consents, "as_dict")
                                         else dict(row.consents or {}))
            found[row.contact_id] = MemberContact(row.contact_id, row.status, row.email, row.phone, consents)
        return found
