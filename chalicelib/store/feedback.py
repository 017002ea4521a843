"""What provider feedback writes: suppressions and ledger entries, each at most once per feedback item.

SNS delivers at least once, so the same bounce or STOP can arrive again. Every write here is a conditional
put on a key the caller derives from the feedback itself: a redelivery writes nothing new.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.store.ledger import ConsentEvent, append_only, event_row
from chalicelib.store.models import ContactModel, IdentityModel
from chalicelib.store.suppressions import SuppressionRepository


def _already_there(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class FeedbackRecords(SuppressionRepository):
    def append(self, contact_id: str, event: ConsentEvent) -> bool:
        """Writes the ledger entry unless one with the same key exists; give it a deterministic `event_id` and
        the feedback's own time so a redelivered notification builds the same key. True when written."""
        try:
            event_row(contact_id, event).save(condition=append_only())
        except PutError as exc:
            if _already_there(exc):
                return False
            raise
        return True

    def owner(self, identity: str) -> str | None:
        """The contact holding `identity` ("email:<lower>" / "phone:<E.164>"), if any."""
        try:
            return str(IdentityModel.get(identity, consistent_read=True).contact_id)
        except DoesNotExist:
            return None

    def set_push_endpoint(self, contact_id: str, endpoint_arn: str, now: datetime) -> bool:
        """Stores the contact's push endpoint; False when the contact is unknown or erased."""
        # version 0 without a version condition: the update ADDs 1 and never races other writers of the row.
        row = ContactModel(contact_id, version=0)
        try:
            row.update(
                actions=[ContactModel.push_endpoint_arn.set(endpoint_arn), ContactModel.updated_at.set(now)],
                condition=ContactModel.contact_id.exists() & (ContactModel.status != "erased"),
                add_version_condition=False,
            )
        except UpdateError as exc:
            if _already_there(exc):
                return False
            raise
        return True

    def push_endpoint(self, contact_id: str) -> str | None:
        try:
            row = ContactModel.get(contact_id, consistent_read=True, attributes_to_get=["push_endpoint_arn"])
        except DoesNotExist:
            return None
        return row.push_endpoint_arn
