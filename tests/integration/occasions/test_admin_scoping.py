"""Every admin route answers 401 without a key and 403 for a role it does not serve; a point manager reaches
only their own point (another point's contact is 404, as unknown; another point's list is 403)."""

from __future__ import annotations

import pytest

from app import app
from tests.integration.occasions.conftest import add, person

# Every admin route with a path a test can call; the test below fails when a route is added without one here.
ROUTES = {
    ("GET", "/v1/admin/contacts"): "/v1/admin/contacts?point_id=msk-01",
    ("GET", "/v1/admin/contacts/{contact_id}"): "/v1/admin/contacts/ann",
    ("DELETE", "/v1/admin/contacts/{contact_id}"): "/v1/admin/contacts/ann",
    ("GET", "/v1/admin/contacts/{contact_id}/export"): "/v1/admin/contacts/ann/export",
    ("POST", "/v1/admin/contacts/{contact_id}/touches"): "/v1/admin/contacts/ann/touches",
    ("GET", "/v1/admin/stats"): "/v1/admin/stats?chain=welcome&from=2026-11-01&to=2026-11-30",
    ("GET", "/v1/admin/occasions"): "/v1/admin/occasions",
    ("GET", "/v1/admin/occasions/{occasion_id}"): "/v1/admin/occasions/anniversary",
    ("PUT", "/v1/admin/occasions/{occasion_id}"): "/v1/admin/occasions/anniversary",
    ("GET", "/v1/admin/occasions/{occasion_id}/checklist"): "/v1/admin/occasions/anniversary/checklist?point_id=msk-01",
    ("PUT", "/v1/admin/catalog"): "/v1/admin/catalog",
    ("GET", "/v1/admin/audiences/{name}/export"): "/v1/admin/audiences/retargeting/export",
}
SERVICE_ONLY = {("GET", "/v1/admin/stats"), ("PUT", "/v1/admin/occasions/{occasion_id}"), ("PUT", "/v1/admin/catalog"),
                ("GET", "/v1/admin/audiences/{name}/export")}
BODIES = {"POST": {"occasion_id": "anniversary", "channel": "phone"}, "PUT": {"version": 0, "occasion": {}}}


def test_the_table_lists_every_admin_route() -> None:
    served = {(method, path) for path, entry in app.routes.items() if path.startswith("/v1/admin")
              for method in entry}
    assert served == set(ROUTES)


@pytest.mark.parametrize(("method", "route"), sorted(ROUTES))
def test_no_key_is_401_and_an_ingest_key_is_403(call, clock, method: str, route: str) -> None:
    path = ROUTES[(method, route)]
    assert call(method, path, BODIES.get(method), role=None)[0] == 401  # the gateway's own answer: no header
    status, body = call(method, path, BODIES.get(method), role=None, bearer="tp_made_up")
    assert (status, body["error"]) == (401, "unauthorized")
    status, body = call(method, path, BODIES.get(method), role="ingest")
    assert (status, body["error"]) == (403, "forbidden")


@pytest.mark.parametrize(("method", "route"), sorted(SERVICE_ONLY))
def test_a_point_manager_may_not_edit_occasions_or_read_stats(call, clock, method: str, route: str) -> None:
    status, body = call(method, ROUTES[(method, route)], BODIES.get(method), role="point-manager", point="msk-01")
    assert (status, body["error"]) == (403, "forbidden")


@pytest.mark.parametrize(("method", "route"), sorted(set(ROUTES) - SERVICE_ONLY))
def test_another_points_manager_is_kept_out(call, clock, method: str, route: str) -> None:
    add(person("ann"))
    status, body = call(method, ROUTES[(method, route)], BODIES.get(method), role="point-manager", point="spb-02")
    if "{contact_id}" in route:
        assert status == 404  # answered as an unknown id: the answer never tells that the contact exists
    elif route in ("/v1/admin/contacts", "/v1/admin/occasions/{occasion_id}/checklist"):
        assert (status, body["field"]) == (403, "point_id")
    else:
        assert status == 200  # the occasions themselves are every point's
    own = call(method, ROUTES[(method, route)], BODIES.get(method), role="point-manager", point="msk-01")
    assert own[0] in (200, 201), own
