"""Inbound SMS: a STOP reply (STOP, СТОП, ОТПИСКА, UNSUBSCRIBE, QUIT, CANCEL, END, OPTOUT) ends marketing SMS.

The number is suppressed, the contact's SMS marketing consent withdrawn (chains pause or exit), and one
non-marketing confirmation goes back. The confirmation is a touch keyed by the inbound message id, reserved
before the provider call: a redelivered STOP finds the reservation and sends nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import Clock
from chalicelib.delivery.errors import CircuitOpenError, PermanentSendError, RetryableSendError, TemplateRenderError
from chalicelib.delivery.feedback import InboundSms
from chalicelib.delivery.sms import is_e164
from chalicelib.domain.model import Strategy
from chalicelib.services.feedback import Withdraw
from chalicelib.services.outbound import Envelope, Outbound, Recipient
from chalicelib.services.stats import StatsService
from chalicelib.services.steps import SendHeld
from chalicelib.store.feedback import FeedbackRecords
from chalicelib.store.snapshots import ContactSnapshot
from chalicelib.store.suppressions import address_key
from chalicelib.store.touches import TouchRecord, TouchRepository

CONFIRMATION = "sms-stop-confirmation"


@dataclass(frozen=True)
class InboundOutcome:
    status: str  # ignored | stopped
    contact_id: str | None = None
    confirmation: str | None = None  # the confirmation touch's status: sent | failed | reserved before


def confirmation_key(message_id: str) -> str:
    return f"sms-stop#{message_id}"


@dataclass
class InboundSmsService:
    strategy: Strategy
    records: FeedbackRecords
    touches: TouchRepository
    snapshots: Callable[[str], ContactSnapshot | None]
    outbound: Outbound
    links: Callable[[str], Mapping[str, str]]  # contact id -> preferences_url, unsubscribe_url
    withdraw: Withdraw
    stats: StatsService
    clock: Clock

    def handle(self, sms: InboundSms) -> InboundOutcome:
        if not sms.is_stop or not is_e164(sms.origination_number):
            return InboundOutcome("ignored")
        now = self.clock.now()
        address = address_key("sms", sms.origination_number)
        self.records.suppress(address, "sms_stop", now, "sms-inbound", sms.message_id)
        contact_id = self.records.owner(address)
        if contact_id is None:
            return InboundOutcome("stopped")
        # The withdrawal writes the `revoked` proof; it changes something only the first time, so a
        # redelivered STOP neither writes a second entry nor counts a second unsubscribe.
        if self.withdraw(contact_id, "sms", "sms-stop", sms.message_id, now):
            self._count_unsubscribe(sms, now)
        return InboundOutcome("stopped", contact_id, self._confirm(contact_id, sms, now))

    def _count_unsubscribe(self, sms: InboundSms, now: datetime) -> None:
        # Two-way SMS names the message the person answered: its step gets the unsubscribe.
        if sms.previous_published_message_id:
            answered = self.touches.by_provider_message(sms.previous_published_message_id)
            if answered is not None:
                self.stats.count(answered, {"unsubscribed": 1}, now)

    def _confirm(self, contact_id: str, sms: InboundSms, now: datetime) -> str | None:
        snapshot = self.snapshots(contact_id)
        if snapshot is None or snapshot.phone != sms.origination_number:
            return None  # the number is no longer this contact's: the suppression is the whole answer
        occasion = self.strategy.occasions[CONFIRMATION]
        touch = TouchRecord(
            contact_id=contact_id, touch_key=confirmation_key(sms.message_id), touch_id=str(uuid.uuid4()),
            channel="sms", occasion_id=occasion.id, category=occasion.category, status="reserved", created_at=now,
            decision="send", reason="sms_stop_reply", rule="inbound_sms",
        )
        if not self.touches.reserve(touch):
            existing = self.touches.get(contact_id, touch.touch_key)
            return f"{existing.status} before" if existing else None
        envelope = Envelope(touch.touch_id, None, None, occasion.category, "service", None)
        recipient = Recipient(contact_id, None, sms.origination_number, None, snapshot.locale, snapshot.attributes)
        try:
            links = {**self.strategy.links, **self.links(contact_id)}  # as every message outside a chain
            sent = self.outbound.send("sms", occasion, recipient, envelope, links, now)
        except (RetryableSendError, CircuitOpenError) as exc:
            # Provably not sent: the reservation may be taken again when the message is retried.
            self.touches.mark(contact_id, touch.touch_key, "held", now, error_code=exc.code, error=str(exc))
            raise SendHeld(str(exc)) from exc
        except (PermanentSendError, TemplateRenderError) as exc:
            self.touches.mark(contact_id, touch.touch_key, "failed", now, error_code=exc.code, error=str(exc))
            return "failed"
        self.touches.mark(contact_id, touch.touch_key, "sent", now, provider_message_id=sent.provider_message_id,
                          cost=float(sent.cost))
        return "sent"
