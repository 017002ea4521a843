"""The preference centre and one-click unsubscribe: withdrawing is as easy as giving, and immediate.

Every change is one ledger entry (granted or revoked, with the token id and hashed origin) written in the
same transaction as the consent itself. Right after, running chains that can no longer reach the contact
are paused or exited (per chain) and taken off the due index, so a queued step finds nothing to send;
the step worker re-checks consent at send time as well.

Withdrawing personal-data consent (GDPR art. 7(3), 152-FZ art. 9) withdraws everything: every communication
consent is revoked with it, every chain is exited, and erasure is scheduled after the strategy's
`consent.erasure_after` as a due timer. Each step is a ledger entry (revoked..., exited, erasure_scheduled);
the timer's erasure writes `erased`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.clock import Clock
from chalicelib.domain.chains import CONSENT_CHANGED
from chalicelib.domain.lifecycle import erasure_timer
from chalicelib.domain.model import Strategy
from chalicelib.services.chain_events import ChainEvents
from chalicelib.services.consent import (
    DATA_PROCESSING,
    Origin,
    current_text,
    event,
    key_of,
    mask_email,
    mask_phone,
    proof_of,
    record,
    split_key,
    text_locale,
)
from chalicelib.services.errors import ClientError
from chalicelib.services.tokens import PREFERENCES, UNSUBSCRIBE, InvalidToken, Links, Token, TokenKeys, verify
from chalicelib.store.contacts import DATA_PROCESSING_KEY, ConsentRecord, Contact, ContactChanged, ContactRepository
from chalicelib.store.ledger import ConsentEvent, LedgerRepository
from chalicelib.store.timers import TimerRepository
from chalicelib.store.touches import TouchRecord, TouchRepository

_ATTEMPTS = 5
_REACHED = frozenset({"sent", "delivered", "opened", "clicked"})  # touches that went out (no bounce)


@dataclass(frozen=True)
class Switch:
    key: str  # "<channel>:<purpose>"
    channel: str
    purpose: str
    on: bool


@dataclass(frozen=True)
class PreferencesView:
    contact_id: str
    locale: str
    email: str | None  # masked
    phone: str | None  # masked
    switches: tuple[Switch, ...]
    preferences_url: str
    erasure_after: timedelta  # what withdrawing personal-data consent leads to, for the page to say
    erasure_due: datetime | None = None  # personal-data consent withdrawn: when the data goes


@dataclass
class PreferenceCentre:
    contacts: ContactRepository
    chain_events: ChainEvents
    strategy: Strategy
    keys: TokenKeys
    links: Links
    clock: Clock
    timers: TimerRepository
    ledger: LedgerRepository
    touches: TouchRepository
    on_unsubscribed: Callable[[TouchRecord, datetime], None] = lambda touch, now: None  # stats

    def open(self, raw_token: str | None, scope: str = PREFERENCES) -> tuple[Token, Contact]:
        """The token's contact. InvalidToken for a bad token *or* an unknown/erased contact (same answer);
        ExpiredToken for a genuine, expired one."""
        token = verify(self.keys, raw_token, scope, self.clock.now())
        contact = self.contacts.get(token.contact_id)
        if contact is None or contact.status == "erased":
            raise InvalidToken("unknown contact")
        return token, contact

    def locale_of(self, token: Token) -> str | None:
        """The language of a genuine link's contact, for the page that says the link expired."""
        contact = self.contacts.get(token.contact_id)
        return contact.locale if contact is not None and contact.status != "erased" else None

    def view(self, raw_token: str | None) -> PreferencesView:
        _, contact = self.open(raw_token)
        return self._view(contact)

    def apply(self, raw_token: str | None, wanted: Mapping[str, bool], origin: Origin) -> PreferencesView:
        """Sets the switches named in `wanted` ("<channel>:<purpose>" -> on); ClientError for a switch the
        contact does not have. Personal-data consent off (`any:data_processing`) turns every switch off."""
        token, contact = self.open(raw_token)
        known = {s.key for s in self._all_switches(contact)}
        for key in wanted:
            if key not in known:
                raise ClientError("unknown_switch", f"There is no switch {key!r} for this contact.", f"consents.{key}")

        def asked(c: Contact) -> dict[str, bool]:
            if wanted.get(DATA_PROCESSING_KEY) is False:
                return {**{s.key: False for s in self._switches(c)}, DATA_PROCESSING_KEY: False}
            return dict(wanted)

        contact, moved = self._change(token, contact, asked, _from(origin, "preference-centre"))
        if wanted.get(DATA_PROCESSING_KEY) is False:
            self._withdrawn(contact, moved, token, _from(origin, "preference-centre"))
        return self._view(contact)

    def everything_off(self, raw_token: str | None, origin: Origin) -> PreferencesView:
        token, contact = self.open(raw_token)
        contact, _ = self._change(token, contact, lambda c: {s.key: False for s in self._switches(c)},
                                  _from(origin, "preference-centre"))
        return self._view(contact)

    def check_unsubscribe(self, raw_token: str | None) -> PreferencesView:
        """For the GET confirm page: the token is checked, nothing changes."""
        _, contact = self.open(raw_token, UNSUBSCRIBE)
        return self._view(contact)

    def unsubscribe(self, raw_token: str | None, origin: Origin) -> PreferencesView:
        """RFC 8058 one-click: every opt-in (marketing) consent off, on the token's channel or on all."""
        token, contact = self.open(raw_token, UNSUBSCRIBE)

        def marketing_off(c: Contact) -> dict[str, bool]:
            return {s.key: False for s in self._switches(c)
                    if self.strategy.purposes[s.purpose].opt_in and token.channel in (None, s.channel)}

        updated, _ = self._change(token, contact, marketing_off, _from(origin, "one-click-unsubscribe"))
        if updated.consents != contact.consents:  # a repeated click changes nothing and counts nothing
            self._credit_unsubscribe(updated, token.channel or "email", self.clock.now())
        return self._view(updated)

    def _change(
        self, token: Token, contact: Contact, wanted_of: Callable[[Contact], Mapping[str, bool]], origin: Origin
    ) -> tuple[Contact, list[str]]:
        """The contact after the change, and the chains it paused, exited or resumed."""
        for _ in range(_ATTEMPTS):
            wanted = wanted_of(contact)
            now = self.clock.now()
            changes, events, drop = self._diff(contact, wanted, token, origin, now)
            if not changes and not drop:
                return contact, []
            try:
                self.contacts.change_consents(contact, changes, drop, events, now)
            except ContactChanged:
                reread = self.contacts.get(contact.contact_id)
                if reread is None or reread.status == "erased":
                    raise InvalidToken("contact erased meanwhile") from None
                contact = reread
                continue
            updated = self.contacts.get(contact.contact_id) or contact
            return updated, self._settle_chains(updated, now)
        raise RuntimeError("consent change kept racing other writes")

    def _diff(
        self, contact: Contact, wanted: Mapping[str, bool], token: Token, origin: Origin, now: datetime
    ) -> tuple[dict[str, ConsentRecord], list[ConsentEvent], list[str]]:
        proof = proof_of(self.keys, origin, token.token_id)
        locale = text_locale(self.strategy, contact.locale)
        changes: dict[str, ConsentRecord] = {}
        events: list[ConsentEvent] = []
        drop: list[str] = []
        for key, on in wanted.items():
            channel, purpose = split_key(key)
            if not on and key in contact.requested:
                drop.append(key)  # an unconfirmed request withdrawn before its DOI click
            if self._is_on(contact, key) == on:
                continue
            # A grant proves agreement to today's text; a withdrawal names the text it withdraws.
            given = contact.consents.get(key)
            text = (current_text(self.strategy, None if purpose == DATA_PROCESSING else channel, purpose) if on
                    else self.strategy.consent_texts.get(given.text_id or "") if given else None)
            if on and text is None and self.strategy.purposes[purpose].opt_in:
                raise ClientError("no_consent_text", f"No consent text is registered for {channel} {purpose}.",
                                  f"consents.{key}")
            changes[key] = record("granted" if on else "revoked", now, text.id if text else None, origin.source)
            events.append(event("granted" if on else "revoked", now, key, proof, text, locale))
        return changes, events, drop

    def _is_on(self, contact: Contact, key: str) -> bool:
        state = contact.consents.get(key)
        if self.strategy.purposes[split_key(key)[1]].opt_in:
            return state is not None and state.state == "granted"
        return state is None or state.state != "revoked"

    def _switches(self, contact: Contact) -> tuple[Switch, ...]:
        """The communication switches: what "unsubscribe from everything" and one-click turn off."""
        return tuple(
            Switch(key_of(channel, purpose), channel, purpose, self._is_on(contact, key_of(channel, purpose)))
            for channel in self.strategy.channels if contact.address(channel)
            for purpose in self.strategy.purposes if purpose != DATA_PROCESSING
        )

    def _all_switches(self, contact: Contact) -> tuple[Switch, ...]:
        """The communication switches and, once given, the personal-data consent: withdrawn where it was."""
        if DATA_PROCESSING_KEY not in contact.consents:
            return self._switches(contact)
        channel, purpose = split_key(DATA_PROCESSING_KEY)
        given = Switch(DATA_PROCESSING_KEY, channel, purpose, self._is_on(contact, DATA_PROCESSING_KEY))
        return (*self._switches(contact), given)

    def _view(self, contact: Contact) -> PreferencesView:
        given = contact.consents.get(DATA_PROCESSING_KEY)
        withdrawn = datetime.fromisoformat(given.at) if given and given.state == "revoked" else None
        return PreferencesView(
            contact_id=contact.contact_id, locale=text_locale(self.strategy, contact.locale),
            email=mask_email(contact.email) if contact.email else None,
            phone=mask_phone(contact.phone) if contact.phone else None,
            switches=self._all_switches(contact), preferences_url=self.links.preferences_url(contact.contact_id),
            erasure_after=self.strategy.erasure_after,
            erasure_due=withdrawn + self.strategy.erasure_after if withdrawn else None,
        )

    def _withdrawn(self, contact: Contact, moved: list[str], token: Token, origin: Origin) -> None:
        """After personal-data consent is withdrawn: every chain exited, erasure due after the strategy's delay.

        Safe to repeat (a resubmitted form, a retry after a crash): only what has not happened yet happens,
        and only that gets a ledger entry."""
        given = contact.consents.get(DATA_PROCESSING_KEY)
        if given is None or given.state != "revoked":
            return
        now = self.clock.now()
        proof = proof_of(self.keys, origin, token.token_id)
        exited = moved or self._settle_chains(contact, now)
        entries = [event("exited", now, DATA_PROCESSING_KEY, proof, chains=",".join(sorted(exited)))] if exited else []
        timer = erasure_timer(datetime.fromisoformat(given.at), self.strategy.erasure_after)
        if self.timers.arm(contact.contact_id, timer, now):
            entries.append(event("erasure_scheduled", now, DATA_PROCESSING_KEY, proof, due_at=timer.due_at.isoformat()))
        self.ledger.append(contact.contact_id, entries)

    def _credit_unsubscribe(self, contact: Contact, channel: str, now: datetime) -> None:
        """Stats count the unsubscribe for the chain step of the last marketing message on the link's channel:
        the mail whose List-Unsubscribe link was clicked (links carry no touch id)."""
        marketing = [
            t for t in self.touches.for_contact(contact.contact_id)
            if t.channel == channel and t.chain_id is not None and t.status in _REACHED
            and t.category in self.strategy.categories
            and self.strategy.purposes[self.strategy.categories[t.category].purpose].opt_in
        ]
        if marketing:
            self.on_unsubscribed(max(marketing, key=lambda t: t.created_at), now)

    def _settle_chains(self, contact: Contact, now: datetime) -> list[str]:
        """Pauses or exits running chains the contact can no longer be reached by; resumes paused ones."""
        return self.chain_events.apply(contact.contact_id, CONSENT_CHANGED, now, now, keep_claims=False)


def _from(origin: Origin, source: str) -> Origin:
    return Origin(source, origin.ip, origin.user_agent)
