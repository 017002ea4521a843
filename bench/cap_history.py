"""Cap history: the DynamoDB read units one send costs as a contact's old touches pile up.

Runs on in-process moto with the real stack of infra/template.yaml. For 10, 1,000 and 5,000 touches older
than the longest cap window, one contact's welcome mail goes through the real step worker, and the read
units of everything the worker reads are priced with DynamoDB's rules (bench/dynamo_meter.py). The cap
windows' query is also priced alone, beside the filtered query it replaced ("before").

Ends with `RESULT cap_history_growth=<RU per send at 5000 / RU per send at 10> goal=<=1.3`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import metering

SIZES = (10, 1_000, 5_000)
GOAL = 1.3
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 10:00 in Moscow


def _old_touches(contact_id: str, count: int, before: datetime) -> None:
    """Sent mails, one a day back from `before`, each with the history a delivered and opened mail has."""
    from chalicelib.store.models import TouchHistoryEntry, TouchModel

    with TouchModel.batch_write() as batch:
        for n in range(count):
            at = before - timedelta(days=n, hours=1)
            batch.save(TouchModel(
                contact_id, f"promo:{n}", touch_id=f"t-{n}", channel="email", occasion_id="welcome-thanks",
                category="promo", chain_id="welcome", step=0, status="opened", decision="send", reason="clear",
                provider_message_id=f"m-{n}", cost=0.0001, created_at=at, updated_at=at + timedelta(hours=2),
                history=[TouchHistoryEntry(at=at, decision="send", status=s) for s in ("reserved", "sent", "opened")],
            ))


def one_send(old: int) -> tuple[float, float, float, str]:
    """Read units of one welcome send, of its cap-window query, and of the filtered query it replaced."""
    from chalicelib import wiring
    from chalicelib.clock import FixedClock
    from chalicelib.domain.rules import longest_window
    from chalicelib.services.tokens import Links
    from chalicelib.store.models import TouchModel
    from cli import provision
    from tests.integration.feedback.conftest import add_contact, enrol
    from tests.integration.helpers import due_messages

    wiring.reset()
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
    window = longest_window(wiring.strategy())
    add_contact("c-1")
    _old_touches("c-1", old, NOW - window - timedelta(days=1))
    enrol("c-1")
    clock = FixedClock(NOW)
    links = Links(wiring.token_keys(), "https://touchplan.example.com", clock)
    worker = dataclasses.replace(wiring.step_worker(), clock=clock, links=links.for_contact)
    [body] = due_messages(NOW)
    with metering() as meter:
        outcome = worker.handle(body)
    send_units = meter.read_units
    with metering() as meter:
        wiring.touches().recent("c-1", NOW, window)
    query_units = meter.read_units
    with metering() as meter:
        list(TouchModel.query("c-1", filter_condition=TouchModel.created_at >= NOW - window))
    return send_units, query_units, meter.read_units, outcome.touch_status if outcome else "none"


def main() -> None:
    print(f"{'old touches':>12} {'RU per send':>12} {'cap query RU':>13} {'before (filter) RU':>19}  outcome")
    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    per_send = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for old in SIZES:
            with mock_aws():
                send, query, before, status = one_send(old)
            per_send[old] = send
            print(f"{old:>12} {send:>12.1f} {query:>13.1f} {before:>19.1f}  {status}")
    growth = per_send[SIZES[-1]] / per_send[SIZES[0]]
    print(f"RESULT cap_history_growth={growth:.2f} goal=<={GOAL}")


if __name__ == "__main__":
    main()
