"""Properties of the contact rules over random zones, instants, histories and competing sends."""

import heapq
import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from domain_builders import contact, send
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.model import Channel, Strategy, quiet_hours
from chalicelib.domain.rules import RuleContext, Touch, decide
from chalicelib.strategy.loader import load_strategy

ZONES = sorted(available_timezones())
START, END = datetime(2020, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=4096)
def transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """Offset changes of a zone within a year, found by month probes and bisection to the second."""
    zone = ZoneInfo(zone_name)
    probes = [datetime(year, m, 1, tzinfo=UTC) for m in range(1, 13)] + [datetime(year + 1, 1, 1, tzinfo=UTC)]
    found = []
    for low, high in pairwise(probes):
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            lo, hi = int(low.timestamp()), int(high.timestamp())
            first = low.astimezone(zone).utcoffset()
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == first:
                    lo = mid
                else:
                    hi = mid
            found.append(datetime.fromtimestamp(hi, UTC))
    return tuple(found)


@st.composite
def instants(draw: st.DrawFn, zone_name: str) -> datetime:
    """Any instant 2020-2035, most of them within a day and a half of one of the zone's DST transitions."""
    year = draw(st.integers(2020, 2035))
    near = transitions(zone_name, year)
    if near and draw(st.integers(0, 3)) > 0:
        base = draw(st.sampled_from(near))
        return base + timedelta(seconds=draw(st.integers(-36 * 3600, 36 * 3600)))
    return START + timedelta(seconds=draw(st.integers(0, int((END - START).total_seconds()) - 1)))


