"""Campaigns end to end on the memory store through the simulator's engine: 2,000 members from Kaliningrad to
Kamchatka and New York with every SQS batch delivered twice; an A/B test decided by published SES opens and
clicks; a cancel in the middle of the fan-out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib import wiring
from chalicelib.domain.campaigns import group_of
from chalicelib.store.touches import TouchRecord
from tests.integration.campaigns.harness import STEP, memory_world, person

ZONES = ("Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
         "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
         "America/New_York")
START = datetime(2026, 12, 7, 12, tzinfo=UTC)  # a Monday; the campaign sends on Wednesday 2026-12-09
CAPS = (("manual-week", 2, timedelta(days=7)), ("manual-month", 5, timedelta(days=30)))


def _campaign(**changes: object) -> dict[str, object]:
    return {"occasion_id": "company-news", "audience": {"segment": "active"}, "channels": ["email"],
            "send_at": {"local_time": "08:30", "date": "2026-12-09"}, **changes}


def _contact_of(address: str) -> str:
    return address.partition("@")[0]


def _earlier_manual_mail(contact_id: str, at: datetime, n: int) -> TouchRecord:
    return TouchRecord(contact_id=contact_id, touch_key=f"earlier#{n}", touch_id=f"t-{contact_id}-{n}",
                       channel="email", occasion_id="anniversary", category="manual", status="sent", created_at=at)


def test_2000_members_get_it_at_0830_local_once_never_at_night_and_never_over_the_manual_caps() -> None:
    with memory_world(START, duplicate=True) as world:
        people = [person(f"m{n:04d}", timezone=ZONES[n % len(ZONES)]) for n in range(2000)]
        world.members(people)
        # Every 20th member had two manual mails yesterday: the week's manual cap is full for them.
        capped = {p.contact_id for p in people[::20]}
        for contact_id in capped:
            for n in range(2):
                assert wiring.touches().reserve(_earlier_manual_mail(contact_id, START - timedelta(days=1), n))
        status, created = world.call("POST", "/v1/admin/campaigns", _campaign())
        assert status == 201, created

        world.run_until(datetime(2026, 12, 10, 0, tzinfo=UTC))

        mails = [(message, mail) for message, mail in world.sent if message.channel == "email"]
        received = Counter(_contact_of(message.to) for message, _ in mails)
        assert max(received.values()) == 1  # every batch twice, nobody twice
        assert set(received) == {p.contact_id for p in people} - capped
        zone_of = {p.contact_id: p.timezone for p in people}
        for message, _ in mails:
            local = message.at.astimezone(ZoneInfo(zone_of[_contact_of(message.to)] or "UTC"))
            planned = datetime(2026, 12, 9, 8, 30, tzinfo=local.tzinfo)
            assert timedelta(0) <= local - planned <= STEP, (message.to, local)
            assert 8 <= local.hour < 22  # email's quiet hours are 22:00-08:00
        for contact_id in {p.contact_id for p in people}:
            counted = sorted(t.created_at for t in wiring.touches().for_contact(contact_id)
                             if t.category == "manual" and t.status in ("reserved", "sent", "delivered"))
            for _, most, per in CAPS:
                assert all(sum(1 for b in counted if a - per < b <= a) <= most for a in counted), contact_id

        status, read = world.call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")
        counts = read["counts"]
        assert counts["audience"] == counts["enrolled"] == 2000
        assert counts["sent"] == 2000 - len(capped)
        assert counts["sent"] + counts["skipped"] + counts["failed"] + counts["pending"] == counts["enrolled"]
        assert counts["deferred_by_reason"].get("cap_reached", 0) + counts["skipped_by_reason"].get("expired", 0) > 0


def test_the_ab_winner_is_picked_by_click_rate_from_ses_feedback_and_the_rest_gets_it() -> None:
    with memory_world(START) as world:
        people = [person(f"ab{n:03d}", timezone="Europe/Moscow") for n in range(200)]
        world.members(people)
        status, created = world.call("POST", "/v1/admin/campaigns", _campaign(
            occasion_id="reactivation-offer", send_at={"at": "2026-12-08T07:00:00+00:00"},
            ab={"variants": ["A", "B"], "test_share": 0.3, "pick_after": "4h", "metric": "click_rate"}))
        assert status == 201, created
        campaign_id = created["campaign_id"]

        world.run_until(datetime(2026, 12, 8, 7, 30, tzinfo=UTC))
        tested = [(message, mail) for message, mail in world.sent if message.channel == "email"]
        definition = wiring.campaign_store().get(campaign_id).definition  # type: ignore[union-attr]
        test_share = {p.contact_id for p in people if group_of(campaign_id, p.contact_id, definition) == "test"}
        assert {_contact_of(m.to) for m, _ in tested} == test_share
        variant_of = {t.provider_message_id: t.variant for p in test_share
                      for t in wiring.touches().for_contact(p) if t.provider_message_id}
        # Variant B's readers click, A's only open.
        for message, mail in tested:
            world.publish_ses("open", mail)
            if variant_of[message.provider_message_id] == "B":
                world.publish_ses("click", mail)
        world.engine.drain()
        assert world.call("GET", f"/v1/admin/campaigns/{campaign_id}")[1]["winner"] is None  # not before 4h

        world.run_until(datetime(2026, 12, 8, 11, 30, tzinfo=UTC))
        read = world.call("GET", f"/v1/admin/campaigns/{campaign_id}")[1]
        winner = read["winner"]
        assert winner["variant"] == "B" and winner["metric"] == "click_rate"
        assert winner["numbers"]["B"]["click_rate"] == 1.0 and winner["numbers"]["A"]["click_rate"] == 0.0
        assert winner["numbers"]["A"]["sent"] + winner["numbers"]["B"]["sent"] == len(test_share)
        rest = {p.contact_id for p in people} - test_share
        later = [t for p in rest for t in wiring.touches().for_contact(p) if t.status == "sent"]
        assert {t.contact_id for t in later} == rest and {t.variant for t in later} == {"B"}
        counts = read["counts"]
        assert (counts["audience"], counts["enrolled"], counts["waiting"], counts["sent"]) == (200, 200, 0, 200)


def test_a_cancel_in_the_middle_of_the_fan_out_stops_every_further_send_and_the_counts_add_up() -> None:
    with memory_world(START) as world:
        people = [person(f"c{n:03d}", timezone="Europe/Moscow") for n in range(300)]
        world.members(people)
        wiring.campaigns().page_size = 20
        status, created = world.call("POST", "/v1/admin/campaigns", _campaign(
            send_at={"at": "2026-12-07T12:00:00+00:00"}, holdout_share=0.1))
        campaign_id = created["campaign_id"]
        from unittest import mock

        with mock.patch("chalicelib.services.campaigns.PAGES_PER_TICK", 2):
            world.run_until(START + 2 * STEP)  # two ticks: a few pages of twenty fanned out and sent
            world.engine.tick()  # more pages, their steps claimed and queued: the cancel lands before they run
            sent_before = len(world.sent)
            status, cancelled = world.call("POST", f"/v1/admin/campaigns/{campaign_id}/cancel")
            assert (status, cancelled["status"]) == (200, "cancelled")
            world.run_until(START + timedelta(hours=2))
        assert sent_before > 0 and len(world.sent) == sent_before

        read = world.call("GET", f"/v1/admin/campaigns/{campaign_id}")[1]
        counts = read["counts"]
        assert sent_before < counts["audience"] < 300  # the fan-out stopped where the cancel found it
        assert counts["audience"] == counts["holdout"] + counts["waiting"] + counts["enrolled"]
        assert counts["holdout"] > 0
        assert counts["sent"] == sent_before
        assert counts["sent"] + counts["skipped"] + counts["failed"] + counts["pending"] == counts["enrolled"]
        assert counts["pending"] == 0 and counts["skipped"] > 0
        assert counts["skipped_by_reason"] == {"campaign_cancelled": counts["skipped"]}
        assert world.call("POST", f"/v1/admin/campaigns/{campaign_id}/cancel")[0] == 409


def test_a_weekly_campaign_sends_each_week_until_its_end_date_each_occurrence_its_own_touch() -> None:
    with memory_world(START) as world:
        people = [person(f"w{n}", timezone="Asia/Yekaterinburg") for n in range(5)]
        world.members(people)
        status, created = world.call("POST", "/v1/admin/campaigns", _campaign(recur="weekly", until="2026-12-23"))
        assert status == 201 and created["recur"] == "weekly"

        world.run_until(datetime(2026, 12, 31, tzinfo=UTC), step=timedelta(minutes=30))

        days = Counter(message.at.astimezone(ZoneInfo("Asia/Yekaterinburg")).strftime("%Y-%m-%d %H:%M")
                       for message, _ in world.sent)
        assert days == {"2026-12-09 08:30": 5, "2026-12-16 08:30": 5, "2026-12-23 08:30": 5}
        for p in people:  # one touch key per occurrence
            assert len({t.touch_key for t in wiring.touches().for_contact(p.contact_id)}) == 3
        read = world.call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")[1]
        assert (read["status"], read["occurrence"], read["counts"]["sent"]) == ("done", 2, 15)
