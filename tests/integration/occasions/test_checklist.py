"""GET /v1/admin/occasions/{id}/checklist: every contact of a point for one period, with their mark or none,
page by page behind an opaque cursor; a point manager sees only their own point."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.helpers import NOW
from tests.integration.occasions.conftest import add, person

CHECKLIST = "/v1/admin/occasions/{}/checklist"
TOUCHES = "/v1/admin/contacts/{}/touches"


def _all_pages(call, path: str, **keys) -> tuple[list[dict], int]:
    rows, cursor, pages = [], None, 0
    while True:
        status, body = call("GET", path + (f"&cursor={cursor}" if cursor else ""), **keys)
        assert status == 200, body
        rows += body["contacts"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def test_every_contact_of_the_point_is_listed_with_their_mark(call, clock) -> None:
    add(*(person(f"c{i:02d}", segment=None) for i in range(5)), person("elsewhere", "spb-02"),
        person("no-mail", consents=()))
    pm = {"role": "point-manager", "point": "msk-01", "label": "olga"}
    call("POST", TOUCHES.format("c00"), {"occasion_id": "anniversary", "channel": "phone", "comment": "Pleased"}, **pm)
    call("POST", TOUCHES.format("c01"), {"occasion_id": "anniversary", "channel": "phone", "done": False,
                                         "comment": "Away until Monday"}, **pm)
    call("POST", TOUCHES.format("no-mail"), {"occasion_id": "anniversary", "channel": "email"}, **pm)
    status, body = call("GET", CHECKLIST.format("anniversary") + "?point_id=msk-01", **pm)
    assert status == 200
    assert body["period"] == {"from": "2025-12-31T00:00:00+00:00", "to": "2026-12-31T00:00:00+00:00"}
    rows = {r["contact_id"]: r for r in body["contacts"]}
    assert set(rows) == {"c00", "c01", "c02", "c03", "c04", "no-mail"}
    assert (rows["c00"]["state"], rows["c00"]["comment"], rows["c00"]["actor"]) == ("done", "Pleased", "olga")
    assert (rows["c01"]["state"], rows["c01"]["comment"]) == ("not_done", "Away until Monday")
    assert (rows["no-mail"]["state"], rows["no-mail"]["rule"], rows["no-mail"]["reason"]) == (
        "refused", "consent", "no_consent")
    assert rows["c02"] == {"contact_id": "c02", "first_name": None, "email": "c02@example.com", "phone": None,
                           "segment": "prospect", "state": "open"}  # no order yet
    assert body["next_cursor"] is None


def test_a_point_manager_gets_their_own_point_by_default_and_403_for_another(call, clock) -> None:
    add(person("ann"))
    status, body = call("GET", CHECKLIST.format("company-news"), role="point-manager", point="msk-01")
    assert (status, [r["contact_id"] for r in body["contacts"]]) == (200, ["ann"])
    status, body = call("GET", CHECKLIST.format("company-news") + "?point_id=spb-02", role="point-manager",
                        point="msk-01")
    assert (status, body["field"]) == (403, "point_id")
    status, body = call("GET", CHECKLIST.format("company-news"))  # a service manager names the point
    assert (status, body["field"]) == (400, "point_id")


def test_a_large_point_comes_in_pages_that_cover_everyone_once(call, clock) -> None:
    add(*(person(f"p{i:03d}") for i in range(230)))
    rows, pages = _all_pages(call, CHECKLIST.format("company-news") + "?point_id=msk-01&limit=100")
    assert [r["contact_id"] for r in rows] == [f"p{i:03d}" for i in range(230)]
    assert pages == 3


def test_a_period_and_a_segment_choose_the_rows(call, clock) -> None:
    add(person("ann"), person("bob"))
    call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone"})
    last_week = (NOW - timedelta(days=7)).date().isoformat()
    body = call("GET", CHECKLIST.format("company-news") + f"?point_id=msk-01&period={last_week}")[1]
    assert [r["state"] for r in body["contacts"]] == ["open", "open"]
    body = call("GET", CHECKLIST.format("company-news") + "?point_id=msk-01")[1]
    assert [r["state"] for r in body["contacts"]] == ["done", "open"]
    body = call("GET", CHECKLIST.format("company-news") + "?point_id=msk-01&segment=active")[1]
    assert body["contacts"] == []
    clock.advance(days=7)  # a week after the mark: due again
    body = call("GET", CHECKLIST.format("company-news") + "?point_id=msk-01")[1]
    assert [r["state"] for r in body["contacts"]] == ["open", "open"]


def test_a_contact_marked_late_last_period_is_recent_not_open(call, clock) -> None:
    add(person("ann"))
    clock.at = NOW.replace(day=29, hour=20)  # Sunday 2026-11-29, the last day of a Monday-to-Sunday week
    assert call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone"})[0] == 201
    clock.at = NOW.replace(day=30, hour=9)  # Monday: a new period, but a day after the mark
    [row] = call("GET", CHECKLIST.format("company-news") + "?point_id=msk-01")[1]["contacts"]
    assert row["state"] == "recent"
    status, body = call("POST", TOUCHES.format("ann"), {"occasion_id": "company-news", "channel": "phone"})
    assert (status, body["error"]) == (409, "already_marked")


@pytest.mark.parametrize(("query", "field"), [
    ("point_id=msk-01&period=2026-13-01", "period"), ("point_id=msk-01&limit=0", "limit"),
    ("point_id=msk-01&limit=101", "limit"), ("point_id=msk-01&limit=ten", "limit"),
    ("point_id=msk-01&cursor=garbage", "cursor"), ("point_id=msk%2001", "point_id"),
    ("point_id=msk-01&sort=name", "sort"),
])
def test_a_bad_query_gets_400_naming_it(call, clock, query: str, field: str) -> None:
    status, body = call("GET", CHECKLIST.format("company-news") + f"?{query}")
    assert (status, body["field"]) == (400, field)


def test_a_cursor_belongs_to_its_checklist(call, clock) -> None:
    add(*(person(f"p{i}") for i in range(3)))
    cursor = call("GET", CHECKLIST.format("company-news") + "?point_id=msk-01&limit=2")[1]["next_cursor"]
    assert cursor
    status, body = call("GET", CHECKLIST.format("anniversary") + f"?point_id=msk-01&cursor={cursor}")
    assert (status, body["field"]) == (400, "cursor")
    assert call("GET", CHECKLIST.format("no-such") + "?point_id=msk-01")[0] == 404
