"""GET /v1/admin/contacts (find) and /v1/admin/contacts/{id} (the card), scoped to a point manager's point."""

from __future__ import annotations

import json

import pytest

from chalicelib.store.keys import ApiKeyRepository
from tests.integration.consent.conftest import contact_id_of, post_signup, signup
from tests.integration.helpers import NOW


def _get(api, path: str, role: str = "service-manager", point: str | None = None) -> tuple[int, dict]:
    key = ApiKeyRepository().create(role, point, None, NOW)[1]
    response = api.http.get(path, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, json.loads(response.body)


@pytest.fixture
def anna(api, clock) -> str:
    post_signup(api, signup())  # point msk-01
    return contact_id_of("anna@example.com")


def test_a_contact_is_found_by_email_phone_or_point(api, anna) -> None:
    for query in ("email=%20Anna@Example.com", "phone=%2B7%20916%20123-45-67", "point_id=msk-01"):
        status, body = _get(api, f"/v1/admin/contacts?{query}")
        assert status == 200, query
        assert [c["contact_id"] for c in body["contacts"]] == [anna], query


def test_the_card_shows_consents_touches_and_chains(api, anna) -> None:
    status, card = _get(api, f"/v1/admin/contacts/{anna}")
    assert status == 200
    assert card["contact"]["contact_id"] == anna
    assert {e["kind"] for e in card["consent_history"]} == {"requested"}
    assert "touches" in card and "enrollments" in card


def test_a_point_manager_sees_only_their_point(api, anna) -> None:
    assert _get(api, "/v1/admin/contacts?point_id=msk-01", "point-manager", "msk-01")[1]["contacts"]
    assert _get(api, "/v1/admin/contacts?email=anna@example.com", "point-manager", "spb-02")[1]["contacts"] == []
    status, body = _get(api, "/v1/admin/contacts?point_id=msk-01", "point-manager", "spb-02")
    assert (status, body["field"]) == (403, "point_id")
    # Another point's contact and an unknown id are answered alike: the answer never tells the id exists.
    assert _get(api, f"/v1/admin/contacts/{anna}", "point-manager", "spb-02") == \
        _get(api, "/v1/admin/contacts/nobody", "point-manager", "spb-02")
    assert _get(api, f"/v1/admin/contacts/{anna}", "point-manager", "spb-02")[0] == 404


@pytest.mark.parametrize(("query", "field"), [("", None), ("email=a@example.com&phone=%2B79161234567", "phone"),
                                               ("phone=12", "phone"),
                                               # blank after trimming: the point index refuses an empty key
                                               ("point_id=%20", "point_id"), ("point_id=+", "point_id"),
                                               ("point_id=msk%2001", "point_id"),
                                               ("point_id=" + "x" * 3000, "point_id")])
def test_a_search_needs_exactly_one_valid_criterion(api, clock, query: str, field: str | None) -> None:
    status, body = _get(api, f"/v1/admin/contacts?{query}")
    assert (status, body["field"]) == (400, field)


def test_an_unknown_contact_is_404_and_an_ingest_key_is_403(api, clock) -> None:
    assert _get(api, "/v1/admin/contacts/nope")[0] == 404
    assert _get(api, "/v1/admin/contacts?point_id=msk-01", "ingest")[0] == 403
