"""GET /v1/admin/stats: the counters per chain, step and variant over a period, for service managers."""

from __future__ import annotations

import json

import pytest

from chalicelib import wiring
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.touches import TouchRecord
from tests.integration.feedback.conftest import NOW


def _get(api, path: str, role: str = "service-manager", point: str | None = None) -> tuple[int, dict]:
    key = ApiKeyRepository().create(role, point, None, NOW)[1]
    response = api.http.get(path, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, json.loads(response.body)


def test_a_service_manager_reads_a_chains_counters_for_a_period(api) -> None:
    touch = TouchRecord("c-1", "k-1", "t-1", "email", "welcome-thanks", "trigger", "sent", NOW,
                        chain_id="welcome", step=0)
    wiring.stats().count(touch, {"sent": 1}, NOW)
    day = NOW.date().isoformat()
    status, body = _get(api, f"/v1/admin/stats?chain=welcome&from={day}&to={day}")
    assert status == 200
    assert body["from"] == body["to"] == day
    [row] = body["rows"]
    assert (row["chain"], row["step"], row["variant"], row["sent"]) == ("welcome", 0, None, 1)


@pytest.mark.parametrize(
    ("query", "field"),
    [("chain=nope", "chain"), ("from=yesterday", "from"), ("to=2026-13-01", "to"),
     ("from=2026-11-20&to=2026-11-01", "from"), ("from=2024-01-01&to=2026-11-01", "from"),
     # year 1 was a 500: the default from (to - 29 days) overflowed
     ("to=0001-01-01", "to"), ("from=0001-01-01&to=2026-11-01", "from"), ("to=9999-12-31", "to")],
)
def test_bad_parameters_get_400_naming_them(api, query: str, field: str) -> None:
    status, body = _get(api, f"/v1/admin/stats?{query}")
    assert (status, body["field"]) == (400, field)


def test_point_managers_may_not_read_stats(api) -> None:
    status, body = _get(api, "/v1/admin/stats", role="point-manager", point="msk-01")
    assert (status, body["error"]) == (403, "forbidden")
