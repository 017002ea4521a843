"""Walk each default chain against scripted reactions and assert the exact touches and their timing."""

from dataclasses import replace
from datetime import timedelta

import pytest
from domain_builders import contact, utc

from chalicelib.domain.chains import (
    ContactEvent,
    Enrollment,
    HookAction,
    SendAction,
    advance,
    postpone,
    react,
    start,
)
from chalicelib.domain.model import Strategy
from chalicelib.domain.rules import ContactView

T0 = utc(2025, 3, 3, 9)
D, H = timedelta(days=1), timedelta(hours=1)


def walk(strategy: Strategy, chain_id: str, reactions: dict[timedelta, str] | None = None,
         view: ContactView | None = None, horizon: timedelta = timedelta(days=60)
         ) -> tuple[list[tuple[timedelta, str]], Enrollment]:
    """Runs the chain from T0 like the runtime would; returns (offset from T0, what happened) and the end state.

    `reactions` are events at offsets from T0 (e.g. {2*H: "email_opened"})."""
    view = view or contact()
    chain = strategy.chains[chain_id]
    state = start(chain, None, view.contact_id, T0)
    assert state is not None
    pending = sorted((reactions or {}).items())
    touches: list[tuple[timedelta, str]] = []
    while state.status == "running" and state.due_at is not None and state.due_at - T0 <= horizon:
        if pending and T0 + pending[0][0] <= state.due_at:
            offset, event = pending.pop(0)
            changed = react(strategy, ContactEvent(event, T0 + offset), view, {chain_id: state}, T0 + offset)
            state = next((e for e in changed if e.chain_id == chain_id), state)
            continue
        now = state.due_at
        transition = advance(chain, state, view, now)
        if isinstance(transition.action, SendAction):
            touches.append((now - T0, f"{transition.action.occasion} via {'/'.join(transition.action.channels)}"
                            + (" sms-ok" if transition.action.sms_allowed and "sms" in transition.action.channels
                               else "")))
        elif isinstance(transition.action, HookAction):
            touches.append((now - T0, f"hook {transition.action.hook}"))
        state = transition.state
    return touches, state


def test_welcome_four_emails_two_days_apart_then_a_push_or_sms_reminder_without_reaction(
    strategy: Strategy,
) -> None:
    touches, end = walk(strategy, "welcome")
    assert touches == [
        (0 * D, "welcome-thanks via email"),
        (2 * D, "welcome-offers via email"),
        (4 * D, "welcome-app via email"),
        (6 * D, "welcome-promo via email"),
        (8 * D, "welcome-promo-reminder via push/sms sms-ok"),
    ]
    assert end.status == "completed"


def test_welcome_with_a_reaction_reminds_by_email_instead(strategy: Strategy) -> None:
    touches, end = walk(strategy, "welcome", {2 * D + 3 * H: "email_opened"})
    assert touches[-1] == (8 * D, "welcome-promo-reminder via email")
    assert len(touches) == 5 and end.status == "completed"


def test_welcome_exits_on_the_first_order(strategy: Strategy) -> None:
    touches, end = walk(strategy, "welcome", {3 * D: "order_placed"})
    assert [t for _, t in touches] == ["welcome-thanks via email", "welcome-offers via email"]
    assert (end.status, end.exit_reason) == ("exited", "goal:order_placed")


def test_retargeting_hook_after_a_day_without_order_or_visit(strategy: Strategy) -> None:
    assert walk(strategy, "retargeting")[0] == [(1 * D, "hook retargeting")]
    touches, end = walk(strategy, "retargeting", {5 * H: "site_visit"})
    assert touches == [] and end.status == "completed"


def test_activation_survey_resent_after_a_day_without_reaction(strategy: Strategy) -> None:
    touches, end = walk(strategy, "activation")
    assert touches == [(14 * D, "activation-survey via email"), (15 * D, "activation-survey-resend via email")]
    assert end.status == "completed"


def test_activation_opened_but_not_filled_gets_promo_and_expiring_offer(strategy: Strategy) -> None:
    touches, _ = walk(strategy, "activation", {14 * D + 2 * H: "email_opened"})
    assert touches == [(14 * D, "activation-survey via email"), (16 * D + 2 * H, "activation-offer via email")]


