"""Fuzzing the public routes: sign-up, the DOI link, the preference centre and one-click unsubscribe.

Hostile bodies, query strings and headers never get a 5xx; a refusal is the contract's JSON error (JSON
requests) or the HTML error page (links opened in a browser); an accepted sign-up's DOI message is sent by
the real worker without a retry or a dead letter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration import hostile
from tests.integration.hostile import SIGNUP, Deep, Probe, Stage, dump

FUZZ = settings(max_examples=1000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
# Cases per operation drawn from the API document: derandomized, so each run sends the same ones.
DOCUMENTED = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
ISSUE_QUERIES = ["token=k1.%C3%A9.x", "token=k1.abc.%C3%A9", "token=%00", "token=" + "a" * 5000]


@pytest.fixture
def stage(api: Any) -> Iterator[tuple[Probe, Stage]]:
    # `api` runs the app on the shared test clock, at NOW.
    seeded = Stage.seed()
    seeded.tokens["doi"].append(hostile.doi_token(api))
    with hostile.quiet_logs():
        yield Probe(api), seeded


def _query(seeded: Stage, scope: str, data: st.DataObject) -> str:
    return data.draw(hostile.token_queries(seeded.tokens[scope]))


@FUZZ
@given(body=hostile.signup_bodies, kind=hostile.json_types, headers=hostile.headers)
@example(body="[" * 1000 + "]" * 1000, kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "attributes": Deep(500)}), kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "source": "x" * 1_000_000}), kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "email": "anna\x00@example.com"}), kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "attributes": {"first_name": "\ud800"}}), kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "attributes": {"score": float("inf")}}), kind=hostile.JSON, headers={})
@example(body=dump({**SIGNUP, "email": "new@example.com"}), kind=hostile.JSON, headers={})
def test_hostile_signups_never_get_a_server_error(stage: tuple[Probe, Stage], body: str, kind: str,
                                                  headers: dict[str, str]) -> None:
    probe, _ = stage
    assert probe.send("POST /v1/subscriptions", "POST", "/v1/subscriptions", body,
                      {**headers, "Content-Type": kind}) is None


@FUZZ
@given(data=st.data(), headers=hostile.headers)
def test_hostile_confirm_links_never_get_a_server_error(stage: tuple[Probe, Stage], data: st.DataObject,
                                                        headers: dict[str, str]) -> None:
    probe, seeded = stage
    query = data.draw(st.sampled_from(ISSUE_QUERIES) | hostile.token_queries(seeded.tokens["doi"]))
    assert probe.send("GET /v1/confirm", "GET", f"/v1/confirm?{query}", headers=headers, page=True) is None


@FUZZ
@given(data=st.data(), headers=hostile.headers)
def test_hostile_preference_links_never_get_a_server_error(stage: tuple[Probe, Stage], data: st.DataObject,
                                                           headers: dict[str, str]) -> None:
    probe, seeded = stage
    query = data.draw(st.sampled_from(ISSUE_QUERIES) | hostile.token_queries(seeded.tokens["prefs"]))
    assert probe.send("GET /v1/preferences", "GET", f"/v1/preferences?{query}", headers=headers, page=True) is None


@FUZZ
@given(data=st.data(), form=hostile.preference_bodies(), headers=hostile.headers)
def test_hostile_preference_changes_never_get_a_server_error(stage: tuple[Probe, Stage], data: st.DataObject,
                                                             form: tuple[str, str], headers: dict[str, str]) -> None:
    probe, seeded = stage
    query = data.draw(st.sampled_from(ISSUE_QUERIES) | hostile.token_queries(seeded.tokens["prefs"]))
    kind, body = form
    assert probe.send("POST /v1/preferences", "POST", f"/v1/preferences?{query}", body,
                      {**headers, "Content-Type": kind}, page=True) is None


@FUZZ
@given(data=st.data(), headers=hostile.headers)
def test_hostile_unsubscribe_links_never_get_a_server_error(stage: tuple[Probe, Stage], data: st.DataObject,
                                                            headers: dict[str, str]) -> None:
    probe, seeded = stage
    query = data.draw(st.sampled_from(ISSUE_QUERIES) | hostile.token_queries(seeded.tokens["unsub"]))
    assert probe.send("GET /v1/unsubscribe", "GET", f"/v1/unsubscribe?{query}", headers=headers, page=True) is None


@FUZZ
@given(data=st.data(), form=hostile.preference_bodies(), headers=hostile.headers)
def test_hostile_one_click_unsubscribes_never_get_a_server_error(stage: tuple[Probe, Stage], data: st.DataObject,
                                                                 form: tuple[str, str],
                                                                 headers: dict[str, str]) -> None:
    probe, seeded = stage
    query = data.draw(st.sampled_from(ISSUE_QUERIES) | hostile.token_queries(seeded.tokens["unsub"]))
    kind, body = form
    assert probe.send("POST /v1/unsubscribe", "POST", f"/v1/unsubscribe?{query}", body,
                      {**headers, "Content-Type": kind}, page=True) is None


def test_cases_drawn_from_the_api_document_get_documented_answers_on_every_public_route(
        stage: tuple[Probe, Stage]) -> None:
    probe, seeded = stage
    operations = hostile.operations(probe.api, "public")
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {"POST /v1/subscriptions", "GET /v1/confirm"}
    for operation in operations:

        @DOCUMENTED
        @given(case=hostile.documented_cases(operation), data=st.data())
        def answered(case: Any, data: st.DataObject) -> None:
            hostile.check_documented(probe, seeded, case, data, {})

        answered()
    sent = [probe.counts[f"{op.method.upper()} {op.path} (document)"] for op in operations]
    assert min(sent) >= 1 and sum(sent) >= 300, probe.counts  # a route without inputs has one distinct case
