"""What a step asks DynamoDB for: a sent chain mail is one batched read, the cap windows' query, the transaction
that reserves the touch and advances the enrolment, and the write that marks it sent; the handler counts a
batch's sends of one step with one more write."""

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
    assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1, "UpdateItem": 1}
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


def test_the_handler_counts_a_batch_of_sends_of_one_step_with_one_write(aws, clock) -> None:
    from cli.dispatcher import LambdaContext, sqs_event
    from functions.queues import on_step

    contacts = [f"c-{n}" for n in range(3)]
    for contact_id in contacts:
        _contact(contact_id)
        _enrol_as_confirmed(contact_id)
    messages = due_messages(NOW)
    event = sqs_event("arn:aws:sqs:eu-west-1:123456789012:test-steps", [
        {"MessageId": str(n), "ReceiptHandle": str(n), "Body": json.dumps(m)} for n, m in enumerate(messages)])
    wiring.step_worker()  # built, and its once-a-minute reads made, before counting
    assert wiring.strategy().occasions and wiring.live_campaigns()() == ()
    calls = _operations()

    assert on_step(event, LambdaContext()) == {"done": 3, "retried": 0, "dead_lettered": 0}

    # Each send: the read, the caps' query, the reservation and the mark; then one counter write for all three.
    assert calls == {"BatchGetItem": 3, "Query": 3, "TransactWriteItems": 3, "UpdateItem": 3 + 1}
    [row] = wiring.stats().read("welcome", NOW.date(), NOW.date())
    assert row.counts["sent"] == 3
