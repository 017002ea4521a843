"""Ad audiences: who may be handed to the ad platforms, and in which form.

Google Customer Match and Meta Custom Audiences take SHA-256 hex digests of normalised identifiers: the email
trimmed and lower-cased; the phone in E.164 with its leading `+` for Google, and as digits only (country code
first, no `+`) for Meta, so the phone has one hash per platform. An identifier is exported only while its
channel's marketing consent is granted (the email hash with email marketing, the phone hash with SMS
marketing); a member with neither has nothing to export and leaves the audience.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.chains import HOUSEKEEPING_HOOKS

MARKETING = "marketing"
# An audience's name is a path segment and a hook name: short, lower-case, no spaces.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CSV_HEADER = "email_sha256,phone_sha256"
GOOGLE, META = "google", "meta"
PLATFORMS = (GOOGLE, META)


def is_audience_hook(hook: str) -> bool:
    return hook not in HOUSEKEEPING_HOOKS


def valid_name(name: str) -> bool:
    return bool(NAME.match(name))


def email_sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def phone_sha256(phone: str, plus: bool = True) -> str:
    """The phone is stored in E.164 already; only stray spaces and dashes are dropped. Google hashes it with
    the `+`, Meta without (`plus=False`)."""
    digits = re.sub(r"[^\d]", "", phone)
    return hashlib.sha256(f"{'+' if plus else ''}{digits}".encode()).hexdigest()


@dataclass(frozen=True)
class Hashes:
    email_sha256: str | None
    phone_sha256: str | None  # E.164 with `+` (Google)
    phone_digits_sha256: str | None = None  # digits only (Meta)

    @property
    def empty(self) -> bool:
        return self.email_sha256 is None and self.phone_sha256 is None


def identifiers(found: Hashes) -> frozenset[str]:
    """Which identifiers `found` holds: "email", "phone"."""
    return frozenset(name for name, value in (("email", found.email_sha256), ("phone", found.phone_sha256)) if value)


def only(found: Hashes, names: frozenset[str]) -> Hashes:
    """`found` cut to the identifiers `names`."""
    phone = "phone" in names
    return Hashes(found.email_sha256 if "email" in names else None, found.phone_sha256 if phone else None,
                  found.phone_digits_sha256 if phone else None)


def _of(email: str | None, phone: str | None) -> Hashes:
    return Hashes(email_sha256(email) if email else None, phone_sha256(phone) if phone else None,
                  phone_sha256(phone, plus=False) if phone else None)


def hashes(email: str | None, phone: str | None) -> Hashes:
    """Every identifier's hashes, whatever the consent (a leave message names every identifier it had)."""
    return _of(email, phone)


def exportable(
    email: str | None, phone: str | None, consents: Mapping[tuple[str, str], bool], active: bool = True,
) -> Hashes:
    """The hashes an export may hold: each identifier only with its channel's marketing consent."""
    if not active:
        return Hashes(None, None)
    return _of(email if consents.get(("email", MARKETING)) else None,
               phone if consents.get(("sms", MARKETING)) else None)


def csv_row(found: Hashes, platform: str = GOOGLE) -> str:
    phone = found.phone_digits_sha256 if platform == META else found.phone_sha256
    return f"{found.email_sha256 or ''},{phone or ''}"
