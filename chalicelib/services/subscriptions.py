"""Sign-up: validate the form, record the request with its proof, queue the double opt-in message.

The answer never tells whether an address is known: new, pending, active, unsubscribed and suppressed
addresses get the same 202, and the work done before answering is the same kind (one identity lookup, one
transaction, one queued message). Whether a DOI message goes out (caps, suppression) is decided later by
the DOI worker, out of the request's timing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, Protocol
from zoneinfo import available_timezones

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from chalicelib.clock import Clock
from chalicelib.domain.lifecycle import OrderFacts, segment
from chalicelib.domain.model import Strategy
from chalicelib.services.consent import DATA_PROCESSING, Origin, event, key_of, proof_of, text_locale
from chalicelib.services.errors import ClientError
from chalicelib.services.tokens import TokenKeys, new_token_id
from chalicelib.store.contacts import (
    CHANNEL_IDENTITY,
    ContactChanged,
    ContactRepository,
    Contention,
    IdentityTaken,
    NewContact,
    Request,
    identity_key,
)
from chalicelib.store.ledger import ConsentEvent

HONEYPOT = "website"
# The sign-up's free-text fields and their length limits; with the others, every field a sign-up may carry.
TEXTS = {"email": 254, "phone": 32, "locale": 35, "timezone": 64, "source": 100, "captcha": 4096}
FIELDS = frozenset({*TEXTS, "consents", "data_processing", "attributes", HONEYPOT})
MAX_CONSENTS = 12
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_TEXT = 200
LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
POINT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ATTEMPTS = 4


class CaptchaVerifier(Protocol):
    """Checks the form's CAPTCHA answer with the provider; the default accepts everything."""

    def verify(self, answer: str | None, ip: str | None) -> bool: ...


class NoCaptcha:
    def verify(self, answer: str | None, ip: str | None) -> bool:
        return True


class StepQueue(Protocol):
    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None: ...


@dataclass(frozen=True)
class AskedConsent:
    channel: str
    purpose: str
    text_id: str


@dataclass(frozen=True)
class Subscription:
    email: str | None
    phone: str | None
    consents: tuple[AskedConsent, ...]
    data_processing_text: str
    source: str | None = None
    locale: str | None = None
    timezone: str | None = None
    point_id: str | None = None
    attributes: Mapping[str, object] = field(default_factory=dict)
    captcha: str | None = None
    b2b: bool = False  # a business customer: B2B working hours apply
    trapped: bool = False  # the honeypot was filled in: a bot; answer as usual, do nothing


def _bad(field: str | None, message: str, code: str = "invalid_field") -> ClientError:
    return ClientError(code, message, field)


