"""Managers' sends racing chain sends on one contact whose cap allows 3 send exactly 3: 10 step workers (on_step)
and 10 managers' sends (each of its own occasion, so no period stands in the way) run at once, every one
reading the contact's history before any of them writes, on the memory store (see test_cap_race).

A manager's send once reserved its touch without the contact's lock the chain sends take, so every send that
read before the others wrote saw room under the cap.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import timedelta
from functools import cache

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.domain.model import Cap
from chalicelib.services.errors import ClientError
from cli.dispatcher import LambdaContext, sqs_event
from cli.outbox import sent_mail
from tests.integration.chains.test_cap_race import _contact, all_read_before_any_reserves
from tests.integration.helpers import NOW, due_messages
from tests.integration.store.conftest import use_memory_store

CHAIN_SENDS = MANUAL_SENDS = 10
CAP = 3


@pytest.fixture
def racing_strategy(aws, monkeypatch: pytest.MonkeyPatch):
    use_memory_store(monkeypatch)
    shipped = wiring.strategy()
    welcome, anniversary = shipped.chains["welcome"], shipped.occasions["anniversary"]
    chains = {f"race-{i}": dataclasses.replace(welcome, id=f"race-{i}") for i in range(CHAIN_SENDS)}
    manual = {f"manual-{i}": dataclasses.replace(anniversary, id=f"manual-{i}") for i in range(MANUAL_SENDS)}
    cap = Cap("race", frozenset({"trigger", "manual"}), frozenset({"email"}), CAP, timedelta(days=7))
    strategy = dataclasses.replace(shipped, chains=chains, occasions={**shipped.occasions, **manual}, caps=(cap,),
                                   arbitration=None)
    monkeypatch.setattr(wiring, "strategy", cache(lambda: strategy))
    wiring.reset()
    return strategy


def test_managers_sends_and_chain_sends_racing_on_one_contact_with_a_cap_of_3_send_exactly_3(
    racing_strategy, clock, monkeypatch,
) -> None:
    from functions.queues import on_step

    _contact("c-1")
    for chain in racing_strategy.chains.values():
        state = start(chain, None, "c-1", NOW)
        assert state is not None
        wiring.enrollments().save(state, None, NOW)
    messages = due_messages(clock.now())
    assert len(messages) == CHAIN_SENDS
    all_read_before_any_reserves(monkeypatch, CHAIN_SENDS + MANUAL_SENDS)
    manual = wiring.manual_touches()
    gate = threading.Barrier(CHAIN_SENDS + MANUAL_SENDS)
    refused: list[int] = []

    def chain_send(message: dict) -> None:
        event = sqs_event("arn:aws:sqs:eu-west-1:123456789012:test-steps", [
            {"MessageId": message["chain_id"], "ReceiptHandle": message["chain_id"], "Body": json.dumps(message)}])
        gate.wait()
        on_step(event, LambdaContext())

    def manual_send(occasion_id: str) -> None:
        gate.wait()
        try:
            manual.mark("c-1", {"occasion_id": occasion_id, "channel": "email", "send": True}, None, "olga")
        except ClientError as exc:
            refused.append(exc.status)

    threads = [threading.Thread(target=chain_send, args=(m,)) for m in messages]
    threads += [threading.Thread(target=manual_send, args=(f"manual-{i}",)) for i in range(MANUAL_SENDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [t for t in wiring.touches().for_contact("c-1") if t.status == "sent"]
    assert len(sent_mail()) == len(sent) == CAP
    assert set(refused) <= {409}  # a manager's send the cap refuses is a 409 naming the rule, never an error
