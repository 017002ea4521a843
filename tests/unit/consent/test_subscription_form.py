"""Parsing a sign-up: addresses normalised so spellings of one address meet; bad fields named by path."""

import pytest

from chalicelib.services.errors import ClientError
from chalicelib.services.subscriptions import parse_subscription
from chalicelib.strategy.loader import load_strategy

STRATEGY = load_strategy()
BASE = {"consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
        "data_processing": {"text_id": "personal-data-v1"}}


@pytest.mark.parametrize("spelling", ["anna@example.com", " ANNA@Example.COM ", "Anna@EXAMPLE.com\t"])
def test_spellings_of_one_address_normalise_to_one(spelling: str) -> None:
    assert parse_subscription({**BASE, "email": spelling}, STRATEGY).email == "anna@example.com"


@pytest.mark.parametrize(("phone", "locale"), [("+7 916 123-45-67", None), ("8 916 123 45 67", "ru-RU"),
                                               ("+7 (916) 1234567", "en")])
def test_phone_numbers_become_e164(phone: str, locale: str | None) -> None:
    body = {**BASE, "email": "a@example.com", "phone": phone, **({"locale": locale} if locale else {})}
    assert parse_subscription(body, STRATEGY).phone == "+79161234567"


def test_the_honeypot_marks_the_sign_up_as_trapped_before_anything_else_is_read() -> None:
    assert parse_subscription({"website": "x", "email": "not valid"}, STRATEGY).trapped


def test_a_bad_field_is_named_by_its_json_path() -> None:
    body = {**BASE, "email": "a@example.com",
            "consents": [BASE["consents"][0], {"channel": "email", "purpose": "service", "text_id": "nope"}]}
    with pytest.raises(ClientError) as error:
        parse_subscription(body, STRATEGY)
    assert (error.value.status, error.value.field) == (400, "consents[1].text_id")