def test_activation_survey_filled_ends_the_chain_on_its_goal(strategy: Strategy) -> None:
    touches, end = walk(strategy, "activation", {14 * D + 2 * H: "survey_completed"})
    assert touches == [(14 * D, "activation-survey via email")]
    assert (end.status, end.exit_reason) == ("exited", "goal:survey_answered")
    opened_then_filled = {14 * D + 2 * H: "email_opened", 14 * D + 3 * H: "survey_completed"}
    touches, end = walk(strategy, "activation", opened_then_filled)
    assert touches == [(14 * D, "activation-survey via email")] and end.status == "completed"


def test_reactivation_without_reaction_nudges_then_last_chance(strategy: Strategy) -> None:
    touches, _ = walk(strategy, "reactivation")
    assert touches == [
        (0 * D, "reactivation-offer via email"),
        (3 * D, "reactivation-nudge via push/sms sms-ok"),
        (10 * D, "reactivation-last-chance via email"),
    ]


def test_reactivation_opened_skips_the_nudge(strategy: Strategy) -> None:
    touches, _ = walk(strategy, "reactivation", {1 * D: "email_opened"})
    assert touches == [(0 * D, "reactivation-offer via email"), (8 * D, "reactivation-last-chance via email")]


def test_stop_list_hook(strategy: Strategy) -> None:
    assert walk(strategy, "stop-list")[0] == [(0 * D, "hook stop_list")]


def test_abandoned_cart_reminder_then_last_call_with_sms_fallback(strategy: Strategy) -> None:
    touches, _ = walk(strategy, "abandoned-cart")
    assert touches == [(1 * H, "cart-reminder via email/push"),
                       (1 * H + 1 * D, "cart-last-call via email/push/sms sms-ok")]


def test_abandoned_cart_click_stops_the_last_call_and_an_order_exits(strategy: Strategy) -> None:
    assert walk(strategy, "abandoned-cart", {2 * H: "email_clicked"})[0] == [(1 * H, "cart-reminder via email/push")]
    touches, end = walk(strategy, "abandoned-cart", {30 * 60 * timedelta(seconds=1): "order_placed"})
    assert touches == [] and end.exit_reason == "goal:order_placed"


@pytest.mark.parametrize(("chain", "expected"), [
    ("abandoned-browse", [(2 * H, "browse-reminder via email/push")]),
    ("abandoned-search", [(2 * H, "search-reminder via email/push")]),
    ("favorites", [(1 * D, "favorites-reminder via email/push")]),
    ("birthday", [(0 * D, "birthday-greeting via email/push")]),
    ("nth-purchase", [(0 * D, "nth-purchase-thanks via email")]),
    ("nps", [(3 * D, "nps-survey via email")]),
    ("refill", [(0 * D, "refill-reminder via push/email"), (2 * D, "refill-reminder via push/email/sms sms-ok")]),
])
def test_single_purpose_chains(strategy: Strategy, chain: str, expected: list[tuple[timedelta, str]]) -> None:
    assert walk(strategy, chain)[0] == expected


def test_events_start_the_right_chains(strategy: Strategy) -> None:
    view = contact()

    def started(event: str, **properties: object) -> set[str]:
        return {e.chain_id for e in react(strategy, ContactEvent(event, T0, properties), view, {}, T0)}

    assert started("signup_confirmed") == {"welcome", "retargeting", "activation"}
    assert started("cart_abandoned") == {"abandoned-cart"}
    assert started("favorite_added", favorites_count=2) == set()
    assert started("favorite_added", favorites_count=3) == {"favorites"}
    assert started("order_placed", order_number=2) == {"nps"}
    assert started("order_placed", order_number=5) == {"nps", "nth-purchase"}
    for event, chain in [("segment_leaving", "reactivation"), ("stop_list_due", "stop-list"),
                         ("birthday", "birthday"), ("refill_due", "refill"), ("product_viewed", "abandoned-browse"),
                         ("search_performed", "abandoned-search")]:
        assert started(event) == {chain}


