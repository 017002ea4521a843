"""GDPR / 152-FZ data-subject requests: export everything held about a contact, or erase it.

The export holds everything stored: the profile with its order facts, activity and b2b flag, the consent
ledger, chain enrolments with what their templates show, pending timers, touches, suppressions and ad audience
memberships.

Erasure removes the personal data (addresses, profile, order facts, identities, the chains' template
context) and keeps a tombstone row plus the consent ledger, with a `revoked` entry for every consent still
given and one `erased` entry: the proof that consent existed and was withdrawn outlives the data, and holds
no address (IP and user agent are hashed). It runs on request (DELETE) or as the due timer a personal-data
withdrawal scheduled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from chalicelib.clock import Clock
from chalicelib.domain.audiences import Hashes, hashes
from chalicelib.domain.chains import leave
from chalicelib.services.consent import Proof, event, record
from chalicelib.services.errors import ClientError
from chalicelib.store.audiences import Membership
from chalicelib.store.contacts import DATA_PROCESSING_KEY, Contact, ContactChanged, ContactRepository
from chalicelib.store.enrollments import EnrollmentConflict, EnrollmentRepository
from chalicelib.store.ledger import LedgerRepository
from chalicelib.store.suppressions import SuppressionRepository, address_key
from chalicelib.store.timers import TimerRepository, is_timer
from chalicelib.store.touches import TouchRepository

ERASED = "contact_erased"
WITHDRAWAL = "consent-withdrawal"  # the actor of an erasure a personal-data withdrawal scheduled
_ATTEMPTS = 5


class Erasure:
    def __init__(
        self, contacts: ContactRepository, ledger: LedgerRepository, enrollments: EnrollmentRepository,
        touches: TouchRepository, suppressions: SuppressionRepository, timers: TimerRepository, clock: Clock,
        on_erased: Callable[[str, Hashes, datetime], None] | None = None,
        memberships: Callable[[str], list[Membership]] = lambda contact_id: [],
    ) -> None:
        self.contacts = contacts
        self.ledger = ledger
        self.enrollments = enrollments
        self.touches = touches
        self.suppressions = suppressions
        self.timers = timers
        self.clock = clock
        # Told after an erasure, with the hashes the contact's addresses had (their ad audiences' leaves).
        self.on_erased = on_erased
        self.memberships = memberships  # the contact's ad audience memberships, for the export

    def find(self, contact_id: str, point_id: str | None) -> Contact:
        """The contact, if the caller may see it: a point manager (`point_id`) only sees their point's, and
        another point's contact is answered like an unknown id, so the answer never tells that it exists."""
        contact = self.contacts.get(contact_id)
        if contact is None or (point_id is not None and contact.point_id != point_id):
            raise ClientError("not_found", "No contact with this id.", None, status=404)
        return contact

    def export(self, contact_id: str, point_id: str | None) -> dict[str, Any]:
        contact = self.find(contact_id, point_id)
        addresses = [address_key(c, a) for c, a in (("email", contact.email), ("sms", contact.phone)) if a]
        chains = [s for chain_id, s in self.enrollments.for_contact(contact_id).items() if not is_timer(chain_id)]
        return {
            "contact": {**asdict(contact), "identities": contact.identity_keys()},
            "consent_history": [{**asdict(e), "at": e.at.isoformat()} for e in self.ledger.history(contact_id)],
            "enrollments": [{**asdict(s.state), "context": s.context or {}} for s in chains],
            "timers": [{"timer": t.kind, "event": t.event, "due_at": t.due_at.isoformat(), "properties": t.properties}
                       for t in self.timers.for_contact(contact_id)],
            "touches": [asdict(t) for t in self.touches.for_contact(contact_id)],
            "suppressions": self.suppressions.records(addresses),
            "audiences": [{**asdict(m), "joined_at": m.joined_at.isoformat(), "expires_at": m.expires_at.isoformat()}
                          for m in self.memberships(contact_id)],
        }

    def erase_withdrawn(self, contact_id: str) -> bool:
        """The erasure a personal-data withdrawal scheduled; not if the consent was given again meanwhile."""
        contact = self.contacts.get(contact_id)
        given = contact.consents.get(DATA_PROCESSING_KEY) if contact else None
        if contact is None or contact.status == "erased" or (given is not None and given.state == "granted"):
            return False
        self.erase(contact_id, None, WITHDRAWAL)
        return True

    def erase(self, contact_id: str, point_id: str | None, actor: str) -> dict[str, str]:
        contact = self.find(contact_id, point_id)
        for _ in range(_ATTEMPTS):
            if contact.status == "erased":
                return {"contact_id": contact_id, "status": "erased"}
            now = self.clock.now()
            proof = Proof("erasure", None, None)
            granted = [k for k, r in contact.consents.items() if r.state == "granted"]
            revoked = {k: record("revoked", now, None, "erasure") for k in granted}
            events = [event("revoked", now, k, proof, actor=actor) for k in granted]
            events.append(event("erased", now, "any:data_processing", proof, actor=actor))
            try:
                self.contacts.erase(contact, revoked, events, now)
            except ContactChanged:
                contact = self.find(contact_id, point_id)
                continue
            self._exit_chains(contact_id)
            if self.on_erased is not None:
                self.on_erased(contact_id, hashes(contact.email, contact.phone), now)
            return {"contact_id": contact_id, "status": "erased"}
        raise RuntimeError("erasure kept racing other writes")

    def _exit_chains(self, contact_id: str) -> None:
        """Every chain and timer ends, its template context emptied; a timer being fired (claimed) is left to
        its step, which finds the contact erased and closes it."""
        for _ in range(_ATTEMPTS):
            now = self.clock.now()
            stored = self.enrollments.for_contact(contact_id)
            try:
                for chain_id, s in stored.items():
                    if s.state.active and not (is_timer(chain_id) and s.claim):
                        self.enrollments.save(leave(s.state, ERASED, now), s, now, context={})
            except EnrollmentConflict:
                continue
            return
