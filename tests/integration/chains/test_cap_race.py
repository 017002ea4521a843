"""20 workers racing on one contact whose cap allows 3 send exactly 3: 20 threads run the real step handler
(on_step) at once, each on its own due send of one contact, on the memory store (moto's DynamoDB does not
serialise conditional writes to one item; DynamoDB and the memory store do).

Before a send's transaction moved the contact's version on with its reservation, each worker read the recent
touches, decided, and reserved its own touch key, so workers that read before the others reserved all saw
room under the cap (measured: 4 of 20 sent).
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
from chalicelib.store.contacts import ConsentRecord, Contact
from cli.dispatcher import LambdaContext, sqs_event
from cli.outbox import sent_mail
from tests.integration.helpers import NOW, due_messages
from tests.integration.store.conftest import use_memory_store

RACERS = 20
CAP = 3


@pytest.fixture
def racing_strategy(aws, monkeypatch: pytest.MonkeyPatch):
    use_memory_store(monkeypatch)
    shipped = wiring.strategy()
    welcome = shipped.chains["welcome"]
    chains = {f"race-{i}": dataclasses.replace(welcome, id=f"race-{i}") for i in range(RACERS)}
    cap = Cap("race", frozenset({"trigger"}), frozenset({"email"}), CAP, timedelta(days=7))
    strategy = dataclasses.replace(shipped, chains=chains, caps=(cap,), arbitration=None)
    monkeypatch.setattr(wiring, "strategy", cache(lambda: strategy))
    wiring.reset()
    return strategy


def _contact(contact_id: str) -> None:
    granted = ConsentRecord("granted", NOW.isoformat(), "marketing-email-v1")
    wiring.memory_store().db.contacts[contact_id] = Contact(
        contact_id=contact_id, status="active", version=1, created_at=NOW, email=f"{contact_id}@example.com",
        timezone="Europe/Moscow", locale="ru-RU", consents={"email:marketing": granted, "any:data_processing": granted},
    )


def all_read_before_any_reserves(monkeypatch: pytest.MonkeyPatch, racers: int = RACERS) -> None:
    """The worst interleaving, every time: each worker's first read of the contact's history waits until all
    `racers` have read it (a worker deciding again reads straight away)."""
    touches = wiring.touches()
    recent, gate, waited = touches.recent, threading.Barrier(racers, timeout=30), threading.local()

    def read_together(*args, **kwargs):
        found = recent(*args, **kwargs)
        if not getattr(waited, "done", False):
            waited.done = True
            gate.wait()
        return found

    monkeypatch.setattr(touches, "recent", read_together)


def test_twenty_workers_racing_on_one_contact_with_a_cap_of_3_send_exactly_3(
    racing_strategy, clock, monkeypatch,
) -> None:
    from functions.queues import on_step

    _contact("c-1")
    for chain in racing_strategy.chains.values():
        state = start(chain, None, "c-1", NOW)
        assert state is not None
        wiring.enrollments().save(state, None, NOW)
    messages = due_messages(clock.now())
    assert len(messages) == RACERS
    all_read_before_any_reserves(monkeypatch)
    gate = threading.Barrier(RACERS)

    def race(message: dict) -> None:
        event = sqs_event("arn:aws:sqs:eu-west-1:123456789012:test-steps", [
            {"MessageId": message["chain_id"], "ReceiptHandle": message["chain_id"], "Body": json.dumps(message)}])
        gate.wait()
        on_step(event, LambdaContext())

    threads = [threading.Thread(target=race, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [t for t in wiring.touches().for_contact("c-1") if t.status == "sent"]
    assert len(sent_mail()) == len(sent) == CAP