def test_an_order_exits_abandoned_cart_and_reactivation(strategy: Strategy) -> None:
    view = contact()
    running = {c: start(strategy.chains[c], None, view.contact_id, T0) for c in ("abandoned-cart", "reactivation",
                                                                                   "birthday")}
    changed = {e.chain_id: e for e in react(strategy, ContactEvent("order_placed", T0 + H, {"order_number": 1}),
                                            view, running, T0 + H)}  # type: ignore[arg-type]
    assert changed["abandoned-cart"].status == changed["reactivation"].status == "exited"
    assert changed["birthday"].ordered and changed["birthday"].status == "running"


@pytest.mark.parametrize(("chain", "offset", "enters"), [
    ("welcome", 400 * D, False),  # never again
    ("reactivation", 100 * D, False),
    ("reactivation", 181 * D, True),
    ("birthday", 365 * D, True),
])
def test_reentry_rules_after_the_chain_ended(strategy: Strategy, chain: str, offset: timedelta, enters: bool) -> None:
    first = start(strategy.chains[chain], None, "c-1", T0)
    assert first is not None
    ended = replace(first, status="completed", due_at=None)
    assert (start(strategy.chains[chain], ended, "c-1", T0 + offset) is not None) == enters


def test_a_running_chain_restarts_only_where_it_says_so(strategy: Strategy) -> None:
    cart = start(strategy.chains["abandoned-cart"], None, "c-1", T0)
    again = start(strategy.chains["abandoned-cart"], cart, "c-1", T0 + H)
    assert again is not None and again.entered_at == T0 + H and again.step == 0
    welcome = start(strategy.chains["welcome"], None, "c-1", T0)
    assert start(strategy.chains["welcome"], welcome, "c-1", T0 + H) is None


def test_consent_revoked_exits_or_pauses_and_resumes(strategy: Strategy) -> None:
    revoked = contact(consents={})
    welcome = start(strategy.chains["welcome"], None, "c-1", T0)
    assert welcome is not None
    assert advance(strategy.chains["welcome"], welcome, revoked, T0).state.exit_reason == "consent_revoked"
    pausing = replace(strategy.chains["welcome"], on_consent_revoked="pause")
    paused = advance(pausing, welcome, revoked, T0).state
    assert (paused.status, paused.due_at) == ("paused", None)
    strategy_pausing = replace(strategy, chains={**strategy.chains, "welcome": pausing})
    resumed = react(strategy_pausing, ContactEvent("consent_changed", T0 + D), contact(), {"welcome": paused}, T0 + D)
    assert [(e.status, e.due_at) for e in resumed if e.chain_id == "welcome"] == [("running", T0 + D)]


def test_withdrawn_data_processing_consent_exits_every_chain(strategy: Strategy) -> None:
    welcome = start(strategy.chains["welcome"], None, "c-1", T0)
    assert welcome is not None
    gone = contact(data_processing=False)
    assert advance(strategy.chains["welcome"], welcome, gone, T0).state.exit_reason == "data_processing_withdrawn"


def test_a_deferred_send_is_retried_with_its_original_due_instant(strategy: Strategy) -> None:
    chain = strategy.chains["welcome"]
    state = start(chain, None, "c-1", T0)
    assert state is not None
    first = advance(chain, state, contact(), T0)
    second = advance(chain, first.state, contact(), T0 + 2 * D)
    assert isinstance(second.action, SendAction) and second.action.due_at == T0 + 2 * D
    waiting = postpone(second, T0 + 2 * D + 10 * H)
    retried = advance(chain, waiting, contact(), T0 + 2 * D + 10 * H)
    assert retried.action == second.action
    # The next wait counts from the actual send, so the emails stay two days apart.
    assert retried.due_at == T0 + 4 * D + 10 * H


def test_a_late_tick_does_not_stretch_the_chain(strategy: Strategy) -> None:
    chain = strategy.chains["nps"]
    state = start(chain, None, "c-1", T0)
    assert state is not None
    waiting = advance(chain, state, contact(), T0).state
    assert waiting.due_at == T0 + 3 * D
    late = advance(chain, waiting, contact(), T0 + 3 * D + 5 * H)
    assert isinstance(late.action, SendAction) and late.action.due_at == T0 + 3 * D


def test_advance_on_a_finished_enrollment_changes_nothing(strategy: Strategy) -> None:
    state = start(strategy.chains["birthday"], None, "c-1", T0)
    assert state is not None
    done = replace(state, status="completed", due_at=None)
    assert advance(strategy.chains["birthday"], done, contact(), T0 + D).state == done

