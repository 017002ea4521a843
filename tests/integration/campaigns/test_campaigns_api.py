"""The campaigns API on moto: create, read, list and cancel; bad input named by field; the roles; and one small
campaign fanned out and sent at 08:30 in each member's own zone through the step worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib import wiring
from tests.integration.campaigns.conftest import Call, add, body, in_segment, person
from tests.integration.helpers import NOW, due_messages


def test_a_service_manager_schedules_reads_and_lists_a_campaign(call: Call) -> None:
    status, created = call("POST", "/v1/admin/campaigns", body())
    assert status == 201, created
    assert created["status"] == "scheduled" and created["created_by"]
    assert created["send_at"] == {"local_time": "08:30", "date": "2026-11-27"}
    assert created["counts"]["audience"] == 0 and created["counts"]["pending"] == 0
    status, read = call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")
    assert status == 200 and read["campaign_id"] == created["campaign_id"]
    status, listed = call("GET", "/v1/admin/campaigns")
    assert status == 200 and [c["campaign_id"] for c in listed["campaigns"]] == [created["campaign_id"]]
    assert listed["next_cursor"] is None


def test_the_campaigns_list_comes_newest_first_page_by_page_and_a_bad_page_request_is_named(call: Call,
                                                                                          clock) -> None:
    made = []
    for _ in range(3):
        made.append(call("POST", "/v1/admin/campaigns", body())[1]["campaign_id"])
        clock.advance(minutes=1)
    status, first = call("GET", "/v1/admin/campaigns?limit=2")
    assert status == 200 and [c["campaign_id"] for c in first["campaigns"]] == made[:0:-1]
    status, rest = call("GET", f"/v1/admin/campaigns?limit=2&cursor={first['next_cursor']}")
    assert status == 200 and [c["campaign_id"] for c in rest["campaigns"]] == made[:1]
    assert rest["next_cursor"] is None
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=two", "limit"),
                         ("cursor=not-a-cursor", "cursor"), ("page=2", "page")):
        status, refused = call("GET", f"/v1/admin/campaigns?{query}")
        assert status == 400 and refused["field"] == field, (query, refused)


def test_bad_campaigns_are_refused_naming_the_field_and_roles_and_ids_are_checked(call: Call) -> None:
    refused = [
        (body(occasion_id="no-such"), "occasion_id"),
        (body(channels=[]), "channels"),
        (body(channels=["fax"]), "channels[0]"),
        (body(channels=["push"]), "channels[0]"),  # company news has no push template
        (body(send_at={"local_time": "8:30", "date": "2026-11-27"}), "send_at.local_time"),
        (body(send_at={"local_time": "25:00", "date": "2026-11-27"}), "send_at.local_time"),
        (body(send_at={"local_time": "08:30", "date": "2026-02-30"}), "send_at.date"),
        (body(send_at={"local_time": "08:30", "date": "2026-11-01"}), "send_at.date"),  # over everywhere
        (body(send_at={"at": "2026-11-27T08:30:00"}), "send_at.at"),  # no offset
        (body(send_at={}), "send_at"),
        (body(audience={"segment": "vip"}), "audience.segment"),
        (body(audience={}), "audience"),
        (body(audience={"segment": "active", "zone": "x"}), "audience.zone"),
        (body(audience={"segment": "active", "interests": "sport"}), "audience.interests"),
        (body(holdout_share=1), "holdout_share"),
        (body(holdout_share=-0.1), "holdout_share"),
        (body(occasion_id="reactivation-offer",
              ab={"variants": ["A", "B"], "test_share": 1.5, "pick_after": "4h", "metric": "open_rate"}),
         "ab.test_share"),
        (body(occasion_id="reactivation-offer",
              ab={"variants": ["A", "Z"], "test_share": 0.2, "pick_after": "4h", "metric": "open_rate"}),
         "ab.variants[1]"),
        (body(occasion_id="reactivation-offer",
              ab={"variants": ["A", "B"], "test_share": 0.2, "pick_after": "soon", "metric": "open_rate"}),
         "ab.pick_after"),
        (body(occasion_id="reactivation-offer",
              ab={"variants": ["A", "B"], "test_share": 0.2, "pick_after": "4h", "metric": "revenue"}),
         "ab.metric"),
        (body(recur="daily"), "recur"),
        (body(until="2027-01-01"), "until"),
        (body(colour="red"), "colour"),
    ]
    for bad, field in refused:
        status, answer = call("POST", "/v1/admin/campaigns", bad)
        assert (status, answer["error"], answer["field"]) == (400, "invalid_field", field), (bad, answer)
    assert call("GET", "/v1/admin/campaigns")[1] == {"campaigns": [], "next_cursor": None}  # nothing stored

    assert call("POST", "/v1/admin/campaigns", body(), role="point-manager", point="msk-01")[0] == 403
    assert call("GET", "/v1/admin/campaigns", role="point-manager", point="msk-01")[0] == 403
    assert call("GET", "/v1/admin/campaigns/nope")[0] == 404
    assert call("POST", "/v1/admin/campaigns/nope/cancel")[0] == 404


def test_a_campaign_goes_out_at_0830_in_each_members_zone_and_a_done_one_cannot_be_cancelled(call: Call,
                                                                                              clock) -> None:
    zones = {"m-msk": "Europe/Moscow", "m-vvo": "Asia/Vladivostok", "m-nyc": "America/New_York"}
    add(*(person(cid, timezone=zone) for cid, zone in zones.items()), person("m-other"), person("m-nozone"))
    in_segment("active", *zones, "m-nozone")
    in_segment("leaving", "m-other")
    status, created = call("POST", "/v1/admin/campaigns", body())
    assert status == 201
    campaign_id = created["campaign_id"]

    wiring.campaigns().work(clock.now())  # the fan-out: a day ahead of 08:30 at UTC+14
    sent: dict[str, datetime] = {}
    clock.at = datetime(2026, 11, 26, 21, tzinfo=UTC)  # the night before, in Vladivostok
    while clock.now() < datetime(2026, 11, 27, 15, tzinfo=UTC):  # past 08:30 in New York
        wiring.campaigns().work(clock.now())
        for message in due_messages(clock.now()):
            outcome = wiring.step_worker().handle(message)
            if outcome is not None and outcome.touch_status == "sent":
                sent[message["contact_id"]] = clock.now()
        clock.advance(minutes=30)

    assert set(sent) == {*zones, "m-nozone"}
    for contact_id, zone in zones.items():
        local = sent[contact_id].astimezone(ZoneInfo(zone))
        assert (local.date().isoformat(), local.hour, local.minute) == ("2026-11-27", 8, 30), contact_id
    # No zone known: the strategy's first fallback zone (Kaliningrad) sets the time.
    assert sent["m-nozone"].astimezone(ZoneInfo("Europe/Kaliningrad")).strftime("%H:%M") == "08:30"

    clock.advance(days=4)
    wiring.campaigns().work(clock.now())
    status, done = call("GET", f"/v1/admin/campaigns/{campaign_id}")
    assert done["status"] == "done"
    counts = done["counts"]
    assert (counts["audience"], counts["enrolled"], counts["sent"], counts["pending"]) == (4, 4, 4, 0)
    status, refused = call("POST", f"/v1/admin/campaigns/{campaign_id}/cancel")
    assert (status, refused["error"]) == (409, "not_cancellable")


def test_the_fan_out_starts_a_day_before_the_first_zones_send_time(call: Call, clock) -> None:
    add(person("m-1", timezone="Asia/Kamchatka"))
    in_segment("active", "m-1")
    status, created = call("POST", "/v1/admin/campaigns", body(send_at={"local_time": "08:30", "date": "2026-12-10"}))
    assert status == 201
    wiring.campaigns().work(NOW)
    assert call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")[1]["status"] == "scheduled"
    clock.at = datetime(2026, 12, 8, 18, 31, tzinfo=UTC)  # 08:30 at UTC+14, less a day
    wiring.campaigns().work(clock.now())
    wiring.campaigns().work(clock.now())
    read = call("GET", f"/v1/admin/campaigns/{created['campaign_id']}")[1]
    assert read["status"] == "sending" and read["counts"]["enrolled"] == 1
    assert read["first_send_at"] == datetime(2026, 12, 9, 20, 30, tzinfo=UTC).isoformat()  # 08:30 UTC+12
    assert due_messages(clock.now() + timedelta(hours=1)) == []
