"""Pure rules behind consent withdrawal and the lifecycle timers: hooks-only chains need a marketing consent,
sleeping/lost are timers, the erasure delay comes from the strategy with a fallback."""

import copy
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from domain_builders import contact, utc

from chalicelib.domain.chains import ContactEvent, advance, reachable, react, start
from chalicelib.domain.lifecycle import OrderFacts, erasure_timer, segment, timers
from chalicelib.domain.model import ERASURE_AFTER, Strategy
from chalicelib.domain.strategy import StrategyError, parse_strategy
from chalicelib.strategy.loader import DEFAULT_PATH

T0 = utc(2025, 3, 3, 9)
D = timedelta(days=1)
UTC_ZONE = ZoneInfo("UTC")


def test_a_hooks_only_chain_is_reachable_only_while_a_marketing_consent_is_granted(strategy: Strategy) -> None:
    retargeting = strategy.chains["retargeting"]
    assert retargeting.reach == ()
    assert reachable(retargeting, contact(("email",)))
    assert reachable(retargeting, contact(("email", "sms"), consents={("email", "marketing"): False,
                                                                     ("sms", "marketing"): True}))
    everything_off = contact(("email",), consents={("email", "marketing"): False, ("email", "service"): False})
    assert not reachable(retargeting, everything_off)
    assert not reachable(retargeting, contact(("email",), purposes=("service",)))
    assert reachable(strategy.chains["stop-list"], everything_off)  # the stop list needs no consent


def test_unsubscribing_from_everything_exits_retargeting_before_its_hook(strategy: Strategy) -> None:
    retargeting = strategy.chains["retargeting"]
    state = start(retargeting, None, "c-1", T0)
    assert state is not None
    everything_off = contact(("email",), consents={("email", "marketing"): False})
    [changed] = react(strategy, ContactEvent("consent_changed", T0 + 2 * D), everything_off,
                      {"retargeting": state}, T0 + 2 * D)
    assert (changed.status, changed.exit_reason) == ("exited", "consent_revoked")
    fired = advance(retargeting, state, everything_off, T0 + 2 * D)
    assert fired.action is None and fired.state.exit_reason == "consent_revoked"
    assert advance(retargeting, state, contact(("email",)), T0 + 2 * D).action is not None


def test_withdrawn_personal_data_consent_exits_every_running_and_paused_chain(strategy: Strategy) -> None:
    states = {cid: s for cid in ("welcome", "retargeting", "activation")
              if (s := start(strategy.chains[cid], None, "c-1", T0)) is not None}
    gone = contact(data_processing=False)
    changed = react(strategy, ContactEvent("consent_changed", T0 + D), gone, states, T0 + D)
    assert {(s.chain_id, s.exit_reason) for s in changed} == {
        (cid, "data_processing_withdrawn") for cid in states}


@pytest.mark.parametrize(("orders", "event", "at_day", "segment_then"), [
    (1, "segment_lost", 240, "lost"), (2, "segment_sleeping", 240, "sleeping")])
def test_sleeping_and_lost_are_timers_at_dormant_after(
    strategy: Strategy, orders: int, event: str, at_day: int, segment_then: str
) -> None:
    facts = OrderFacts(orders=orders, first_order_at=T0 - 30 * D, last_order_at=T0, last_activity_at=T0)
    found = {t.kind: t for t in timers(facts, strategy.lifecycle, UTC_ZONE, T0)}
    assert (found["dormant"].event, found["dormant"].due_at) == (event, T0 + at_day * D)
    assert found["dormant"].key == f"{event}:{T0.isoformat()}"
    assert segment(facts, strategy.lifecycle, found["dormant"].due_at) == segment_then
    assert segment(facts, strategy.lifecycle, found["leaving"].due_at) == "leaving"
    assert segment(facts, strategy.lifecycle, T0 + 366 * D) == segment_then


def test_an_erasure_timer_is_due_after_the_delay_once_per_withdrawal() -> None:
    timer = erasure_timer(T0, ERASURE_AFTER)
    assert (timer.kind, timer.event, timer.due_at) == ("erasure", "erasure_due", T0 + 30 * D)
    assert erasure_timer(T0, timedelta(days=7)).key == timer.key != erasure_timer(T0 + D, ERASURE_AFTER).key


def _document() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def test_the_erasure_delay_is_consent_erasure_after_with_a_30_day_fallback(strategy: Strategy) -> None:
    assert strategy.erasure_after == timedelta(days=30)
    document = _document()
    document["consent"] = {"erasure_after": "7d"}
    assert parse_strategy(document).erasure_after == timedelta(days=7)
    del document["consent"]
    assert parse_strategy(document).erasure_after == ERASURE_AFTER


@pytest.mark.parametrize(("section", "expected"), [
    ({"erasure_after": "soon"}, "consent.erasure_after: expected a duration"),
    ({"erasure_after": "0d"}, "consent.erasure_after: expected a duration"),
    ({"erase": "30d"}, "consent.erase: unknown key"),
    ("30d", "consent: expected a mapping"),
])
def test_a_bad_consent_section_is_one_error_with_its_path(section: object, expected: str) -> None:
    document = _document()
    document["consent"] = section
    with pytest.raises(StrategyError) as caught:
        parse_strategy(document)
    [error] = caught.value.errors
    assert error.startswith(expected)
