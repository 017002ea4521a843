"""Signed links: double opt-in, preference centre and one-click unsubscribe tokens.

A token is `<key id>.<payload>.<mac>`: the payload (base64url JSON) names the contact, the scope, the expiry
and a token id; the MAC is HMAC-SHA256 over `<key id>.<payload>` with the key the key id names. Keys come
from the secret `{"current": "k2", "k1": "...", "k2": "..."}`: new tokens use `current`, and any key still in
the secret verifies, so rotating keeps old links working until their key is dropped. A token is bound to one
contact and one scope; nothing in the request can point it at another contact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from chalicelib.clock import Clock

DOI, PREFERENCES, UNSUBSCRIBE = "doi", "prefs", "unsub"
SCOPES = (DOI, PREFERENCES, UNSUBSCRIBE)
# RFC 8058 links live in old mails: a year, well over the 90 days the contract asks for.
LINK_TTL = timedelta(days=365)
_MAX_LENGTH = 600


class InvalidToken(Exception):
    """Malformed, tampered, signed with an unknown key, or for another scope: all look the same."""


class ExpiredToken(Exception):
    """Genuine, but past its expiry."""

    def __init__(self, token: Token) -> None:
        super().__init__("token expired")
        self.token = token


@dataclass(frozen=True)
class Token:
    contact_id: str
    scope: str
    expires_at: int  # epoch seconds
    token_id: str
    channel: str | None = None  # an unsubscribe token may be limited to the channel it was sent on


@dataclass(frozen=True)
class TokenKeys:
    current: str
    keys: Mapping[str, bytes]

    @classmethod
    def from_secret(cls, secret_string: str) -> TokenKeys:
        data = json.loads(secret_string)
        current = data.get("current")
        keys = {kid: str(value).encode() for kid, value in data.items() if kid != "current"}
        if not isinstance(current, str) or current not in keys or any(len(k) < 32 for k in keys.values()):
            raise ValueError("token secret needs 'current' naming a key of at least 32 characters")
        return cls(current, keys)

    def fingerprint(self, kind: str, value: str) -> str:
        """A keyed hash of a personal value (IP, user agent) for the ledger: provable, not readable.

        A key derived from the signing key (never the signing key itself) acts as the pepper; the key id
        prefix lets a later check recompute it after rotation."""
        pepper = hmac.new(self.keys[self.current], b"touchplan-ledger-pepper", hashlib.sha256).digest()
        digest = hmac.new(pepper, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{self.current}:{digest}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, signed: str) -> str:
    return _b64(hmac.new(key, signed.encode("ascii"), hashlib.sha256).digest())


def new_token_id() -> str:
    return secrets.token_hex(8)


def issue(keys: TokenKeys, token: Token) -> str:
    claims: dict[str, object] = {"c": token.contact_id, "s": token.scope, "e": token.expires_at, "t": token.token_id}
    if token.channel:
        claims["ch"] = token.channel
    payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{keys.current}.{payload}"
    return f"{signed}.{_mac(keys.keys[keys.current], signed)}"


def verify(keys: TokenKeys, raw: str | None, scope: str, now: datetime) -> Token:
    """The token's claims if `raw` is genuine and for `scope`; InvalidToken or ExpiredToken otherwise."""
    # A link is ASCII by construction; anything else (é, NUL, emoji) was damaged or made up.
    if not raw or len(raw) > _MAX_LENGTH or not raw.isascii() or raw.count(".") != 2:
        raise InvalidToken("malformed")
    kid, payload, mac = raw.split(".")
    key = keys.keys.get(kid)
    if key is None:
        raise InvalidToken("unknown key")
    if not hmac.compare_digest(_mac(key, f"{kid}.{payload}"), mac):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(payload))
        token = Token(
            contact_id=str(claims["c"]), scope=str(claims["s"]), expires_at=int(claims["e"]),
            token_id=str(claims["t"]), channel=claims.get("ch"),
        )
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise InvalidToken("bad payload") from exc
    if token.scope != scope:
        raise InvalidToken("wrong scope")
    if now.timestamp() >= token.expires_at:
        raise ExpiredToken(token)
    return token


@dataclass(frozen=True)
class Links:
    """The URLs a message carries: confirm (DOI), preference centre and one-click unsubscribe."""

    keys: TokenKeys
    base_url: str
    clock: Clock

    def confirm_url(self, contact_id: str, request_id: str, expires: datetime) -> str:
        token = Token(contact_id, DOI, int(expires.timestamp()), request_id)
        return self._url("/v1/confirm", token)

    def preferences_url(self, contact_id: str) -> str:
        return self._url("/v1/preferences", Token(contact_id, PREFERENCES, self._until(), new_token_id()))

    def unsubscribe_url(self, contact_id: str, channel: str | None = None) -> str:
        """The RFC 8058 List-Unsubscribe target; with `channel`, the click stops marketing on it only."""
        token = Token(contact_id, UNSUBSCRIBE, self._until(), new_token_id(), channel)
        return self._url("/v1/unsubscribe", token)

    def for_contact(self, contact_id: str) -> dict[str, str]:
        """The template variables every marketing message gets (`{{ unsubscribe_url }}` and the centre)."""
        return {
            "unsubscribe_url": self.unsubscribe_url(contact_id),
            "preferences_url": self.preferences_url(contact_id),
        }

    def _until(self) -> int:
        return int((self.clock.now() + LINK_TTL).timestamp())

    def _url(self, path: str, token: Token) -> str:
        return f"{self.base_url}{path}?token={quote(issue(self.keys, token), safe='')}"
