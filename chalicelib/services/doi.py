"""Double opt-in: the confirmation message (queued by a sign-up) and the click on its link.

Sending: at most one DOI message per address per 24 h and three per 30 days (the strategy's `doi.caps`),
none to a suppressed address, none once the request is confirmed. The slot is taken with a conditional
write on the address's identity row *before* the provider call, so concurrent workers cannot both send;
a provider refusal that provably sent nothing (throttled, circuit open) gives the slot back and retries.

Confirming: the token id is the open request's id, consumed in the same transaction that turns the consents
on, writes the `confirmed` proof and enters the chains that start on `signup_confirmed`. A second click
finds no open request: "already confirmed", nothing written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.clock import Clock
from chalicelib.delivery.errors import CircuitOpenError, PermanentSendError, RetryableSendError, TemplateRenderError
from chalicelib.domain.chains import ContactEvent, react
from chalicelib.domain.model import Strategy
from chalicelib.domain.rules import ContactView, decide_doi
from chalicelib.services.consent import DATA_PROCESSING, Origin, event, proof_of, record, split_key, text_locale
from chalicelib.services.outbound import Envelope, Outbound, Recipient, Sent
from chalicelib.services.records import PermanentRecordError
from chalicelib.services.tokens import DOI, ExpiredToken, InvalidToken, Links, TokenKeys, verify
from chalicelib.store.contacts import ConsentRecord, Contact, ContactRepository, identity_key
from chalicelib.store.enrollments import EnrollmentConflict, EnrollmentRepository
from chalicelib.store.suppressions import SuppressionRepository, address_key
from chalicelib.store.touches import TouchRecord, TouchRepository

SIGNUP_CONFIRMED = "signup_confirmed"
CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class DoiJob:
    contact_id: str
    channel: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> DoiJob:
        contact_id, channel = body.get("contact_id"), body.get("channel")
        if not isinstance(contact_id, str) or channel not in CHANNELS:
            raise PermanentRecordError("doi message needs contact_id and channel email|sms")
        return cls(contact_id, str(channel))


@dataclass(frozen=True)
class Confirmation:
    outcome: str  # confirmed | already_confirmed | expired | invalid
    locale: str | None = None
    preferences_url: str | None = None


def contact_view(contact: Contact, consents: Mapping[str, ConsentRecord]) -> ContactView:
    given = {split_key(k): r.state == "granted" for k, r in consents.items()}
    return ContactView(
        contact_id=contact.contact_id, confirmed=True,
        data_processing=given.get(("any", DATA_PROCESSING), False),
        consents={pair: on for pair, on in given.items() if pair[1] != DATA_PROCESSING},
        addresses=frozenset(c for c in ("email", "sms", "push") if contact.address(c)),
        time_zone=contact.timezone, phone=contact.phone, locale=(contact.locale or "ru").split("-")[0],
        attributes=contact.attributes,
    )


@dataclass
class DoubleOptIn:
    contacts: ContactRepository
    suppressions: SuppressionRepository
    enrollments: EnrollmentRepository
    strategy: Strategy
    keys: TokenKeys
    links: Links
    outbound: Outbound
    clock: Clock
    touches: TouchRepository
    # A confirmation is a sign of life: the lifecycle timers (stop list, birthday) start from it.
    on_confirmed: Callable[[str, datetime], object] = lambda contact_id, now: None

    def send(self, job: DoiJob) -> str:
        """Sends the DOI message if it may go; returns what happened (sent, or the reason it did not)."""
        contact = self.contacts.get(job.contact_id)
        if contact is None or contact.status == "erased":
            return "no_contact"
        if contact.pending_request is None:
            return "nothing_to_confirm"
        address = contact.address(job.channel)
        if address is None:
            return "no_address"
        key = identity_key(job.channel, address)
        suppressed = self.suppressions.is_suppressed(address_key(job.channel, address))
        now = self.clock.now()
        while True:
            before = self.contacts.doi_sends(key)
            if before is None:
                return "no_identity"
            decision = decide_doi([datetime.fromtimestamp(x, UTC) for x in before], suppressed, self.strategy, now)
            if decision.action != "send":
                return str(decision.reason)
            horizon = max((per for _, per in self.strategy.doi.caps), default=timedelta(days=30))
            after = [x for x in before if now.timestamp() - x < horizon.total_seconds()] + [now.timestamp()]
            if self.contacts.replace_doi_sends(key, before, after):
                break
        # Like every outbound touch, the DOI message is on the contact's touches (the identity slot above is
        # what keeps it to one send; the row makes it visible and lets provider feedback find it).
        occasion = self.strategy.occasions[self.strategy.doi.occasion]
        request_id = contact.pending_request
        touch = TouchRecord(
            contact.contact_id, f"doi#{request_id}#{len(before)}", f"doi-{request_id}-{len(before)}", job.channel,
            occasion.id, occasion.category, "reserved", now, decision="send", reason="double_opt_in",
            rule="consent",
        )
        self.touches.reserve(touch)
        try:
            sent = self._deliver(contact, job.channel, request_id, touch.touch_id, now)
        except (RetryableSendError, CircuitOpenError) as exc:
            # Nothing reached the provider: give the slot back so the retry may use it.
            self.contacts.replace_doi_sends(key, after, [x for x in after if x != now.timestamp()])
            self.touches.mark(contact.contact_id, touch.touch_key, "held", now, error_code=exc.code, error=str(exc))
            raise
        except (PermanentSendError, TemplateRenderError) as exc:
            self.touches.mark(contact.contact_id, touch.touch_key, "failed", now, error_code=exc.code, error=str(exc))
            return f"failed:{exc.code}"
        self.touches.mark(contact.contact_id, touch.touch_key, "sent", now,
                          provider_message_id=sent.provider_message_id, cost=float(sent.cost))
        return "sent"

    def _deliver(self, contact: Contact, channel: str, request_id: str, touch_id: str, now: datetime) -> Sent:
        url = self.links.confirm_url(contact.contact_id, request_id, now + self.strategy.doi.token_ttl)
        occasion = self.strategy.occasions[self.strategy.doi.occasion]
        recipient = Recipient(
            contact_id=contact.contact_id, email=contact.email, phone=contact.phone, push_endpoint=None,
            locale=contact.locale, attributes={"first_name": None, **contact.attributes},
        )
        category = occasion.category
        purpose = self.strategy.categories[category].purpose
        envelope = Envelope(touch_id, None, None, category, purpose, None)
        return self.outbound.send(channel, occasion, recipient, envelope, {"confirm_url": url}, now)

    def confirm(self, raw_token: str | None, origin: Origin) -> Confirmation:
        now = self.clock.now()
        try:
            token = verify(self.keys, raw_token, DOI, now)
        except ExpiredToken as exc:
            contact = self.contacts.get(exc.token.contact_id)
            return Confirmation("expired", contact.locale if contact else None)
        except InvalidToken:
            return Confirmation("invalid")
        contact = self.contacts.get(token.contact_id)
        if contact is None or contact.status == "erased":
            return Confirmation("invalid")
        prefs = self.links.preferences_url(contact.contact_id)
        while contact.pending_request == token.token_id:
            if self._consume(contact, token.token_id, origin, now):
                self.on_confirmed(contact.contact_id, now)
                return Confirmation("confirmed", contact.locale, prefs)
            reread = self.contacts.get(contact.contact_id)
            if reread is None:
                return Confirmation("invalid")
            contact = reread
        return Confirmation("already_confirmed", contact.locale, prefs)

    def _consume(self, contact: Contact, request_id: str, origin: Origin, now: datetime) -> bool:
        proof = proof_of(self.keys, Origin("double-opt-in", origin.ip, origin.user_agent), request_id)
        locale = text_locale(self.strategy, contact.locale)
        grants: dict[str, ConsentRecord] = {}
        events = []
        for key, asked in contact.requested.items():
            channel, purpose = split_key(key)
            if purpose != DATA_PROCESSING and not contact.address(channel):
                continue
            grants[key] = record("granted", now, asked.text_id, asked.source)
            text = self.strategy.consent_texts.get(asked.text_id)
            events.append(event("confirmed", now, key, proof, text, locale, requested_at=asked.at))
        view = contact_view(contact, {**contact.consents, **grants})
        stored = self.enrollments.for_contact(contact.contact_id)
        entered = react(self.strategy, ContactEvent(SIGNUP_CONFIRMED, now), view,
                        {chain: s.state for chain, s in stored.items()}, now)
        fresh = [state for state in entered if state.chain_id not in stored]
        if not self.contacts.confirm(contact, request_id, grants, events, fresh, now):
            return False
        # Chains paused by an earlier withdrawal resume now that consent is back.
        for state in entered:
            if state.chain_id in stored:
                try:
                    self.enrollments.save(state, stored[state.chain_id], now)
                except EnrollmentConflict:
                    continue  # someone moved it meanwhile; the next consent change settles it
        return True
