"""Faults that change nothing: `touchplan simulate --faults` on the memory store, each run audited from
outbox.jsonl and base.jsonl alone (simulation_audit.py), its DLQs and leftover work read from summary.json.

- duplicate: every batch handed to two racing invocations; zero duplicate sends, on 500 contacts.
- throttle:0.2: a fifth of SES and SNS calls refused; every due touch still sent once, the DLQs empty.
- crash:R: the worker dies after the provider accepted a send and before recording it; that send is in the
  outbox once, and no enrolment is left stuck.
- poison:5: malformed records in the DLQ after their attempts, while their batch-mates complete: the run sends
  exactly what the run without them sends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chalicelib.strategy.loader import load_strategy
from cli.simulate.faults import POISON
from tests.integration.simulation_audit import audit, sends, simulate, summary

SMALL = ["--contacts", "30", "--days", "5", "--step-minutes", "120"]


def run(out: Path, size: list[str], faults: str | None = None, seed: int = 11) -> tuple[list[Any], dict[str, Any]]:
    outbox, base = simulate(out, size, *(["--faults", faults] if faults else []), seed=seed)
    assert audit(outbox, base, load_strategy()) == []
    result = summary(out)
    assert result["stuck"] == []  # no enrolment claimed or running past due beyond one tick
    return outbox, result


def dead(result: dict[str, Any]) -> dict[str, int]:
    return {queue: letters["count"] for queue, letters in result["dead_letters"].items() if letters["count"]}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], dict[str, Any]]:
    return run(tmp_path_factory.mktemp("plain"), SMALL)


def test_200_contacts_over_30_days_keep_every_promise(tmp_path) -> None:
    outbox, result = run(tmp_path, ["--contacts", "200", "--days", "30", "--step-minutes", "240"], seed=5)

    assert result["store"] == "memory" and result["funnel"]["signed_up"] == 200
    assert {m["category"] for m in outbox} >= {"doi", "trigger"} and {m["channel"] for m in outbox} >= {"email", "sms"}
    assert len(outbox) > 600 and dead(result) == {}


def test_500_contacts_each_batch_delivered_twice_at_once_get_no_duplicate(tmp_path) -> None:
    outbox, result = run(tmp_path, ["--contacts", "500", "--days", "1", "--step-minutes", "240"], "duplicate")

    assert result["faults"]["injected"]["duplicate"] > 1000  # messages delivered twice
    assert all(batches % 2 == 0 for batches in result["handler_batches"].values())
    assert len({m["touch_id"] for m in outbox}) == len(outbox) > 400
    assert dead(result) == {}


def test_under_throttling_every_due_touch_is_sent_once_and_the_dlqs_stay_empty(plain, tmp_path) -> None:
    outbox, result = run(tmp_path, SMALL, "throttle:0.2")

    assert result["faults"]["injected"]["throttle"] >= 10  # about 20% of some 60 sends
    # A due touch never sent would leave its enrolment running past due (`stuck`, checked by run()).
    assert dead(result) == {}
    assert {m["chain"] for m in outbox} == {m["chain"] for m in plain[0]}


def test_a_crash_between_the_send_and_its_record_sends_once_and_leaves_nothing_stuck(tmp_path) -> None:
    _, result = run(tmp_path, SMALL, "crash:0.1")

    crashed = result["faults"]["injected"]["crash"]
    assert crashed >= 3 and result["failed_batches"] == crashed
    assert dead(result) == {}  # each crashed batch came back after its visibility timeout and completed


def test_poison_records_are_dead_lettered_while_their_batch_mates_complete(plain, tmp_path) -> None:
    outbox, result = run(tmp_path, SMALL, "poison:5")

    planned: dict[str, int] = {}
    for queue, _ in POISON:
        planned[queue] = planned.get(queue, 0) + 1
    assert dead(result) == planned
    letters = [letter for queue in result["dead_letters"].values() for letter in queue["records"]]
    assert all(letter["attempt"] == 1 and letter["error"].startswith("PermanentRecordError") for letter in letters)
    assert sends(outbox) == sends(plain[0])  # nothing else changed


def test_all_faults_together_change_no_promise(tmp_path) -> None:
    _, result = run(tmp_path, SMALL, "duplicate,throttle:0.2,crash:0.3,poison:5")  # each strikes in a small run

    assert set(result["faults"]["injected"]) == {"duplicate", "throttle", "crash", "poison"}
    letters = [letter for queue in result["dead_letters"].values() for letter in queue["records"]]
    # Only poison reaches a DLQ (a duplicated poison record may be dead-lettered by both copies).
    assert 5 <= len(letters) <= 10 and all(not letter["redriven"] for letter in letters)
    assert all(letter["error"].startswith("PermanentRecordError") for letter in letters)


def test_one_seed_gives_the_same_faults(tmp_path) -> None:
    size = ["--contacts", "20", "--days", "3", "--step-minutes", "120"]
    first, one = run(tmp_path / "one", size, "throttle:0.2,crash:0.05,poison:2")
    second, two = run(tmp_path / "two", size, "throttle:0.2,crash:0.05,poison:2")

    assert one["faults"] == two["faults"] and sends(first) == sends(second)
