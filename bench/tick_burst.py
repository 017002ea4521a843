"""Tick burst: how long the tick takes to drain 100,000 items due in the same minute (quiet hours ending).

Runs the real tick on in-process moto over a sample of items all due at once (TICK_BURST_SAMPLE, default
1,000; requests per claim barely depend on it, and moto is slow per request) and counts the requests one
claim costs (DynamoDB queries and conditional updates, SQS batches). The drain is then modelled for
100,000 items at LATENCY per request, each worker issuing its requests one after another: a tick claims
for the invocation's time less the handler's safety margin (functions/schedules.py) or until its budget is
spent, and the next tick starts a minute later. The sequential tick it replaced (one worker, 500 per shard)
is modelled beside it. moto's own claims per second are printed for the record only.

Ends with `RESULT tick_burst_drain_minutes=<minutes> goal=<=5`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import metering

SAMPLE = int(os.environ.get("TICK_BURST_SAMPLE", "1000"))
BURST = 100_000
LATENCY = 0.005  # seconds per request
GOAL = 5.0
NOW = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 08:00 in Moscow


def _timeout_seconds() -> float:
    config = json.loads((Path(__file__).resolve().parents[1] / ".chalice" / "config.json").read_text())
    return float(config["stages"]["prod"]["lambda_functions"]["tick"]["lambda_timeout"])


def drain_minutes(burst: int, per_claim: float, workers: int, per_tick_budget: int, usable: float) -> float:
    """Minutes from the first tick until the last item is claimed, one tick a minute."""
    rate = workers / (per_claim * LATENCY)  # claims per second
    per_tick = min(per_tick_budget, math.floor(rate * usable))
    ticks, rest = divmod(burst, per_tick)
    if rest == 0:
        return (ticks - 1) + per_tick / rate / 60
    return ticks + rest / rate / 60


def main() -> None:
    from chalicelib import wiring
    from chalicelib.services.tick import BUDGET, WORKERS, tick
    from cli import provision
    from functions.schedules import SAFETY_MS
    from tests.integration.helpers import ProviderCalls

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tick_scaling import seed

    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mock_aws():
            wiring.reset()
            provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
            repository = wiring.enrollments()
            seed(SAMPLE, SAMPLE, repository.shards, NOW)
            queues = wiring.queues()
            queues.url("steps")
            sqs = ProviderCalls(queues._sqs)
            with metering() as meter:
                started = time.perf_counter()
                result = tick(repository, queues, repository.shards, NOW)
                elapsed = time.perf_counter() - started
            again = tick(repository, queues, repository.shards, NOW)
    if result.claimed != SAMPLE or again.claimed != 0:
        raise SystemExit(f"claimed {result.claimed} then {again.claimed} of {SAMPLE}")
    requests = meter.total_requests() + len(sqs.calls)
    per_claim = requests / result.claimed
    timeout = _timeout_seconds()
    usable = timeout - min(SAFETY_MS / 1000, timeout / 4)
    print(f"sample: {SAMPLE:,} items due at once, claimed {result.claimed:,} once each "
          f"(a second tick claimed {again.claimed})")
    print(f"requests: {dict(meter.requests)} + SQS {len(sqs.calls)} = {per_claim:.3f} per claim")
    print(f"on moto: {result.claimed / elapsed:,.0f} claims/s with {WORKERS} workers (for the record)")
    print(f"model: {LATENCY * 1000:.0f} ms per request, {usable:.0f} s of a {timeout:.0f} s tick, budget {BUDGET:,}")
    before = drain_minutes(BURST, per_claim, 1, 500 * repository.shards, usable)
    now = drain_minutes(BURST, per_claim, WORKERS, BUDGET, usable)
    rate = WORKERS / (per_claim * LATENCY)
    print(f"sequential tick (1 worker, 500 per shard): {BURST:,} items drain in {before:.1f} min")
    print(f"parallel tick ({WORKERS} workers): {rate * 60:,.0f} claims/min, {BURST:,} items drain in {now:.1f} min")
    print(f"RESULT tick_burst_drain_minutes={now:.1f} goal=<={GOAL:g}")


if __name__ == "__main__":
    main()
