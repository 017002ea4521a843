"""Console sessions: an API key exchanged for a short-lived signed cookie, and the CSRF token of its forms.

A session is `<key id>.<payload>.<mac>` like a link token (services.tokens), signed with a key derived from the
stage's token key of that id, so a session never verifies as a link nor a link as a session. The payload
carries the session id, the expiry and the API key's id, name, role, point and the SHA-256 the key is stored
under (never the key itself): every request re-reads the key by that hash, so a revoked key ends its
sessions at once, and a key whose role changed acts with its role now.

The CSRF token is an HMAC of the session id under another derived key: bound to one session, it cannot be
forged without the secret, and nothing has to be stored (SameSite=Strict keeps other sites from sending the
cookie in the first place).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from chalicelib.clock import Clock
from chalicelib.services.tokens import TokenKeys
from chalicelib.store.keys import ApiKeyRepository, hash_key

COOKIE = "tp_console"
SESSION_TTL = timedelta(hours=8)  # a working day; then the key is asked for again
_MAX_LENGTH = 2000
_KEY_LENGTH = 200


@dataclass(frozen=True)
class ConsoleSession:
    session_id: str
    key_id: str
    name: str  # the actor of what the session records (the key's label, else its id)
    role: str
    point_id: str | None
    expires_at: int  # epoch seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derived(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"touchplan-console-" + purpose, hashlib.sha256).digest()


@dataclass
class ConsoleSessions:
    keys: TokenKeys
    api_keys: ApiKeyRepository
    clock: Clock
    ttl: timedelta = SESSION_TTL

    def sign_in(self, key: str) -> tuple[ConsoleSession, str] | None:
        """The session and its cookie value for a valid, unrevoked API key; None for anything else."""
        key = key.strip()
        found = self.api_keys.find(key) if key and len(key) <= _KEY_LENGTH and key.isascii() else None
        if found is None:
            return None
        expires = int((self.clock.now() + self.ttl).timestamp())
        session = ConsoleSession(secrets.token_hex(16), found.key_id, found.label or found.key_id, found.role,
                                 found.point_id, expires)
        claims = {"s": session.session_id, "k": session.key_id, "n": session.name, "r": session.role,
                  "p": session.point_id, "e": expires, "h": hash_key(key)}
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signed = f"{self.keys.current}.{payload}"
        return session, f"{signed}.{self._mac(self.keys.current, signed)}"

    def _mac(self, kid: str, signed: str) -> str:
        return _b64(hmac.new(_derived(self.keys.keys[kid], b"session"), signed.encode("ascii"),
                             hashlib.sha256).digest())

    def open(self, cookie: str | None) -> ConsoleSession | None:
        """The session in `cookie` if genuine, unexpired and its key still valid; None otherwise."""
        if not cookie or len(cookie) > _MAX_LENGTH or not cookie.isascii() or cookie.count(".") != 2:
            return None
        kid, payload, mac = cookie.split(".")
        if kid not in self.keys.keys or not hmac.compare_digest(self._mac(kid, f"{kid}.{payload}"), mac):
            return None
        try:
            claims = json.loads(_unb64(payload))
            session_id, key_hash, expires = str(claims["s"]), str(claims["h"]), int(claims["e"])
        except (ValueError, KeyError, TypeError, OverflowError):
            return None
        if self.clock.now().timestamp() >= expires:
            return None
        found = self.api_keys.find_hashed(key_hash)
        if found is None or found.key_id != claims.get("k"):
            return None
        return ConsoleSession(session_id, found.key_id, found.label or found.key_id, found.role, found.point_id,
                              expires)

    def csrf(self, session: ConsoleSession) -> str:
        key = _derived(self.keys.keys[self.keys.current], b"csrf")
        return _b64(hmac.new(key, session.session_id.encode(), hashlib.sha256).digest())

    def csrf_ok(self, session: ConsoleSession, token: str | None) -> bool:
        # Any key still in the secret verifies, so a rotation does not void the forms already on screen.
        for secret in self.keys.keys.values():
            expected = _b64(hmac.new(_derived(secret, b"csrf"), session.session_id.encode(), hashlib.sha256).digest())
            if token and hmac.compare_digest(expected, token):
                return True
        return False
