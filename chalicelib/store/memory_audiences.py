"""The memory twin of chalicelib.store.audiences (the contract suite runs over both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from chalicelib.store.audiences import AudienceRepository, MemberContact, Membership
from chalicelib.store.snapshots import consent_states

if TYPE_CHECKING:
    from chalicelib.store.memory import MemoryDatabase


class MemoryAudiences(AudienceRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._members: dict[str, dict[str, Membership]] = {}  # audience -> contact -> membership

    def join(self, member: Membership) -> None:
        with self._db.lock:
            self._db.request("PutItem", "audiences", member)
            self._members.setdefault(member.audience, {})[member.contact_id] = replace(member)

    def get(self, audience: str, contact_id: str) -> Membership | None:
        with self._db.lock:
            found = self._members.get(audience, {}).get(contact_id)
            self._db.request("GetItem", "audiences", found)
            return found

    def remove(self, audience: str, contact_id: str) -> bool:
        with self._db.lock:
            found = self._members.get(audience, {}).pop(contact_id, None)
            self._db.request("DeleteItem", "audiences", found)
            return found is not None

    def for_contact(self, contact_id: str) -> list[Membership]:
        with self._db.lock:
            found = [m[contact_id] for _, m in sorted(self._members.items()) if contact_id in m]
            self._db.request("Query", "audiences", *found, index="contact-index")
            return found

    def page(self, audience: str, after: str | None, limit: int) -> tuple[list[Membership], str | None]:
        with self._db.lock:
            members = self._members.get(audience, {})
            ids = sorted(c for c in members if after is None or c > after)
            rows = [members[c] for c in ids[:limit + 1]]
            self._db.request("Query", "audiences", *rows)
            return rows[:limit], rows[limit - 1].contact_id if len(rows) > limit else None

    def contacts(self, contact_ids: Sequence[str]) -> dict[str, MemberContact]:
        found = {}
        with self._db.lock:
            for start in range(0, len(contact_ids), 100):
                batch = [self._db.contacts.get(c) for c in contact_ids[start:start + 100]]
                self._db.request("BatchGetItem", "contacts", *batch)
                for contact in batch:
                    if contact is not None:
                        consents, _ = consent_states({k: v.stored() for k, v in contact.consents.items()})
                        found[contact.contact_id] = MemberContact(
                            contact.contact_id, contact.status, contact.email, contact.phone, consents)
        return found
