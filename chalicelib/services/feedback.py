"""SES feedback: what a bounce, complaint, delivery, open or click changes.

- A permanent bounce suppresses every bounced recipient and writes one `bounced` ledger entry per recipient;
  a transient bounce changes nothing (SES retried already; the next send will tell).
- A complaint suppresses, withdraws email marketing consent (which pauses or exits chains) and writes a
  `complained` ledger entry.
- Delivery, open and click move the touch forward; open and click also set the enrolment's reaction flags.
Each is safe to receive twice: suppressions and ledger entries are conditional puts keyed by the feedback,
and a count is made only by the call that moved the touch to that status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.clock import Clock
from chalicelib.delivery.feedback import (
    FeedbackEvent,
    FeedbackParseError,
    InboundSms,
    UnsupportedFeedbackError,
    parse_feedback,
)
from chalicelib.domain.chains import CONSENT_CHANGED
from chalicelib.domain.model import Strategy
from chalicelib.services.chain_events import ChainEvents
from chalicelib.services.consent import Proof, event, record
from chalicelib.services.records import PermanentRecordError
from chalicelib.services.stats import StatsService
from chalicelib.store.contacts import ContactChanged, ContactRepository, pair_key
from chalicelib.store.feedback import FeedbackRecords
from chalicelib.store.ledger import ConsentEvent
from chalicelib.store.suppressions import address_key
from chalicelib.store.touches import STATUS_RANK, SentTouch, TouchRepository

# Reached in this order; a later one proves the earlier ones (a click on a mail means it was delivered).
ENGAGEMENT = ("delivered", "opened", "clicked")
REACTION_EVENTS = {"open": "email_opened", "click": "email_clicked"}
_ATTEMPTS = 5

Withdraw = Callable[[str, str, str, str, datetime], bool]
Parsed = TypeVar("Parsed", FeedbackEvent, InboundSms)


def feedback_event_id(feedback_id: str, recipient: str) -> str:
    """The ledger id of one recipient's part of one feedback item: the same on every redelivery."""
    return hashlib.sha256(f"{feedback_id}:{recipient.strip().lower()}".encode()).hexdigest()[:24]


def address_sha256(recipient: str) -> str:
    return hashlib.sha256(recipient.strip().lower().encode()).hexdigest()


@dataclass(frozen=True)
class FeedbackOutcome:
    kind: str
    touch_id: str | None
    suppressed: int = 0
    ledger_entries: int = 0
    counted: tuple[str, ...] = ()


@dataclass
class ProviderWithdrawal:
    """Marketing consent withdrawn through the provider (a spam complaint, an SMS STOP), with its proof.

    The consent change and its `revoked` ledger entry are one transaction (the consent store's); chains that
    can no longer reach the contact are then paused or exited. Withdrawing what is withdrawn writes nothing.
    """

    strategy: Strategy
    contacts: ContactRepository
    chain_events: ChainEvents
    clock: Clock

    def __call__(self, contact_id: str, channel: str, source: str, reference: str, at: datetime) -> bool:
        """True when a consent changed. `reference` (feedback or inbound message id) goes into the proof."""
        opt_in = [p for p, spec in self.strategy.purposes.items() if spec.opt_in and p != "data_processing"]
        for _ in range(_ATTEMPTS):
            contact = self.contacts.get(contact_id)
            if contact is None or contact.status == "erased":
                return False
            keys = [pair_key(channel, purpose) for purpose in opt_in]
            now = self.clock.now()
            changes = {k: record("revoked", now, None, source) for k in keys
                       if (current := contact.consents.get(k)) is None or current.state != "revoked"}
            drop = [k for k in keys if k in contact.requested]
            if not changes and not drop:
                return False
            proofs = [event("revoked", now, k, Proof(source, None, None), reference=reference) for k in changes]
            try:
                self.contacts.change_consents(contact, changes, drop, proofs, now)
            except ContactChanged:
                continue
            self.chain_events.apply(contact_id, CONSENT_CHANGED, at, now)
            return True
        raise RuntimeError("consent withdrawal kept racing other writes")


