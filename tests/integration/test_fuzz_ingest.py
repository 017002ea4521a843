"""Fuzzing POST /v1/events: hostile bodies never get a 5xx, refusals are in the contract's shape, and every
accepted event is applied by the real event worker without a retry or a dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration import hostile
from tests.integration.hostile import Deep, Probe, Stage, dump

FUZZ = settings(max_examples=1000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
# Cases drawn from the API document: derandomized, so each run sends the same ones.
DOCUMENTED = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
VISIT = {"type": "site_visit", "id": "v-1", "contact": {"contact_id": hostile.CONTACT},
         "occurred_at": "2026-11-25T10:00:00+03:00"}


@pytest.fixture
def stage(api: Any) -> Iterator[tuple[Probe, Stage]]:
    # `api` runs the app on the shared test clock, at NOW.
    with hostile.quiet_logs():
        yield Probe(api), Stage.seed()


@FUZZ
@given(body=hostile.event_bodies, kind=hostile.json_types)
# Every case of issue 9, and their neighbours.
@example(body="[" * 1000 + "]" * 1000, kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "survey_completed", "properties": {"answers": Deep(500)}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "survey_completed", "properties": {"answers": Deep(200)}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "profile_updated", "properties": {"attributes": {"x": Deep(200)}}}),
         kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "survey_completed", "properties": {"answers": {"q1": "x" * 1_000_000}}}),
         kind=hostile.JSON)
@example(body=hostile.big_batch(), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "order_placed", "properties": {"amount": float("inf")}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "order_placed", "properties": {"amount": float("nan")}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "order_placed", "properties": {"amount": 10**400}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "occurred_at": "0001-01-01T00:00:00+14:00"}), kind=hostile.JSON)
@example(body=dump({**VISIT, "occurred_at": "9999-12-31T23:59:59-14:00"}), kind=hostile.JSON)
@example(body=dump({**VISIT, "occurred_at": "2026-11-25\x0010:00:00+03:00"}), kind=hostile.JSON)
@example(body=dump({**VISIT, "contact": {"contact_id": "c-1\x00"}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "search_performed", "properties": {"query": "\ud800"}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "order_placed",
                    "properties": {"amount": 1, "items": [{"sku": "A1", "course_days": 10**9}]}}), kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "profile_updated", "properties": {"attributes": {"timezone": "x" * 300}}}),
         kind=hostile.JSON)
@example(body=dump({**VISIT, "type": "profile_updated", "properties": {"attributes": {"point_id": "x" * 3000}}}),
         kind=hostile.JSON)
@example(body=dump({"events": [{**VISIT, "id": f"v-{i}"} for i in range(100)]}), kind=hostile.JSON)
@example(body=dump(VISIT), kind="text/plain")
def test_hostile_events_never_get_a_server_error_and_accepted_ones_apply(
    stage: tuple[Probe, Stage], body: str, kind: str
) -> None:
    probe, seeded = stage
    headers = {"Authorization": f"Bearer {seeded.ingest_key}", "Content-Type": kind}
    assert probe.send("POST /v1/events", "POST", "/v1/events", body, headers) is None


def test_events_drawn_from_the_api_document_get_documented_answers(stage: tuple[Probe, Stage]) -> None:
    probe, seeded = stage
    (operation,) = hostile.operations(probe.api, "ingest")
    key = {"Authorization": f"Bearer {seeded.ingest_key}"}

    @DOCUMENTED
    @given(case=hostile.documented_cases(operation), data=st.data())
    def answered(case: Any, data: st.DataObject) -> None:
        hostile.check_documented(probe, seeded, case, data, key)

    answered()
    assert probe.counts["POST /v1/events (document)"] >= 100
