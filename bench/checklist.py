"""Checklist: the DynamoDB requests and read units of one page of 100 of an occasion's checklist, on a point
with 1,000 contacts and on one with 10,000.

Runs on in-process moto with the real stack of infra/template.yaml. Every third contact has a mark for the
period. A page is read through the real service (chalicelib.services.checklist) twice: the first page, and
a page in the middle of the point reached with its cursor. Requests and read units are counted by
bench/dynamo_meter.py.

Ends with `RESULT checklist_requests_ratio=<requests per page at 10,000 / at 1,000> goal=<=1.0`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import metering

SIZES = (1_000, 10_000)
PAGE = 100
GOAL = 1.0
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
OCCASION = "company-news"


def _fill(point: str, count: int) -> None:
    """`count` active contacts of `point`, every third marked done for this period (batch writes: setup only)."""
    from chalicelib import wiring
    from chalicelib.domain.manual import mark_key, period_of
    from chalicelib.store.models import ContactModel, TouchModel

    key = mark_key(OCCASION, period_of(wiring.strategy().occasions[OCCASION], NOW)[0])
    with ContactModel.batch_write() as contacts, TouchModel.batch_write() as touches:
        for n in range(count):
            contact_id = f"{point}-{n:06d}"
            contacts.save(ContactModel(contact_id, status="active", email=f"{contact_id}@example.com",
                                       point_id=point, created_at=NOW, attributes={"first_name": "Anna"}))
            if n % 3 == 0:
                touches.save(TouchModel(contact_id, key, touch_id=f"t-{n}", channel="phone", occasion_id=OCCASION,
                                        category="manual", status="done", decision="done", actor="olga",
                                        comment="Called", created_at=NOW))


def pages(count: int) -> tuple[int, float, int, float, int]:
    """(requests, read units) of the first page and of a middle page, and the rows the middle page held."""
    from chalicelib import wiring
    from chalicelib.clock import FixedClock
    from chalicelib.services.checklist import Checklist
    from cli import provision

    wiring.reset()
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
    _fill("msk-01", count)
    checklist = Checklist(wiring.strategy(), wiring.contacts(), wiring.touches(), FixedClock(NOW))
    query = {"point_id": "msk-01", "limit": str(PAGE)}
    wiring.strategy().occasions[OCCASION]  # the occasion edits are read once a minute, not per page
    with metering() as meter:
        first = checklist.page(OCCASION, query, None)
    first_requests, first_units = meter.total_requests(), meter.read_units
    cursor = first["next_cursor"]
    for _ in range(count // PAGE // 2 - 1):  # walk to the middle of the point
        cursor = checklist.page(OCCASION, {**query, "cursor": cursor}, None)["next_cursor"]
    with metering() as meter:
        middle = checklist.page(OCCASION, {**query, "cursor": cursor}, None)
    return first_requests, first_units, meter.total_requests(), meter.read_units, len(middle["contacts"])


def main() -> None:
    print(f"{'contacts':>9} {'first page: requests':>21} {'RU':>6} {'middle page: requests':>22} {'RU':>6} {'rows':>5}")
    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    per_page = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for count in SIZES:
            with mock_aws():
                first, first_units, middle, middle_units, rows = pages(count)
            per_page[count] = max(first, middle)
            print(f"{count:>9} {first:>21} {first_units:>6.1f} {middle:>22} {middle_units:>6.1f} {rows:>5}")
    ratio = per_page[SIZES[-1]] / per_page[SIZES[0]]
    small, large = SIZES[0], SIZES[-1]
    print(f"RESULT checklist_requests_ratio={ratio:.2f} goal=<={GOAL} "
          f"(requests per page of {PAGE}: {per_page[small]} at {small:,}, {per_page[large]} at {large:,})")


if __name__ == "__main__":
    main()
