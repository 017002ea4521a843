"""Tick scaling: the tick over 100,000 enrolments against 1,000, both with 500 due, in one run.

Runs on in-process moto with the real stack of infra/template.yaml and the real tick (its parallel workers,
the due index, SQS). moto's GSI query walks and sorts its whole table, so its own CPU grows with the table
while DynamoDB's would not; the ratio is therefore taken over what carries over to DynamoDB, the counted
requests and read units (priced from the items each request read, bench/dynamo_meter.py), and over the CPU
time spent outside moto's handler. A Scan would fail the run.

Ends with `RESULT tick_scaling=<the larger of the three ratios> goal=<=1.3`.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import Meter, metering

SIZES = (1_000, 100_000)
DUE = 500
GOAL = 1.3
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def seed(total: int, due: int, shards: int, now: datetime = NOW) -> None:
    """`total` welcome enrolments, the first `due` due at `now`, the rest a week later (all on the due index)."""
    from chalicelib import wiring
    from chalicelib.domain.chains import start
    from chalicelib.store.enrollments import enrollment_row
    from chalicelib.store.models import EnrollmentModel

    chain = wiring.strategy().chains["welcome"]
    with EnrollmentModel.batch_write() as batch:
        for n in range(total):
            at = now if n < due else now + timedelta(days=7, seconds=n)
            state = start(chain, None, f"c-{n:06d}", at)
            assert state is not None
            batch.save(enrollment_row(state, shards, now))


def one_tick(total: int) -> tuple[Meter, float, int]:
    """The meter of one tick over `total` enrolments, the CPU seconds spent outside moto, and the claims."""
    from chalicelib import wiring
    from chalicelib.services.tick import tick
    from cli import provision

    wiring.reset()
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
    repository = wiring.enrollments()
    started = time.perf_counter()
    seed(total, DUE, repository.shards)
    print(f"  seeded {total:,} enrolments in {time.perf_counter() - started:.0f} s", flush=True)
    queues = wiring.queues()
    queues.url("steps")  # the queue URL lookup is a one-off per container, not the tick's work
    with metering() as meter:
        cpu = time.process_time()
        result = tick(repository, queues, repository.shards, NOW)
        cpu = time.process_time() - cpu
    return meter, cpu - meter.moto_seconds, result.claimed


def main() -> None:
    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for total in SIZES:
            with mock_aws():
                runs[total] = one_tick(total)
    print(f"{'enrolments':>11} {'claimed':>8} {'requests':>9} {'read units':>11} {'CPU outside moto':>17} "
          f"{'moto CPU':>9}  by operation")
    for total, (meter, cpu, claimed) in runs.items():
        print(f"{total:>11,} {claimed:>8} {meter.total_requests():>9} {meter.read_units:>11.1f} {cpu:>16.3f}s "
              f"{meter.moto_seconds:>8.3f}s  {dict(meter.requests)} {dict(meter.index_queries)}")
    (small, small_cpu, small_claimed), (large, large_cpu, large_claimed) = runs[SIZES[0]], runs[SIZES[1]]
    if large.requests["Scan"] or small.requests["Scan"]:
        raise SystemExit("the tick scanned a table")
    if small_claimed != DUE or large_claimed != DUE:
        raise SystemExit(f"claimed {small_claimed} and {large_claimed}, not {DUE} each")
    ratios = {
        "requests": large.total_requests() / small.total_requests(),
        "read units": large.read_units / small.read_units,
        "CPU outside moto": large_cpu / small_cpu,
    }
    print("ratios (100,000 / 1,000): " + ", ".join(f"{name} {value:.2f}" for name, value in ratios.items()))
    print(f"RESULT tick_scaling={max(ratios.values()):.2f} goal=<={GOAL}")


if __name__ == "__main__":
    main()
