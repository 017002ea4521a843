"""Which language a link page speaks, and how the preference page words the personal-data switch."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.services.preferences import PreferencesView, Switch
from chalicelib.web.pages import language, message_page, preferences_page


@pytest.mark.parametrize(("locale", "accept", "expected"), [
    ("en-GB", "ru-RU", "en"),  # the contact's own language first
    (None, "de-DE,en;q=0.8,ru;q=0.5", "en"),  # then the browser's, by preference
    (None, "ru;q=0.4,en;q=0.9", "en"),
    (None, "fr, *;q=0.1", "ru"),
    (None, "en;q=abc,ru", "ru"),
    (None, None, "ru"),
])
def test_the_page_follows_the_contacts_locale_then_accept_language(
    locale: str | None, accept: str | None, expected: str
) -> None:
    assert language(locale, accept) == expected


def test_the_bad_link_page_exists_in_both_languages() -> None:
    assert "This link is not valid" in message_page("invalid", "en")
    assert "Ссылка недействительна" in message_page("invalid", "ru")


def _view(lang: str, days: int, due: datetime | None = None) -> PreferencesView:
    switches = (Switch("email:marketing", "email", "marketing", False),
                Switch("any:data_processing", "any", "data_processing", due is None))
    return PreferencesView("c-1", lang, "a***@example.com", None, switches, "https://x/v1/preferences?token=t",
                           timedelta(days=days), due)


@pytest.mark.parametrize(("lang", "days", "words"), [
    ("ru", 30, "через 30 дней"), ("ru", 21, "через 21 день"), ("ru", 3, "через 3 дня"), ("ru", 11, "через 11 дней"),
    ("en", 30, "after 30 days"), ("en", 1, "after 1 day"),
])
def test_the_personal_data_switch_says_what_withdrawing_it_does(lang: str, days: int, words: str) -> None:
    page = preferences_page(_view(lang, days), "")
    assert words in page and 'name="any:data_processing" value="on" checked' in page


def test_after_a_withdrawal_the_page_gives_the_erasure_date() -> None:
    page = preferences_page(_view("en", 30, datetime(2026, 12, 25, 7, tzinfo=UTC)), "")
    assert "erased on 2026-12-25" in page