def _text(body: Mapping[str, Any], name: str, limit: int, path: str | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(path or name, f"{path or name} must be text of at most {limit} characters.")
    return value.strip() or None


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise _bad("email", f"email is not a valid address: {exc}") from exc


def normalise_phone(raw: str, locale: str | None) -> str:
    region = None
    if locale and "-" in locale.replace("_", "-"):
        region = locale.replace("_", "-").split("-")[-1].upper()
    try:
        number = phonenumbers.parse(raw.strip(), region if region and len(region) == 2 else None)
    except phonenumbers.NumberParseException as exc:
        raise _bad("phone", "phone must be a phone number in international format, like +79161234567.") from exc
    if not phonenumbers.is_valid_number(number):
        raise _bad("phone", "phone is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_subscription(body: Any, strategy: Strategy) -> Subscription:
    """The typed sign-up, or a ClientError naming the first bad field by its JSON path."""
    if not isinstance(body, dict):
        raise _bad(None, "The request body must be a JSON object.", "invalid_body")
    for name in body:
        if name not in FIELDS:
            raise _bad(str(name), f"Unknown field {name!r}.", "unknown_field")
    trap = body.get(HONEYPOT)
    if trap not in (None, ""):
        return Subscription(None, None, (), "", trapped=True)
    locale = _text(body, "locale", TEXTS["locale"])
    if locale is not None and not LOCALE.fullmatch(locale):
        raise _bad("locale", "locale must be a language tag like ru-RU or en.")
    email_raw, phone_raw = _text(body, "email", TEXTS["email"]), _text(body, "phone", TEXTS["phone"])
    email = normalise_email(email_raw) if email_raw else None
    phone = normalise_phone(phone_raw, locale) if phone_raw else None
    if email is None and phone is None:
        raise _bad("email", "Give an email address or a phone number (or both).", "missing_field")
    timezone = _text(body, "timezone", TEXTS["timezone"])
    if timezone is not None and timezone not in _zones():
        raise _bad("timezone", "timezone must be an IANA time zone like Europe/Moscow.")
    addresses = {"email": email, "sms": phone}
    consents = _consents(body.get("consents"), strategy, addresses)
    dp = body.get("data_processing")
    if not isinstance(dp, dict) or set(dp) - {"text_id"}:
        raise _bad("data_processing", 'data_processing must be {"text_id": "<consent text id>"}.',
                   "missing_field" if dp is None else "invalid_field")
    dp_id = dp.get("text_id")
    dp_text = strategy.consent_texts.get(dp_id) if isinstance(dp_id, str) else None
    if dp_text is None or dp_text.purpose != DATA_PROCESSING:
        raise _bad("data_processing.text_id", "data_processing.text_id must name a registered personal-data text.",
                   "unknown_text")
    attributes, point_id = _attributes(body.get("attributes"))
    b2b = attributes.pop("b2b", False)
    if not isinstance(b2b, bool):
        raise _bad("attributes.b2b", "attributes.b2b must be true or false.")
    source = _text(body, "source", TEXTS["source"])
    captcha = _text(body, "captcha", TEXTS["captcha"])
    return Subscription(email, phone, consents, dp_text.id, source, locale, timezone, point_id, attributes, captcha,
                        b2b=b2b)


def _consents(value: Any, strategy: Strategy, addresses: Mapping[str, str | None]) -> tuple[AskedConsent, ...]:
    if not isinstance(value, list) or not value:
        raise _bad("consents", "consents must be a non-empty list of {channel, purpose, text_id}.",
                   "missing_field" if value is None else "invalid_field")
    if len(value) > MAX_CONSENTS:
        raise _bad("consents", f"consents may list at most {MAX_CONSENTS} entries.")
    found: list[AskedConsent] = []
    for i, item in enumerate(value):
        path = f"consents[{i}]"
        if not isinstance(item, dict):
            raise _bad(path, f"{path} must be an object.")
        for name in item:
            if name not in ("channel", "purpose", "text_id"):
                raise _bad(f"{path}.{name}", f"Unknown field {name!r}.", "unknown_field")
        channel, purpose, text_id = item.get("channel"), item.get("purpose"), item.get("text_id")
        if not isinstance(channel, str) or channel not in strategy.channels:
            raise _bad(f"{path}.channel", f"channel must be one of {', '.join(strategy.channels)}.")
        if channel not in CHANNEL_IDENTITY:
            raise _bad(f"{path}.channel", f"{channel} consent is given in the app, not on a web form.")
        if not addresses.get(channel):
            needed = CHANNEL_IDENTITY[channel]
            raise _bad(f"{path}.channel", f"a {channel} consent needs {needed}.")
        purposes = [p for p in strategy.purposes if p != DATA_PROCESSING]
        if not isinstance(purpose, str) or purpose not in purposes:
            raise _bad(f"{path}.purpose", f"purpose must be one of {', '.join(purposes)}.")
        text = strategy.consent_texts.get(text_id) if isinstance(text_id, str) else None
        if text is None:
            raise _bad(f"{path}.text_id", "text_id must name a registered consent text.", "unknown_text")
        if (text.channel, text.purpose) != (channel, purpose):
            raise _bad(f"{path}.text_id", f"{text.id} is the text for {text.channel} {text.purpose}.")
        asked = AskedConsent(channel, purpose, text.id)
        if any((a.channel, a.purpose) == (channel, purpose) for a in found):
            raise _bad(path, f"{channel} {purpose} is listed twice.")
        found.append(asked)
    return tuple(found)


def _attributes(value: Any) -> tuple[dict[str, object], str | None]:
    if value is None:
        return {}, None
    if not isinstance(value, dict) or len(value) > MAX_ATTRIBUTES:
        raise _bad("attributes", f"attributes must be an object with at most {MAX_ATTRIBUTES} entries.")
    attributes: dict[str, object] = {}
    point_id = None
    for name, item in value.items():
        path = f"attributes.{name}"
        if not ATTRIBUTE_NAME.fullmatch(str(name)):
            raise _bad(path, "attribute names are lower-case letters, digits and '_'.")
        if name == "point_id":
            if not isinstance(item, str) or not POINT_ID.fullmatch(item):
                raise _bad(path, "point_id must be an id like msk-01.")
            point_id = item
        elif name == "birthday":
            attributes[name] = _birthday(item, path)
        elif isinstance(item, bool) or (isinstance(item, int | float) and abs(item) < 1e15):
            attributes[name] = item
        elif isinstance(item, str) and len(item) <= MAX_ATTRIBUTE_TEXT:
            attributes[name] = item.strip()
        else:
            raise _bad(path, f"{path} must be text (up to {MAX_ATTRIBUTE_TEXT} characters), a number or true/false.")
    return attributes, point_id


def _birthday(value: Any, path: str) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise _bad(path, "birthday must be a date like 1990-05-17.") from exc
    if not 1900 <= day.year <= 2100:
        raise _bad(path, "birthday must be a date like 1990-05-17.")
    return day.isoformat()


@dataclass
class Subscriptions:
    contacts: ContactRepository
    steps: StepQueue
    strategy: Strategy
    keys: TokenKeys
    clock: Clock
    captcha: CaptchaVerifier = field(default_factory=NoCaptcha)

    def subscribe(self, sub: Subscription, origin: Origin) -> None:
        """Records the sign-up (or finds the contact it belongs to) and queues the DOI message."""
        if sub.trapped:
            return
        if not self.captcha.verify(sub.captcha, origin.ip):
            raise ClientError("captcha_failed", "The CAPTCHA answer was not accepted; try again.", "captcha")
        origin = Origin(sub.source, origin.ip, origin.user_agent)
        contact_id = self._record(sub, origin)
        channel = "email" if sub.email else "sms"
        self.steps.send("steps", {"kind": "doi", "contact_id": contact_id, "channel": channel, "attempt": 0})

    def _record(self, sub: Subscription, origin: Origin) -> str:
        addresses = {c: a for c, a in (("email", sub.email), ("sms", sub.phone)) if a}
        keys = {c: identity_key(c, a) for c, a in addresses.items()}
        may_attach = True
        for _ in range(_ATTEMPTS):
            now = self.clock.now()
            owners = self.contacts.owners(list(keys.values()))
            if not owners:
                new = self._new_contact(sub, now)
                try:
                    self.contacts.create(new, self._requested_events(sub, set(addresses), origin, now))
                except IdentityTaken:
                    continue
                return new.contact_id
            contact_id = owners.get(keys.get("email", "")) or owners[keys["sms"]]
            kept = {c for c, k in keys.items() if owners.get(k) == contact_id}
            attach = {c: addresses[c] for c, k in keys.items() if k not in owners} if may_attach else {}
            channels = kept | set(attach)
            try:
                self.contacts.add_request(
                    contact_id, attach, self._requests(sub, channels, now), new_token_id(),
                    self._requested_events(sub, channels, origin, now), now,
                )
            except ContactChanged:
                may_attach = False  # the contact holds another address there: never swap it unconfirmed
                continue
            except IdentityTaken:
                continue
            return contact_id
        raise Contention("sign-up kept racing other writes")  # answered 503 + Retry-After: a retry completes it

    def _new_contact(self, sub: Subscription, now: Any) -> NewContact:
        return NewContact(
            contact_id=str(uuid.uuid4()), created_at=now, request_id=new_token_id(), email=sub.email,
            phone=sub.phone, timezone=sub.timezone, locale=sub.locale, point_id=sub.point_id,
            attributes=dict(sub.attributes), requested=self._requests(sub, {"email", "sms"}, now),
            segment=segment(OrderFacts(), self.strategy.lifecycle, now), b2b=sub.b2b,
        )

    def _requests(self, sub: Subscription, channels: set[str], now: Any) -> dict[str, Request]:
        at = now.isoformat()
        asked = {key_of(a.channel, a.purpose): Request(at, a.text_id, sub.source)
                 for a in sub.consents if a.channel in channels}
        return {key_of(None, DATA_PROCESSING): Request(at, sub.data_processing_text, sub.source), **asked}

    def _requested_events(self, sub: Subscription, channels: set[str], origin: Origin, now: Any) -> list[ConsentEvent]:
        proof = proof_of(self.keys, origin)
        locale = text_locale(self.strategy, sub.locale)
        texts = self.strategy.consent_texts
        return [event("requested", now, key, proof, texts[request.text_id], locale)
                for key, request in self._requests(sub, channels, now).items()]
