"""Each event type that starts a chain, with only its required properties (and what the chain's trigger asks
for), starts the chain, and its first message renders and is sent: back ends' events posted to /v1/events,
touchplan's own (a confirmed sign-up, the lifecycle timers) raised as touchplan raises them."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.domain.events import EVENTS, INGESTED
from chalicelib.domain.model import SendStep
from chalicelib.domain.rules import in_holdout
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, IdentityModel, TouchModel
from chalicelib.strategy.loader import load_strategy
from cli.outbox import sent_mail
from tests.integration.helpers import NOW
from tests.integration.templates.conftest import run_queue, sent_html, tick_and_run_steps

# chain -> orders the contact already has (the Nth-purchase trigger reads the order number the worker counts)
EARLIER_ORDERS = {"nth-purchase": 4}
STARTED_BY_INGESTED = sorted(
    chain.id for chain in load_strategy().chains.values() if any(t.event in INGESTED for t in chain.start)
)
STARTED_BY_TOUCHPLAN = sorted(
    chain.id for chain in load_strategy().chains.values()
    if any(t.event not in INGESTED for t in chain.start) and any(isinstance(s, SendStep) for s in chain.steps)
)


def _contact(chain_id: str, orders: int) -> str:
    """A confirmed contact with an email address, email marketing consent and nothing else."""
    share = load_strategy().chains[chain_id].holdout
    contact_id = next(f"c-{i}" for i in count() if not in_holdout(f"c-{i}", chain_id, share))
    ContactModel(
        contact_id, status="active", email=f"{contact_id}@example.com", created_at=NOW, orders_count=orders,
        consents={key: {"state": "granted", "at": NOW.isoformat()} for key in ("email:marketing",
                                                                                 "any:data_processing")},
    ).save()
    IdentityModel(f"email:{contact_id}@example.com", contact_id=contact_id, created_at=NOW).save()
    return contact_id


def _minimal_event(chain_id: str) -> dict[str, Any]:
    [trigger] = load_strategy().chains[chain_id].start
    event = INGESTED[trigger.event]
    properties = {p.name: p.sample(full=False) for p in event.properties if p.required}
    for test in trigger.when:  # only what the trigger needs, and only what a back end may send
        if event.property_named(test.property) in event.properties:
            properties[test.property] = test.value[0] if isinstance(test.value, tuple) else test.value
    return {"type": event.name, "properties": properties}


def test_every_chain_an_ingested_event_starts_is_covered() -> None:
    assert STARTED_BY_INGESTED == ["abandoned-browse", "abandoned-cart", "abandoned-search", "favorites",
                                   "nps", "nth-purchase"]


@pytest.mark.parametrize("chain_id", STARTED_BY_INGESTED)
def test_the_minimal_payload_starts_the_chain_and_its_message_is_sent(api: Any, clock: FixedClock,
                                                                      chain_id: str) -> None:
    from functions import queues

    contact_id = _contact(chain_id, EARLIER_ORDERS.get(chain_id, 0))
    key = ApiKeyRepository().create("ingest", None, None, NOW)[1]
    body = {**_minimal_event(chain_id), "id": f"ev-{chain_id}", "contact": {"contact_id": contact_id},
            "occurred_at": NOW.isoformat()}
    response = api.http.post("/v1/events", body=json.dumps(body), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert response.status_code == 202, response.body
    assert run_queue("events", queues.on_event) == 1

    _first_message_is_sent(clock, contact_id, chain_id)


def test_every_chain_touchplans_own_events_start_is_covered() -> None:
    assert STARTED_BY_TOUCHPLAN == ["activation", "birthday", "reactivation", "refill", "welcome"]


@pytest.mark.parametrize("chain_id", STARTED_BY_TOUCHPLAN)
def test_touchplans_own_minimal_event_starts_the_chain_and_its_message_is_sent(aws: Any, clock: FixedClock,
                                                                               chain_id: str) -> None:
    contact_id = _contact(chain_id, 0)
    [trigger] = load_strategy().chains[chain_id].start
    started = wiring.chain_events().apply(contact_id, trigger.event, NOW, NOW, EVENTS[trigger.event].example(False))
    assert chain_id in started
    _first_message_is_sent(clock, contact_id, chain_id)


def _first_message_is_sent(clock: FixedClock, contact_id: str, chain_id: str) -> None:
    stored = wiring.enrollments().get(contact_id, chain_id)
    assert stored is not None and stored.state.status == "running"
    sent = []
    for _ in range(8):  # wait steps: jump to when the enrolment is next due
        tick_and_run_steps()
        sent = [t for t in wiring.touches().for_contact(contact_id) if t.chain_id == chain_id]
        if sent:
            break
        due = wiring.enrollments().get(contact_id, chain_id).state.due_at
        assert due is not None
        clock.at = max(due, clock.now())
    [touch] = sent
    assert (touch.status, touch.reason) == ("sent", "clear"), TouchModel.get(contact_id, touch.touch_key).error
    [(mail, html)] = [(m, h) for m, h in zip(sent_mail(), sent_html(), strict=True)
                      if m.message_id == touch.provider_message_id]
    assert mail.subject and "None" not in mail.subject + mail.text + html
    assert "/v1/unsubscribe?token=" in html and "/v1/preferences?token=" in html
