"""Campaign fan-out: a 1,000-member campaign on a 100,000-contact base against the same on 1,000, in one run.

Runs on in-process moto with the real stack of infra/template.yaml: the campaign is created through the
service, fanned out by the tick's campaign work (segment index pages, an enrolment put per member, the
campaign's write per page), and its members claimed and queued by the real tick at the send time. Measured:
DynamoDB and SQS requests per recipient, and the ratios large / small of the counted requests, of the read units
(priced from the items each request read, bench/dynamo_meter.py) and of the CPU spent outside moto's handler.
moto's GSI query walks its whole table, so its own CPU grows with the base while DynamoDB's would not; it is
kept out of the ratio as in bench/tick_scaling.py. A Scan would fail the run.

Ends with `RESULT campaign_fanout_ratio=<the larger of the three ratios> goal=<=1.3`.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import Meter, metering

BASES = (1_000, 100_000)
MEMBERS = 1_000
GOAL = 1.3
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SEND_AT = NOW + timedelta(hours=2)
OTHER_SEGMENTS = ("new", "leaving", "sleeping", "lost", "prospect")


def seed(base: int, members: int) -> None:
    """`base` active contacts with email marketing consent; `members` of them, spread over the id space, in the
    segment `active`, the rest in the other segments."""
    from chalicelib.store.models import ContactModel

    every = base // members
    granted = {"state": "granted", "at": NOW.isoformat()}
    with ContactModel.batch_write() as batch:
        for n in range(base):
            segment = "active" if n % every == 0 else OTHER_SEGMENTS[n % len(OTHER_SEGMENTS)]
            batch.save(ContactModel(
                f"c-{n:06d}", status="active", email=f"c-{n:06d}@example.com", timezone="Europe/Moscow",
                segment=segment, created_at=NOW, confirmed_at=NOW,
                consents={"email:marketing": granted, "any:data_processing": granted}))


def one_campaign(base: int) -> tuple[Meter, Counter[str], float, int, int]:
    """The meter of the campaign's fan-out and its send-time tick, the SQS requests, the CPU seconds outside
    moto, the members enrolled and the steps queued."""
    from chalicelib import wiring
    from chalicelib.clock import FixedClock
    from chalicelib.services.tick import tick
    from cli import provision

    wiring.reset()
    clock = FixedClock(NOW)
    wiring.clock = cache(lambda: clock)  # type: ignore[method-assign]
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
    started = time.perf_counter()
    seed(base, MEMBERS)
    print(f"  seeded {base:,} contacts in {time.perf_counter() - started:.0f} s", flush=True)
    sqs: Counter[str] = Counter()
    wiring.session().register("before-call.sqs.*", lambda model, **_: sqs.update([model.name]))
    queues = wiring.queues()
    queues.url("steps")  # the queue URL lookup is a one-off per container, not the campaign's work
    service = wiring.campaigns()
    campaign = service.create({"occasion_id": "company-news", "audience": {"segment": "active"},
                               "channels": ["email"], "send_at": {"at": SEND_AT.isoformat()}}, "bench")
    enrollments = wiring.enrollments()
    sqs.clear()
    with metering() as meter:
        cpu = time.process_time()
        while service.work(NOW):  # every page of the fan-out, as many ticks as it takes
            pass
        queued = tick(enrollments, queues, enrollments.shards, SEND_AT).claimed
        cpu = time.process_time() - cpu
    enrolled = service.get(campaign["campaign_id"])["counts"]["enrolled"]
    return meter, sqs, cpu - meter.moto_seconds, enrolled, queued


def main() -> None:
    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    runs: dict[int, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for base in BASES:
            with mock_aws():
                runs[base] = one_campaign(base)
    print(f"{'base':>8} {'enrolled':>9} {'queued':>7} {'DynamoDB':>9} {'per member':>11} {'SQS':>5} {'per member':>11} "
          f"{'read units':>11} {'CPU outside moto':>17} {'moto CPU':>9}  by operation")
    for base, (meter, sqs, cpu, enrolled, queued) in runs.items():
        print(f"{base:>8,} {enrolled:>9} {queued:>7} {meter.total_requests():>9} "
              f"{meter.total_requests() / MEMBERS:>11.3f} {sum(sqs.values()):>5} {sum(sqs.values()) / MEMBERS:>11.3f} "
              f"{meter.read_units:>11.1f} {cpu:>16.3f}s {meter.moto_seconds:>8.3f}s  {dict(meter.requests)} "
              f"{dict(meter.index_queries)} {dict(sqs)}")
    small, large = runs[BASES[0]], runs[BASES[1]]
    if small[0].requests["Scan"] or large[0].requests["Scan"]:
        raise SystemExit("the fan-out scanned a table")
    for base, (_, _, _, enrolled, queued) in runs.items():
        if enrolled != MEMBERS or queued != MEMBERS:
            raise SystemExit(f"base {base:,}: enrolled {enrolled} and queued {queued}, not {MEMBERS} each")
    ratios = {
        "requests": (large[0].total_requests() + sum(large[1].values()))
        / (small[0].total_requests() + sum(small[1].values())),
        "read units": large[0].read_units / small[0].read_units,
        "CPU outside moto": large[2] / small[2],
    }
    print("ratios (100,000 / 1,000): " + ", ".join(f"{name} {value:.2f}" for name, value in ratios.items()))
    print(f"RESULT campaign_fanout_ratio={max(ratios.values()):.2f} goal=<={GOAL}")


if __name__ == "__main__":
    main()
