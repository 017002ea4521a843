"""Hostile requests per public and ingest route, and how many got a 5xx (goal 0).

The same strategies as the fuzz suite (tests/integration/hostile.py), on one moto stack, through Chalice's
test client: deep nesting, huge strings, non-ASCII and NUL, Infinity/NaN, extreme dates, wrong types, unknown
fields, big batches, damaged tokens and odd content types. Accepted sign-ups and events are handed to the
real workers; a retry or dead letter there counts as a broken property too (printed, not in the 5xx count).
Then cases drawn from the API document (GET /v1/openapi.json, by schemathesis, derandomized) on every public,
ingest and admin operation, each checked against the document: no 5xx, a documented status, content type and
body. `FUZZ_CASES=N` changes the cases per route (default 1000); `DOCUMENT_CASES=N` per documented operation
(default 100).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.update({"TOUCHPLAN_STAGE": "test", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "TOUCHPLAN_LOG_LEVEL": "ERROR"})
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)

import boto3  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from moto import mock_aws  # noqa: E402

CASES = int(os.environ.get("FUZZ_CASES", "1000"))
DOCUMENT_CASES = int(os.environ.get("DOCUMENT_CASES", "100"))
GOAL = 0


def main() -> None:
    warnings.simplefilter("ignore")
    with mock_aws():
        from chalice.test import Client

        from app import app
        from chalicelib import wiring
        from chalicelib.clock import FixedClock
        from chalicelib.store.keys import ApiKeyRepository
        from cli import provision
        from tests.integration import hostile
        from tests.integration.hostile import Probe, Stage

        provision.deploy(boto3.session.Session(), "test", "eu-west-1")
        fixed = FixedClock(hostile.NOW)
        wiring.clock = cache(lambda: fixed)  # type: ignore[method-assign]
        wiring.reset()
        run = settings(max_examples=CASES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        with Client(app, stage_name="test") as api:
            stage = Stage.seed()
            stage.tokens["doi"].append(hostile.doi_token(api))
            probe = Probe(api)
            ingest = {"Authorization": f"Bearer {stage.ingest_key}"}

            @run
            @given(body=hostile.event_bodies, kind=hostile.json_types)
            def events(body: str, kind: str) -> None:
                probe.send("POST /v1/events", "POST", "/v1/events", body, {**ingest, "Content-Type": kind})

            @run
            @given(body=hostile.signup_bodies, kind=hostile.json_types, headers=hostile.headers)
            def signups(body: str, kind: str, headers: dict[str, str]) -> None:
                probe.send("POST /v1/subscriptions", "POST", "/v1/subscriptions", body,
                           {**headers, "Content-Type": kind})

            def link(method: str, path: str, scope: str, with_body: bool) -> None:
                @run
                @given(data=st.data(), form=hostile.preference_bodies(), headers=hostile.headers)
                def case(data: st.DataObject, form: tuple[str, str], headers: dict[str, str]) -> None:
                    query = data.draw(hostile.token_queries(stage.tokens[scope]))
                    kind, body = form if with_body else ("", "")
                    sent = {**headers, "Content-Type": kind} if with_body else headers
                    probe.send(f"{method} {path}", method, f"{path}?{query}", body, sent, page=True)

                case()

            started = time.perf_counter()
            events()
            signups()
            link("GET", "/v1/confirm", "doi", False)
            link("GET", "/v1/preferences", "prefs", False)
            link("POST", "/v1/preferences", "prefs", True)
            link("GET", "/v1/unsubscribe", "unsub", False)
            link("POST", "/v1/unsubscribe", "unsub", True)
            elapsed = time.perf_counter() - started

            manager = ApiKeyRepository().create("service-manager", None, None, hostile.NOW)[1]
            keys = {"public": {}, "ingest": ingest, "admin": {"Authorization": f"Bearer {manager}"}}
            documented = settings(max_examples=DOCUMENT_CASES, derandomize=True, deadline=None, database=None,
                                  suppress_health_check=list(HealthCheck))
            broken: list[str] = []
            started = time.perf_counter()

            def drawn(operation: object, headers: dict[str, str]) -> None:
                @documented
                @given(case=hostile.documented_cases(operation), data=st.data())
                def case(case: object, data: st.DataObject) -> None:
                    hostile.check_documented(probe, stage, case, data, headers)

                case()

            for tag, headers in keys.items():
                for operation in hostile.operations(api, tag):
                    try:
                        drawn(operation, headers)
                    except Exception as exc:  # a broken property: reported, and the next operation still runs
                        broken.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:300]}")
            document_elapsed = time.perf_counter() - started
    routes = sorted(k for k in probe.counts if not k.endswith((" 5xx", " (document)")))
    from_document = sorted(k for k in probe.counts if k.endswith(" (document)"))
    for route in routes + from_document:
        print(f"{route}: {probe.counts[route]} cases, {probe.counts[f'{route} 5xx']} x 5xx")
    for problem in probe.problems[:20]:
        print(f"broken: {problem}")
    fivexx = sum(probe.counts[f"{route} 5xx"] for route in routes + from_document)
    print(f"{sum(probe.counts[r] for r in routes)} cases in {elapsed:.1f} s; other broken properties: "
          f"{len(probe.problems) - fivexx}")
    print(f"{sum(probe.counts[r] for r in from_document)} cases drawn from the API document over "
          f"{len(from_document)} operations in {document_elapsed:.1f} s; operations with a broken property: "
          f"{len(broken)}")
    for problem in broken[:20]:
        print(f"broken (document): {problem}")
    print(f"RESULT fuzz_5xx={fivexx} goal={GOAL}")


if __name__ == "__main__":
    main()
