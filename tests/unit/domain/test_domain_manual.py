"""Touches by hand: which period a mark belongs to, and which rules let it stand."""

from dataclasses import replace
from datetime import timedelta

import pytest
from domain_builders import contact, utc

from chalicelib.domain.manual import judge_mark, mark_key, period_of, previous_key, too_soon
from chalicelib.domain.model import Strategy
from chalicelib.domain.reasons import Reason, Rule
from chalicelib.domain.rules import Suppression, Touch

NOON = utc(2026, 11, 25, 9, 0)  # a Wednesday


def test_a_weekly_period_runs_monday_to_sunday_utc(strategy: Strategy) -> None:
    weekly = strategy.occasions["company-news"]
    assert period_of(weekly, NOON) == (utc(2026, 11, 23), utc(2026, 11, 30))
    assert period_of(weekly, utc(2026, 11, 30)) == (utc(2026, 11, 30), utc(2026, 12, 7))
    assert mark_key("company-news", utc(2026, 11, 23)) == "occasion#company-news#2026-11-23T00:00Z"
    assert previous_key(weekly, NOON) == "occasion#company-news#2026-11-16T00:00Z"


def test_a_mark_less_than_a_period_ago_is_too_soon(strategy: Strategy) -> None:
    weekly = strategy.occasions["company-news"]
    assert too_soon(weekly, NOON - timedelta(days=6, hours=23), NOON)
    assert not too_soon(weekly, NOON - timedelta(days=7), NOON)


def test_a_phone_call_needs_a_marketing_consent_somewhere_and_none_revoked_for_phone(strategy: Strategy) -> None:
    occasion = strategy.occasions["anniversary"]
    assert judge_mark(strategy, occasion, "phone", contact(["email"]), Suppression(), (), NOON) is None
    nothing = contact(["email"], purposes=())
    assert judge_mark(strategy, occasion, "phone", nothing, Suppression(), (), NOON).reason == Reason.NO_CONSENT
    refused = replace(contact(["email"]), consents={("email", "marketing"): True, ("phone", "marketing"): False})
    assert judge_mark(strategy, occasion, "phone", refused, Suppression(), (), NOON).rule == Rule.CONSENT


@pytest.mark.parametrize(("view", "suppression", "channel", "reason"), [
    (contact(["email"], data_processing=False), Suppression(), "phone", Reason.NO_DATA_PROCESSING_CONSENT),
    (contact(["email"]), Suppression(), "sms", Reason.NO_ADDRESS),
    (contact(["email"], purposes=("service",)), Suppression(), "email", Reason.NO_CONSENT),
    (contact(["email"]), Suppression(stop_listed=True), "meeting", Reason.STOP_LISTED),
    (contact(["email"]), Suppression(frozenset({"email"})), "email", Reason.SUPPRESSED),
])
def test_a_mark_the_rules_forbid_names_why(strategy: Strategy, view, suppression, channel: str, reason) -> None:
    refusal = judge_mark(strategy, strategy.occasions["anniversary"], channel, view, suppression, (), NOON)
    assert refusal is not None and refusal.reason == reason


def test_the_manual_week_cap_counts_calls_and_manual_mails_alike(strategy: Strategy) -> None:
    occasion = strategy.occasions["anniversary"]
    history = (Touch(NOON - timedelta(days=1), "email", "manual", "sent"),
               Touch(NOON - timedelta(days=2), "meeting", "manual", "done"),
               Touch(NOON - timedelta(days=3), "phone", "manual", "not_done"),  # reached nobody: not counted
               Touch(NOON - timedelta(days=1), "email", "promo", "sent"))  # another category
    refusal = judge_mark(strategy, occasion, "phone", contact(["email"]), Suppression(), history, NOON)
    assert refusal is not None and (refusal.rule, refusal.detail) == (Rule.FREQUENCY_CAP, "manual-week")
    assert judge_mark(strategy, occasion, "phone", contact(["email"]), Suppression(), history[1:], NOON) is None
    later = NOON + timedelta(days=6)  # both have left the week; five a month still holds
    assert judge_mark(strategy, occasion, "phone", contact(["email"]), Suppression(), history, later) is None