@dataclass
class FeedbackService:
    touches: TouchRepository
    records: FeedbackRecords
    stats: StatsService
    chain_events: ChainEvents
    withdraw: Withdraw
    clock: Clock

    def handle(self, feedback: FeedbackEvent) -> FeedbackOutcome:
        touch = self._touch(feedback)
        touch_id = touch.touch_id if touch else feedback.touch_id
        if feedback.kind == "bounce":
            if not feedback.permanent:
                return FeedbackOutcome("transient_bounce", touch_id)
            return self._stop_address(feedback, touch, "bounced", "hard_bounce")
        if feedback.kind == "complaint":
            return self._stop_address(feedback, touch, "complained", "complaint")
        if feedback.kind in ("delivery", "open", "click") and touch is not None:
            reaction = REACTION_EVENTS.get(feedback.kind)
            if reaction and touch.chain_id:
                # Before the status: a redelivery after a crash here still reaches the flags (apply is idempotent).
                self.chain_events.apply(touch.contact_id, reaction, feedback.at, self.clock.now(),
                                        {"chain_id": touch.chain_id})
            status = {"delivery": "delivered", "open": "opened", "click": "clicked"}[feedback.kind]
            return FeedbackOutcome(feedback.kind, touch_id, counted=self._advance(touch, status, feedback.at))
        if feedback.kind in ("reject", "rendering_failure") and touch is not None:
            self.touches.mark(touch.contact_id, touch.touch_key, "failed", feedback.at,
                              error_code=f"ses_{feedback.kind}", error="the message did not go out")
        return FeedbackOutcome(feedback.kind, touch_id)

    def _stop_address(
        self, feedback: FeedbackEvent, touch: SentTouch | None, kind: str, reason: str
    ) -> FeedbackOutcome:
        suppressed = entries = 0
        for recipient in feedback.recipients:
            suppressed += self.records.suppress(
                address_key("email", recipient), reason, feedback.at, "ses", feedback.feedback_id
            )
            contact_id = self._owner(recipient, feedback, touch)
            if contact_id is None:
                continue
            if kind == "complained":
                self.withdraw(contact_id, "email", "ses-complaint", feedback.feedback_id, feedback.at)
            entries += self.records.append(contact_id, ConsentEvent(
                kind=kind, at=feedback.at, channel="email", source="ses",
                event_id=feedback_event_id(feedback.feedback_id, recipient),
                detail={k: v for k, v in {
                    "feedback_id": feedback.feedback_id, "address_sha256": address_sha256(recipient),
                    "bounce_type": feedback.bounce_type, "bounce_subtype": feedback.bounce_subtype,
                    "complaint_type": feedback.complaint_type, "touch_id": touch.touch_id if touch else None,
                }.items() if v},
            ))
        counted = self._advance(touch, kind, feedback.at) if touch is not None else ()
        return FeedbackOutcome(kind, touch.touch_id if touch else feedback.touch_id, suppressed, entries, counted)

    def _advance(self, touch: SentTouch, status: str, at: datetime) -> tuple[str, ...]:
        """Moves the touch to `status` and counts what that proves, once: only the call that moved it counts.

        Engagement counts the levels the touch had not reached before this write (the write itself tells which
        status it replaced), so a click arriving before its delivery still counts the delivery, and concurrent
        events never count one level twice."""
        before = self.touches.advance_status(touch.contact_id, touch.touch_key, status, at)
        if before is None:
            return ()
        if status in ENGAGEMENT:
            reached = STATUS_RANK.get(before, 0)
            counted = tuple(s for s in ENGAGEMENT[: ENGAGEMENT.index(status) + 1] if STATUS_RANK[s] > reached)
        else:
            counted = (status,)
        self.stats.count(touch, dict.fromkeys(counted, 1), at)
        return counted

    def _touch(self, feedback: FeedbackEvent) -> SentTouch | None:
        touch = self.touches.by_provider_message(feedback.provider_message_id)
        if touch is None and feedback.contact_id and feedback.touch_id:
            # Not marked sent (a crash between SES accepting and our write) or the index lags: the tags still
            # name the touch.
            touch = next((SentTouch.of(t) for t in self.touches.for_contact(feedback.contact_id)
                          if t.touch_id == feedback.touch_id), None)
        return touch

    def _owner(self, recipient: str, feedback: FeedbackEvent, touch: SentTouch | None) -> str | None:
        owner = self.records.owner(address_key("email", recipient))
        if owner is None and len(feedback.recipients) == 1:
            return touch.contact_id if touch else feedback.contact_id
        return owner


def read_feedback(body: Mapping[str, Any], expected: type[Parsed]) -> Parsed | None:
    """The typed feedback in a queue body; None for what is acknowledged and dropped (SNS subscription
    confirmations, SES event types we do not act on); PermanentRecordError for anything unreadable or of
    the other kind, so it is dead-lettered."""
    try:
        parsed = parse_feedback(body)
    except UnsupportedFeedbackError:
        return None
    except FeedbackParseError as exc:
        raise PermanentRecordError(str(exc)) from exc
    if not isinstance(parsed, expected):
        raise PermanentRecordError(f"expected {expected.__name__}, got {type(parsed).__name__}")
    return parsed
