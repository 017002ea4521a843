"""The console's pure parts: the occasion form's fields and the edit they make, the error path of a field, the
stats measures, the triggered share, and sessions signed, checked and bound to their forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.clock import FixedClock
from chalicelib.services.console_sessions import ConsoleSessions
from chalicelib.services.tokens import TokenKeys
from chalicelib.store.keys import ApiKey, ApiKeyRepository, hash_key
from chalicelib.web.console import edited, field_of, metrics, template_fields, triggered_share

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
OCCASION = {"title": "Thanks", "category": "manual", "priority": 40,
            "templates": {"email": {"en": {"subject": [{"id": "A", "subject": "Hi"}, {"id": "B", "subject": "Yo"}],
                                           "html": "<p>x</p>", "text": "x"}},
                          "sms": {"ru": {"text": "Спасибо"}}}}


def test_every_template_text_is_a_field_named_by_its_path() -> None:
    assert [path for path, _ in template_fields(OCCASION)] == [
        "templates.email.en.subject[0].id", "templates.email.en.subject[0].subject",
        "templates.email.en.subject[1].id", "templates.email.en.subject[1].subject",
        "templates.email.en.html", "templates.email.en.text", "templates.sms.ru.text"]


def test_the_form_edits_only_the_fields_it_shows_and_leaves_the_rest() -> None:
    form = {"templates.email.en.subject[1].subject": "Hey", "templates.sms.ru.text": "a\r\nb", "priority": "7",
            "title": " New ", "templates.push.en.title": "not there", "category": "promo"}
    result = edited(OCCASION, form)
    assert result["templates"]["email"]["en"]["subject"][1] == {"id": "B", "subject": "Hey"}
    assert result["templates"]["sms"]["ru"]["text"] == "a\nb"
    assert (result["priority"], result["title"], result["category"]) == (7, "New", "manual")
    assert "push" not in result["templates"] and OCCASION["templates"]["sms"]["ru"]["text"] == "Спасибо"
    assert edited(OCCASION, {"priority": "high"})["priority"] == "high"  # the service's validation names it


def test_an_error_path_names_the_form_field() -> None:
    assert field_of("anniversary", "occasions.anniversary.templates.email.en.html") == "templates.email.en.html"
    assert field_of("anniversary", "occasions.other.title") is None and field_of("anniversary", None) is None


def test_rates_are_over_delivered_mail_and_nothing_sent_is_all_zero() -> None:
    row = {"sent": 40, "delivered": 20, "opened": 5, "clicked": 2, "converted": 1, "revenue": 300.0,
           "unsubscribed": 1}
    measured = metrics(row)
    assert (measured["open_rate"], measured["click_rate"], measured["conversion"]) == (0.25, 0.1, 0.05)
    assert (measured["revenue_per_email"], measured["average_check"]) == (7.5, 300.0)
    assert set(metrics({}).values()) == {0.0}


def test_the_triggered_share_is_chain_sends_over_all_sends() -> None:
    assert triggered_share([{"sent": 30}, {"sent": 45}], 25) == (75, 25, 0.75)
    assert triggered_share([], 0) == (0, 0, None)


class _Keys(ApiKeyRepository):
    def __init__(self) -> None:
        self.rows: dict[str, ApiKey] = {}

    def find(self, key: str) -> ApiKey | None:
        return self.find_hashed(hash_key(key))

    def find_hashed(self, key_hash: str) -> ApiKey | None:
        return self.rows.get(key_hash)


def _sessions(clock: FixedClock, current: str = "k1") -> tuple[ConsoleSessions, _Keys]:
    keys = _Keys()
    keys.rows[hash_key("tp_a_secret")] = ApiKey("a1", "point-manager", "msk-01", "olga")
    secret = TokenKeys(current, {"k1": b"1" * 32, "k2": b"2" * 32})
    return ConsoleSessions(secret, keys, clock), keys


def test_a_session_opens_until_it_expires_or_its_key_goes() -> None:
    clock = FixedClock(NOW)
    sessions, keys = _sessions(clock)
    assert sessions.sign_in("tp_wrong") is None and sessions.sign_in("") is None
    session, cookie = sessions.sign_in(" tp_a_secret ")  # type: ignore[misc]
    assert "tp_a_secret" not in cookie and (session.name, session.point_id) == ("olga", "msk-01")
    assert sessions.open(cookie) == session
    assert sessions.open(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert sessions.open("k9" + cookie[2:]) is None and sessions.open(None) is None
    clock.at = NOW + timedelta(hours=8)
    assert sessions.open(cookie) is None
    clock.at = NOW
    del keys.rows[hash_key("tp_a_secret")]
    assert sessions.open(cookie) is None


def test_a_forms_token_is_bound_to_its_session_and_survives_a_key_rotation() -> None:
    clock = FixedClock(NOW)
    sessions, keys = _sessions(clock)
    first, cookie = sessions.sign_in("tp_a_secret")  # type: ignore[misc]
    second, _ = sessions.sign_in("tp_a_secret")  # type: ignore[misc]
    token = sessions.csrf(first)
    assert sessions.csrf_ok(first, token) and not sessions.csrf_ok(second, token)
    assert not sessions.csrf_ok(first, None) and not sessions.csrf_ok(first, "")
    rotated = ConsoleSessions(TokenKeys("k2", sessions.keys.keys), keys, clock)
    assert rotated.open(cookie) == first and rotated.csrf_ok(first, token)
