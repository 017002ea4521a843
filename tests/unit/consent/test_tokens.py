"""Signed links: bound to contact, scope and expiry; any change to a token makes it worthless."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.clock import FixedClock
from chalicelib.services.tokens import (
    DOI,
    PREFERENCES,
    UNSUBSCRIBE,
    ExpiredToken,
    InvalidToken,
    Links,
    Token,
    TokenKeys,
    issue,
    verify,
)

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
K1 = TokenKeys("k1", {"k1": b"k" * 40})
ROTATED = TokenKeys("k2", {"k1": b"k" * 40, "k2": b"n" * 40})


def _token(**change) -> Token:
    return Token(**{"contact_id": "c-1", "scope": PREFERENCES, "expires_at": int((NOW + timedelta(days=1)).timestamp()),
                    "token_id": "t1", **change})


def test_a_token_verifies_for_its_scope_and_gives_back_its_contact() -> None:
    assert verify(K1, issue(K1, _token()), PREFERENCES, NOW) == _token()


@pytest.mark.parametrize("scope", [DOI, UNSUBSCRIBE])
def test_a_token_for_another_scope_is_invalid(scope: str) -> None:
    with pytest.raises(InvalidToken):
        verify(K1, issue(K1, _token()), scope, NOW)


def test_every_single_character_change_is_rejected() -> None:
    raw = issue(K1, _token())
    for i, ch in enumerate(raw):
        if ch == ".":
            continue
        changed = raw[:i] + ("A" if ch != "A" else "B") + raw[i + 1:]
        with pytest.raises(InvalidToken):
            verify(K1, changed, PREFERENCES, NOW)


@pytest.mark.parametrize("raw", [None, "", "x", "a.b", "a.b.c.d", "k9.e30.AAAA", "k1." + "A" * 700 + ".x"])
def test_malformed_tokens_are_invalid(raw) -> None:
    with pytest.raises(InvalidToken):
        verify(K1, raw, PREFERENCES, NOW)


def test_expiry_is_exact() -> None:
    raw = issue(K1, _token())
    assert verify(K1, raw, PREFERENCES, NOW + timedelta(days=1, seconds=-1))
    with pytest.raises(ExpiredToken) as expired:
        verify(K1, raw, PREFERENCES, NOW + timedelta(days=1))
    assert expired.value.token.contact_id == "c-1"


def test_tokens_signed_with_an_old_key_verify_after_rotation_and_new_ones_use_the_current_key() -> None:
    old = issue(K1, _token())
    assert verify(ROTATED, old, PREFERENCES, NOW).contact_id == "c-1"
    assert issue(ROTATED, _token()).startswith("k2.")
    with pytest.raises(InvalidToken):
        verify(TokenKeys("k2", {"k2": b"n" * 40}), old, PREFERENCES, NOW)


def test_links_last_at_least_ninety_days() -> None:
    links = Links(K1, "https://t.example.com", FixedClock(NOW))
    raw = links.unsubscribe_url("c-1").split("token=")[1]
    assert verify(K1, raw, UNSUBSCRIBE, NOW + timedelta(days=90)).contact_id == "c-1"
    assert set(links.for_contact("c-1")) == {"unsubscribe_url", "preferences_url"}


def test_the_secret_must_name_a_strong_current_key() -> None:
    assert TokenKeys.from_secret('{"current": "k1", "k1": "' + "x" * 48 + '"}').current == "k1"
    for bad in ('{"current": "k2", "k1": "' + "x" * 48 + '"}', '{"current": "k1", "k1": "short"}'):
        with pytest.raises(ValueError):
            TokenKeys.from_secret(bad)


def test_fingerprints_are_keyed_and_never_the_value() -> None:
    hashed = K1.fingerprint("ip", "203.0.113.9")
    assert hashed.startswith("k1:") and "203.0.113.9" not in hashed
    assert hashed == K1.fingerprint("ip", "203.0.113.9") != TokenKeys("k1", {"k1": b"z" * 40}).fingerprint(
        "ip", "203.0.113.9")