half_hours = st.integers(0, 47).map(lambda n: time(n // 2, 30 * (n % 2)))


def with_sms_quiet_hours(strategy: Strategy, start: time, end: time) -> Strategy:
    channels = dict(strategy.channels)
    channels["sms"] = Channel("sms", channels["sms"].cost, quiet_hours(start, end))
    return replace(strategy, channels=channels, caps=(), arbitration=None)


SHIPPED = load_strategy()


@settings(max_examples=400, deadline=None)
@given(data=st.data(), zone_name=st.sampled_from(ZONES), start=half_hours, end=half_hours)
def test_no_send_ever_falls_inside_quiet_hours_and_deferrals_are_the_earliest_legal_instant(
    data: st.DataObject, zone_name: str, start: time, end: time
) -> None:
    if start == end:
        end = (datetime.combine(datetime(2000, 1, 1), end) + timedelta(hours=9)).time()
    strategy = with_sms_quiet_hours(SHIPPED, start, end)
    window = strategy.channels["sms"].quiet_hours
    assert window is not None
    now = data.draw(instants(zone_name))
    zone = ZoneInfo(zone_name)
    request = send(strategy, "refill-reminder", now, channels=("sms",), valid_until=now + timedelta(days=5))
    decision = decide(request, RuleContext(contact(["sms"], zone=zone_name)), strategy, now)

    def quiet(at: datetime) -> bool:
        return window.contains(at.astimezone(zone).replace(tzinfo=None))

    assert decision.action in ("send", "defer")
    assert decision.at is not None and not quiet(decision.at)
    if decision.action == "send":
        assert decision.at == now
    else:
        assert decision.at > now and quiet(now)
        assert quiet(decision.at - timedelta(seconds=1)), "a deferral must not overshoot the end of the night"


@settings(max_examples=150, deadline=None)
@given(data=st.data(), zone_names=st.lists(st.sampled_from(ZONES), min_size=2, max_size=4, unique=True))
def test_with_an_unknown_zone_a_send_is_outside_quiet_hours_in_every_candidate_zone(
    data: st.DataObject, zone_names: list[str]
) -> None:
    strategy = replace(SHIPPED, fallback_zones=tuple(zone_names), caps=(), arbitration=None)
    now = data.draw(instants(zone_names[0]))
    request = send(strategy, "refill-reminder", now, channels=("sms",), valid_until=now + timedelta(days=20))
    decision = decide(request, RuleContext(contact(["sms"], zone=None, phone=None)), strategy, now)
    window = strategy.channels["sms"].quiet_hours
    assert window is not None
    if decision.action in ("send", "defer"):
        assert decision.at is not None
        assert all(not window.contains(decision.at.astimezone(ZoneInfo(z)).replace(tzinfo=None)) for z in zone_names)
    else:
        assert decision.reason == "no_legal_slot"


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sends=st.integers(5, 40),
       occasions=st.lists(st.sampled_from(["company-news", "seasonal-promo", "cart-reminder", "refill-reminder",
                                           "browse-reminder", "sms-stop-confirmation"]), min_size=1, max_size=4))
def test_caps_are_never_exceeded_over_random_send_histories(seed: int, sends: int, occasions: list[str]) -> None:
    """Random sends fall due over 60 days; deferred ones come back when told. Every counted touch then
    respects every cap over every rolling window."""
    rng = random.Random(seed)
    strategy = SHIPPED
    view = contact(zone=rng.choice(["Europe/Moscow", "America/New_York", "Asia/Tokyo"]))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    queue: list[tuple[datetime, int, object]] = []
    for i in range(sends):
        due = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
        request = send(strategy, rng.choice(occasions), due, key=f"t-{i}", valid_until=due + timedelta(days=10))
        heapq.heappush(queue, (due, i, request))
    history: list[Touch] = []
    while queue:
        now, i, request = heapq.heappop(queue)
        decision = decide(request, RuleContext(view, history=tuple(history)), strategy, now)  # type: ignore[arg-type]
        if decision.action == "send":
            assert decision.channel is not None
            history.append(Touch(now, decision.channel, request.category, "sent"))  # type: ignore[attr-defined]
        elif decision.action == "defer":
            assert decision.at is not None and decision.at > now
            heapq.heappush(queue, (decision.at, i, request))
    for cap in strategy.caps:
        counted = sorted(t.at for t in history if t.category in cap.categories and t.channel in cap.channels)
        for at in counted:
            assert sum(1 for a in counted if at - cap.per < a <= at) <= cap.max, cap.id


requests = st.builds(
    lambda i, occasion, priority, hours: (i, occasion, priority, hours),
    st.integers(0, 10**6), st.sampled_from(["cart-reminder", "browse-reminder", "seasonal-promo", "company-news",
                                             "favorites-reminder"]),
    st.integers(0, 100), st.integers(1, 72),
)


@settings(max_examples=150, deadline=None)
@given(specs=st.lists(requests, min_size=1, max_size=6, unique_by=lambda s: s[0]), shuffle_seed=st.integers())
def test_arbitration_is_deterministic_and_total(specs: list[tuple[int, str, int, int]], shuffle_seed: int) -> None:
    strategy = SHIPPED
    now = datetime(2025, 3, 12, 9, tzinfo=UTC)
    competing = [send(strategy, occasion, now, key=f"k-{i}", priority=priority,
                      valid_until=now + timedelta(hours=hours)) for i, occasion, priority, hours in specs]
    view = contact(["email"])

    def outcome(order: list[object]) -> dict[str, tuple[str, datetime | None]]:
        decided = {}
        for request in order:
            others = tuple(c for c in order if c is not request)
            decision = decide(request, RuleContext(view, competing=others), strategy, now)  # type: ignore[arg-type]
            decided[request.key] = (decision.action, decision.at)  # type: ignore[attr-defined]
        return decided

    first = outcome(list(competing))
    shuffled = list(competing)
    random.Random(shuffle_seed).shuffle(shuffled)
    assert outcome(shuffled) == first
    winners = [key for key, (action, _) in first.items() if action == "send"]
    assert len(winners) == 1
    best = min(competing, key=lambda c: (-c.priority, c.valid_until, c.occasion_id, c.key))
    assert winners == [best.key]
    assert all(action in ("defer", "skip") for key, (action, _) in first.items() if key != best.key)
