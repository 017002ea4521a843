"""Consent vocabulary shared by the use cases: texts and their fingerprints, proof metadata, masking."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from chalicelib.delivery.templates import pick_locale
from chalicelib.domain.model import ConsentText, Strategy
from chalicelib.services.tokens import TokenKeys
from chalicelib.store.contacts import DATA_PROCESSING_KEY, ConsentRecord, pair_key
from chalicelib.store.ledger import ConsentEvent

DATA_PROCESSING = "data_processing"


@dataclass(frozen=True)
class Origin:
    """Where a consent action came from. IP and user agent are only ever stored as keyed hashes."""

    source: str | None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Proof:
    source: str | None
    ip_hash: str | None
    user_agent_hash: str | None
    token_id: str | None = None


def proof_of(keys: TokenKeys, origin: Origin, token_id: str | None = None) -> Proof:
    return Proof(
        source=origin.source,
        ip_hash=keys.fingerprint("ip", origin.ip) if origin.ip else None,
        user_agent_hash=keys.fingerprint("ua", origin.user_agent) if origin.user_agent else None,
        token_id=token_id,
    )


def text_locale(strategy: Strategy, locale: str | None) -> str:
    return pick_locale(strategy.locales, locale, strategy.locales[0]) or strategy.locales[0]


def text_sha256(text: ConsentText, locale: str) -> str:
    """The fingerprint of the exact wording the person saw (the text in their locale)."""
    wording = text.text.get(locale) or next(iter(text.text.values()))
    return hashlib.sha256(wording.encode("utf-8")).hexdigest()


def current_text(strategy: Strategy, channel: str | None, purpose: str) -> ConsentText | None:
    """The latest registered text for a channel x purpose (texts are declared oldest first)."""
    found = [t for t in strategy.consent_texts.values() if t.purpose == purpose and t.channel == channel]
    return found[-1] if found else None


def key_of(channel: str | None, purpose: str) -> str:
    return DATA_PROCESSING_KEY if purpose == DATA_PROCESSING else pair_key(channel or "any", purpose)


def split_key(key: str) -> tuple[str, str]:
    channel, _, purpose = key.rpartition(":")
    return channel, purpose


def event(kind: str, at: datetime, key: str, proof: Proof, text: ConsentText | None = None,
          locale: str | None = None, **detail: str) -> ConsentEvent:
    channel, purpose = split_key(key)
    return ConsentEvent(
        kind=kind, at=at, channel=None if purpose == DATA_PROCESSING else channel, purpose=purpose,
        source=proof.source, ip_hash=proof.ip_hash, user_agent_hash=proof.user_agent_hash,
        text_id=text.id if text else None,
        text_sha256=text_sha256(text, locale) if text and locale else None, token_id=proof.token_id,
        detail={k: v for k, v in {"locale": locale, **detail}.items() if v},
    )


def record(state: str, at: datetime, text_id: str | None, source: str | None) -> ConsentRecord:
    return ConsentRecord(state=state, at=at.isoformat(), text_id=text_id, source=source)


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'*' * max(1, min(len(local) - 1, 5))}@{domain}"


def mask_phone(number: str) -> str:
    return f"{number[:2]}{'*' * max(0, len(number) - 6)}{number[-4:]}" if len(number) > 6 else "*" * len(number)
