"""The local stack (`touchplan run`, a subprocess on free ports) under a burst of sign-ups, and as data grows.

1. 500 distinct sign-ups sent at once, each on its own connection: sign-ups per second (first sent to last
   answered), answers of 5xx or none at all (goal 0), and lost sign-ups, those that are not a contact found by
   the admin search afterwards (goal 0).
2. Sign-up latency, one at a time, with 100 rows in the consent ledger and with 5,000, as a ratio (goal 1.5):
   moto used to deep-copy every table a transaction names, so each sign-up cost more as the ledger grew. The
   ledger is filled through moto's DynamoDB API with copies of a real sign-up's rows.

Ends with `RESULT local_signup_5xx=<n> goal=0`, `RESULT local_signup_lost=<n> goal=0` and
`RESULT signup_latency_ratio=<v> goal=<=1.5`.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3

from tests.e2e.load import Call, burst, sign_up
from tests.e2e.stack import RunningStack, start_stack, stop_stack

BURST = 500
ROUNDS = 30
WARM_UP = 5
SMALL, LARGE = 100, 5_000
GOAL = 1.5
LEDGER = "local-consent-ledger"


def _dynamodb(stack: RunningStack):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", endpoint_url=stack.moto, region_name="eu-west-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _ledger_rows(stack: RunningStack) -> int:
    return int(_dynamodb(stack).scan(TableName=LEDGER, Select="COUNT")["Count"])


def _fill_ledger(stack: RunningStack, rows: int) -> None:
    """Copies of a real ledger row under new contact ids, until the ledger holds `rows`."""
    dynamodb = _dynamodb(stack)
    sample = dynamodb.scan(TableName=LEDGER, Limit=1)["Items"][0]
    missing = rows - _ledger_rows(stack)
    while missing > 0:
        batch = [{"PutRequest": {"Item": {**sample, "contact_id": {"S": str(uuid.uuid4())}}}}
                 for _ in range(min(25, missing))]
        dynamodb.batch_write_item(RequestItems={LEDGER: batch})
        missing -= len(batch)


def _median_sign_up_ms(stack: RunningStack, tag: str) -> float:
    timings = []
    for i in range(ROUNDS):
        started = time.perf_counter()
        [answer] = burst(stack, [sign_up(f"latency-{tag}-{i}@example.com")])
        timings.append((time.perf_counter() - started) * 1000)
        assert answer.status == 202, answer.text()
    return statistics.median(timings)


def _burst(stack: RunningStack) -> tuple[float, int, int]:
    emails = [f"burst-{i}@example.com" for i in range(BURST)]
    started = time.perf_counter()
    answers = burst(stack, [sign_up(email) for email in emails])
    seconds = time.perf_counter() - started
    failed = sum(1 for a in answers if a.status == 0 or a.status >= 500)
    auth = {"Authorization": f"Bearer {stack.key}"}
    found = burst(stack, [Call("GET", f"/v1/admin/contacts?email={quote(e)}", headers=auth) for e in emails])
    lost = sum(1 for a in found if a.status != 200 or '"contact_id"' not in a.text())
    return BURST / seconds, failed, lost


def main() -> None:
    stack = start_stack()
    try:
        per_second, failed, lost = _burst(stack)
        tracebacks = stack.log_text().count("Traceback")
        print(f"{BURST} concurrent sign-ups: {per_second:.0f}/s, {failed} answered 5xx or not at all, "
              f"{lost} lost, {tracebacks} tracebacks in the stack's log")
    finally:
        stop_stack(stack)

    stack = start_stack()
    try:
        for i in range(WARM_UP):  # the first sign-ups also build clients and templates; and a real row to copy
            burst(stack, [sign_up(f"warm-up-{i}@example.com")])
        _fill_ledger(stack, SMALL)
        small = _median_sign_up_ms(stack, "small")
        _fill_ledger(stack, LARGE)
        large = _median_sign_up_ms(stack, "large")
        print(f"sign-up latency: {small:.1f} ms at {SMALL} ledger rows, {large:.1f} ms at {LARGE}")
    finally:
        stop_stack(stack)
    print(f"RESULT local_signup_5xx={failed} goal=0")
    print(f"RESULT local_signup_lost={lost} goal=0")
    print(f"RESULT signup_latency_ratio={large / small:.2f} goal=<={GOAL}")


if __name__ == "__main__":
    main()
