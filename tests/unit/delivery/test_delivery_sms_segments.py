from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.delivery.sms import is_e164, sms_cost, sms_segments, sms_type_for

CYRILLIC = "Привет"  # 6 UCS-2 characters


def cyrillic(n: int) -> str:
    return (CYRILLIC * (n // len(CYRILLIC) + 1))[:n]


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3)])
def test_cyrillic_sms_counts_ucs2_segments(length, segments):
    parts = sms_segments(cyrillic(length))
    assert parts.encoding == "UCS-2"
    assert parts.segments == segments
    assert parts.characters == length


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3)])
def test_latin_sms_counts_gsm7_segments(length, segments):
    parts = sms_segments("a" * length)
    assert parts.encoding == "GSM-7"
    assert parts.segments == segments


def test_gsm7_extension_characters_count_twice():
    parts = sms_segments("€" * 80)
    assert parts.encoding == "GSM-7"
    assert parts.units == 160
    assert parts.segments == 1
    assert sms_segments("€" * 80 + "a").segments == 2
    assert sms_segments("{[]}~^|\\").units == 16


def test_an_extension_character_is_not_split_across_segments():
    # 152 plain septets then a two-septet char: it cannot start at position 153, so it moves on.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_segments(text).segments == 3
    assert sms_segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_gsm_specials_stay_gsm7_but_one_cyrillic_letter_switches_to_ucs2():
    assert sms_segments("Café @ £5 ¿Qué? Ñ ü à Δ").encoding == "GSM-7"
    mixed = "a" * 69 + "Ж"
    assert sms_segments(mixed).encoding == "UCS-2"
    assert sms_segments(mixed).segments == 1
    assert sms_segments(mixed + "a").segments == 2


def test_emoji_takes_two_ucs2_units():
    parts = sms_segments("😀" * 35)
    assert (parts.encoding, parts.units, parts.segments) == ("UCS-2", 70, 1)
    assert sms_segments("😀" * 36).segments == 2


def test_empty_text_is_zero_segments():
    assert sms_segments("").segments == 0


def test_cost_is_segments_times_price():
    assert sms_cost(cyrillic(135), Decimal("0.0412")) == Decimal("0.1236")
    assert sms_cost(sms_segments("hi"), Decimal("0.05")) == Decimal("0.05")


@given(st.text(max_size=400))
def test_segments_are_enough_for_the_units(text):
    parts = sms_segments(text)
    single, multi = (160, 153) if parts.encoding == "GSM-7" else (70, 67)
    if parts.units == 0:
        assert parts.segments == 0
    elif parts.units <= single:
        assert parts.segments == 1
    else:
        assert parts.segments * multi >= parts.units
        assert (parts.segments - 1) * multi < parts.units + parts.segments  # at most 1 unit lost per cut


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("+79161234567", True),
        ("+12125550101", True),
        ("89161234567", False),
        ("+7 916 123", False),
        ("+0123456789", False),
        ("", False),
        ("+7916123456712345", False),
    ],
)
def test_only_e164_numbers_are_accepted(number, ok):
    assert is_e164(number) is ok


@pytest.mark.parametrize(
    ("category", "sms_type"),
    [
        ("marketing", "Promotional"),
        ("promo", "Promotional"),
        ("trigger", "Promotional"),
        ("manual", "Promotional"),
        ("service", "Transactional"),
        ("transactional", "Transactional"),
    ],
)
def test_sms_type_follows_the_occasion_category(category, sms_type):
    assert sms_type_for(category) == sms_type


def test_unknown_category_is_refused():
    with pytest.raises(ValueError, match="category"):
        sms_type_for("newsletter")
