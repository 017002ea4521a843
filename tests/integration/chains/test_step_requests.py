"""What a step asks DynamoDB for: a sent chain mail is one batched read, the cap windows' query, the transaction
that reserves the touch and advances the enrolment, and the one that marks it sent and counts it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.store.models import CONNECTION
from tests.integration.chains.test_step_worker import _contact, _worker
from tests.integration.helpers import NOW, due_messages


def _operations() -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    CONNECTION.client.meta.events.register("before-call.dynamodb.*", count)
    return calls


def _enrol_as_confirmed(contact_id: str = "c-1") -> None:
    """As a confirmation enrols: with the contact's suppression keys, which the tick hands the step."""
    state = start(wiring.strategy().chains["welcome"], None, contact_id, NOW)
    snapshot = wiring.snapshot_loader()(contact_id)
    assert state is not None and snapshot is not None
    wiring.enrollments().save(state, None, NOW, addresses=snapshot.address_keys())


def test_a_sent_chain_mail_costs_four_dynamodb_requests_and_a_redelivery_one(aws, clock) -> None:
    _contact()
    _enrol_as_confirmed()
    [message] = due_messages(NOW)
    assert message["addresses"] == ["email:c-1@example.com"]
    worker = _worker(clock)
    assert worker.strategy.occasions  # the occasions' stored edits: read once a minute per container, not per step
    calls = _operations()

    outcome = worker.handle(message)

    assert outcome is not None and outcome.touch_status == "sent"
    assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 2}
    calls.clear()
    assert worker.handle(message) is None  # redelivered: the claim is gone, nothing is written
    assert calls == {"BatchGetItem": 1}


def test_an_enrolment_without_suppression_keys_reads_the_suppressions_once_more_then_keeps_them(aws, clock) -> None:
    _contact()
    state = start(wiring.strategy().chains["welcome"], None, "c-1", NOW)
    assert state is not None
    wiring.enrollments().save(state, None, NOW)
    [message] = due_messages(NOW)
    worker = _worker(clock)
    assert worker.strategy.occasions
    calls = _operations()

    worker.handle(message)

    assert calls["BatchGetItem"] == 2
    assert wiring.enrollments().get("c-1", "welcome").addresses == ("email:c-1@example.com",)


def test_the_step_reads_only_the_enrolments_arbitration_can_weigh(aws, clock) -> None:
    from chalicelib.services.steps import rival_chains

    strategy = wiring.strategy()
    rivals = rival_chains(strategy)
    # Chains that send nothing (an audience hook, the stop list) never compete: their keys are not read.
    assert {"retargeting", "stop-list"}.isdisjoint(rivals) and {"welcome", "reactivation"} <= set(rivals)
    _contact()
    _enrol_as_confirmed()
    [message] = due_messages(NOW)
    keys: list[str] = []

    def note(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "BatchGetItem":
            for table, wanted in json.loads(params["body"])["RequestItems"].items():
                if table.endswith("enrollments"):
                    keys.extend(k["chain_id"]["S"] for k in wanted["Keys"])

    CONNECTION.client.meta.events.register("before-call.dynamodb.BatchGetItem", note)
    _worker(clock).handle(message)
    assert sorted(keys) == sorted(rivals)
