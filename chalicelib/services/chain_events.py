"""What a contact's event does to their chains: goal exits, reaction flags, pauses, and new entries.

Every path that learns something about a contact (ingested events, provider feedback, a confirmed sign-up,
a consent change) goes through `apply`, so chains react the same way whatever the source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.chains import ContactEvent, react
from chalicelib.domain.events import chain_context
from chalicelib.domain.model import Strategy
from chalicelib.services.steps import contact_view
from chalicelib.store.enrollments import EnrollmentConflict, EnrollmentRepository
from chalicelib.store.snapshots import ContactSnapshot

ATTEMPTS = 3


@dataclass
class ChainEvents:
    strategy: Strategy
    enrollments: EnrollmentRepository
    snapshots: Callable[[str], ContactSnapshot | None]
    # Told of every event applied, with the snapshot it was applied on (services.audiences' leaves).
    on_event: Callable[[ContactSnapshot, str, datetime], None] | None = None

    def apply(
        self, contact_id: str, event_type: str, occurred_at: datetime, now: datetime,
        properties: Mapping[str, object] | None = None, *, keep_claims: bool = True,
        snapshot: ContactSnapshot | None = None,
    ) -> list[str]:
        """Applies the event to the contact's enrolments; returns the chains it changed or started.

        Idempotent for a repeated event: flags and exits are set once, and re-entry rules keep a running
        chain from starting twice. Concurrent writers are retried on a fresh read. A step in flight keeps its
        claim unless `keep_claims` is off (a consent withdrawal takes it, so the queued step is ignored).
        """
        snapshot = snapshot or self.snapshots(contact_id)  # a caller that read the contact passes it
        if snapshot is None or snapshot.status == "erased":
            return []
        event = ContactEvent(event_type, occurred_at, dict(properties or {}))
        view = contact_view(snapshot)
        for attempt in range(ATTEMPTS):
            stored = self.enrollments.for_contact(contact_id)
            changed = react(self.strategy, event, view, {k: s.state for k, s in stored.items()}, now)
            try:
                for state in changed:
                    before = stored.get(state.chain_id)
                    entered = before is None or before.state.entered_at != state.entered_at
                    context = chain_context(event_type, event.properties) if entered else None
                    self.enrollments.save(state, before, now, keep_claim=keep_claims, context=context,
                                          addresses=snapshot.address_keys())
            except EnrollmentConflict:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            if self.on_event is not None:
                self.on_event(snapshot, event_type, now)
            return [state.chain_id for state in changed]
        return []
