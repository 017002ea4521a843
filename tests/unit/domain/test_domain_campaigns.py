"""Campaigns in the domain: the local send instant per zone, stable groups, the A/B winner, the variants a
member may get, weekly occurrences, audience filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from chalicelib.domain.campaigns import (
    AbTest,
    Audience,
    Campaign,
    Definition,
    InvalidCampaign,
    SendAt,
    Winner,
    campaign_chain_id,
    campaign_of,
    earliest_send,
    group_of,
    matches,
    next_occurrence,
    parse_definition,
    pick_winner,
    send_instant,
    variants_for,
)
from chalicelib.strategy.loader import load_strategy

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
LOCAL = SendAt(local_time=time(8, 30), date=date(2026, 12, 9))
FALLBACK = ("Europe/Kaliningrad", "Europe/Moscow")
AB = AbTest(("A", "B"), 0.2, timedelta(hours=4), "click_rate")


def _definition(**changes: object) -> Definition:
    return replace(Definition("company-news", Audience(segment="active"), ("email",), LOCAL), **changes)


@pytest.mark.parametrize(("zone", "utc"), [
    ("Europe/Kaliningrad", datetime(2026, 12, 9, 6, 30, tzinfo=UTC)),
    ("Europe/Moscow", datetime(2026, 12, 9, 5, 30, tzinfo=UTC)),
    ("Asia/Kamchatka", datetime(2026, 12, 8, 20, 30, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 12, 9, 13, 30, tzinfo=UTC)),
    (None, datetime(2026, 12, 9, 6, 30, tzinfo=UTC)),  # unknown zone: the first fallback zone
])
def test_the_local_time_is_that_wall_time_in_the_members_zone(zone: str | None, utc: datetime) -> None:
    assert send_instant(LOCAL, zone, None, FALLBACK, 0) == utc
    assert send_instant(LOCAL, zone, None, FALLBACK, 2) == utc + timedelta(weeks=2)


def test_a_local_time_across_a_dst_change_stays_at_that_wall_time() -> None:
    summer = SendAt(local_time=time(8, 30), date=date(2027, 3, 10))  # New York moved to EDT on 2027-03-14
    assert send_instant(summer, "America/New_York", None, FALLBACK, 0) == datetime(2027, 3, 10, 13, 30, tzinfo=UTC)
    assert send_instant(summer, "America/New_York", None, FALLBACK, 1) == datetime(2027, 3, 17, 12, 30, tzinfo=UTC)


def test_an_absolute_instant_is_the_same_for_everyone_and_the_earliest_send_bounds_every_zone() -> None:
    at = SendAt(at=datetime(2026, 12, 9, 9, tzinfo=UTC))
    assert send_instant(at, "Asia/Kamchatka", None, FALLBACK, 0) == at.at
    assert earliest_send(LOCAL, 0) == datetime(2026, 12, 8, 18, 30, tzinfo=UTC)  # 08:30 at UTC+14


def test_groups_are_stable_and_near_their_shares() -> None:
    definition = _definition(ab=AB, holdout_share=0.1)
    groups = [group_of("k-1", f"c-{n}", definition) for n in range(5000)]
    assert groups == [group_of("k-1", f"c-{n}", definition) for n in range(5000)]
    assert 400 < groups.count("holdout") < 600
    assert 800 < groups.count("test") < 1000  # 20% of the 90% not held out
    assert group_of("k-1", "c-1", _definition()) == "test"  # no test, no holdout: everyone gets it


def test_the_winner_is_the_best_rate_and_a_tie_goes_to_the_first_listed_variant() -> None:
    counts = {"A": {"sent": 10, "opened": 6, "clicked": 1}, "B": {"sent": 8, "opened": 2, "clicked": 2}}
    winner = pick_winner(AB, counts, NOW)
    assert (winner.variant, winner.numbers["B"]["click_rate"], winner.numbers["A"]["click_rate"]) == ("B", 0.25, 0.1)
    assert pick_winner(replace(AB, metric="open_rate"), counts, NOW).variant == "A"
    assert pick_winner(AB, {}, NOW).variant == "A"  # nothing sent: the first variant


def test_the_test_share_gets_the_tested_variants_and_the_rest_the_winner() -> None:
    campaign = Campaign("k-1", _definition(ab=AB), "sending", "olga", NOW)
    tested = next(f"c-{n}" for n in range(100) if group_of("k-1", f"c-{n}", campaign.definition) == "test")
    rest = next(f"c-{n}" for n in range(100) if group_of("k-1", f"c-{n}", campaign.definition) == "rest")
    assert variants_for(campaign, tested, ("A", "B", "C")) == ("A", "B")
    won = replace(campaign, winner=Winner("B", "click_rate", NOW, {}))
    assert variants_for(won, rest, ("A", "B", "C")) == ("B",)
    assert variants_for(replace(won, occurrence=1), tested, ("A", "B")) == ("B",)  # a later week: the winner
    plain = Campaign("k-2", _definition(), "sending", "olga", NOW)
    assert variants_for(plain, rest, ("A", "B")) == ("A", "B")


def test_weekly_campaigns_recur_until_their_end_date() -> None:
    assert next_occurrence(_definition(), 0) is None
    assert next_occurrence(_definition(recur="weekly"), 5) == 6
    ending = _definition(recur="weekly", until=date(2026, 12, 16))
    assert next_occurrence(ending, 0) == 1 and next_occurrence(ending, 1) is None
    assert campaign_of(campaign_chain_id("k-1", 3)) == "k-1"
    assert campaign_of("welcome") is None and campaign_of("campaign:k-1") is None


def test_the_audience_filters_interests_any_of_and_attributes_all_of() -> None:
    audience = Audience(segment="active", interests=("vitamins", "sport"), attributes={"city": "Moscow"})
    assert matches(audience, "active", None, {"interests": ["Sport"], "city": "Moscow"})
    assert not matches(audience, "active", None, {"interests": ["books"], "city": "Moscow"})
    assert not matches(audience, "active", None, {"city": "Moscow"})  # no interests at all
    assert not matches(audience, "active", None, {"interests": ["sport"]})
    assert not matches(audience, "leaving", None, {"interests": ["sport"], "city": "Moscow"})
    assert matches(Audience(point_id="msk-01"), None, "msk-01", {})


def test_a_body_is_parsed_and_the_first_wrong_field_named() -> None:
    strategy = load_strategy(None)
    body = {"occasion_id": "reactivation-offer", "audience": {"segment": "leaving", "interests": ["Sport"]},
            "channels": ["email", "email"], "send_at": {"local_time": "08:30", "date": "2026-12-09"},
            "ab": {"variants": ["A", "B"], "test_share": 0.2, "pick_after": "4h", "metric": "click_rate"},
            "holdout_share": 0.05, "recur": "weekly", "until": "2027-01-31"}
    parsed = parse_definition(body, strategy.occasions, tuple(strategy.channels), NOW)
    assert parsed.channels == ("email",) and parsed.audience.interests == ("sport",) and parsed.ab == AB
    with pytest.raises(InvalidCampaign) as bad:
        parse_definition({**body, "ab": {**body["ab"], "test_share": 0}}, strategy.occasions,
                         tuple(strategy.channels), NOW)
    assert bad.value.field == "ab.test_share"
    with pytest.raises(InvalidCampaign) as bad:
        parse_definition([], strategy.occasions, tuple(strategy.channels), NOW)
    assert bad.value.field == ""
