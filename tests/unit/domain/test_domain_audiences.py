"""Ad audiences in the domain: the platforms' normalisation and hashing, what an export may hold, and the
strategy check of audience hooks."""

import copy
import hashlib

import pytest
import yaml

from chalicelib.domain.audiences import Hashes, csv_row, email_sha256, exportable, phone_sha256
from chalicelib.domain.strategy import StrategyError, parse_strategy
from chalicelib.strategy.loader import DEFAULT_PATH

ANNA = hashlib.sha256(b"anna@example.com").hexdigest()
PHONE = hashlib.sha256(b"+79161234567").hexdigest()


def test_the_email_is_trimmed_and_lower_cased_and_the_phone_keeps_its_plus() -> None:
    assert email_sha256("  Anna@Example.COM\n") == ANNA
    assert phone_sha256("+79161234567") == phone_sha256("+7 916 123-45-67") == PHONE


def test_meta_gets_the_phone_hashed_as_digits_without_the_plus() -> None:
    digits = hashlib.sha256(b"79161234567").hexdigest()
    assert phone_sha256("+79161234567", plus=False) == digits
    found = exportable("anna@example.com", "+79161234567", {("sms", "marketing"): True})
    assert (csv_row(found), csv_row(found, "meta")) == (f",{PHONE}", f",{digits}")


@pytest.mark.parametrize(("consents", "expected"), [
    ({("email", "marketing"): True, ("sms", "marketing"): True}, (ANNA, PHONE)),
    ({("email", "marketing"): True, ("sms", "marketing"): False}, (ANNA, None)),
    ({("sms", "marketing"): True, ("email", "service"): True}, (None, PHONE)),
    ({("push", "marketing"): True}, (None, None)),
    ({}, (None, None)),
])
def test_each_identifier_is_exported_only_with_its_channels_marketing_consent(consents, expected) -> None:
    found = exportable("anna@example.com", "+79161234567", consents)
    assert (found.email_sha256, found.phone_sha256) == expected


def test_an_inactive_contact_or_a_missing_address_exports_nothing_of_it() -> None:
    granted = {("email", "marketing"): True, ("sms", "marketing"): True}
    assert exportable("anna@example.com", "+79161234567", granted, active=False).empty
    assert exportable(None, "+79161234567", granted).email_sha256 is None
    assert csv_row(Hashes(None, PHONE)) == f",{PHONE}"


def _errors(hook: dict[str, object]) -> list[str]:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8")))
    data["chains"]["retargeting"]["steps"][1] = hook
    with pytest.raises(StrategyError) as caught:
        parse_strategy(data)
    return caught.value.errors


def test_an_audience_hook_without_for_is_refused_naming_the_path() -> None:
    assert _errors({"hook": "retargeting"}) == [
        'chains.retargeting.steps[1].for: an audience hook needs how long the contact stays in it, like "14d"']


def test_an_audience_name_that_is_no_path_segment_is_refused() -> None:
    [error] = _errors({"hook": "Ad Audience", "for": "14d"})
    assert error.startswith("chains.retargeting.steps[1].hook: an audience name is lower-case letters")


def test_the_stop_list_hook_needs_no_for() -> None:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["chains"]["retargeting"]["steps"][1] = {"hook": "stop_list"}
    assert parse_strategy(data).chains["retargeting"].steps[1].hook == "stop_list"
