"""Arbitration works both ways: a chain step weighs the contact's due campaign sends as rivals (read in its one
batched read, the sending campaigns known to the worker once a minute), and still costs four requests a mail."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.domain.reasons import Reason
from tests.integration.campaigns.conftest import Call, add, body, in_segment, person
from tests.integration.campaigns.test_campaign_requests import _operations
from tests.integration.helpers import NOW, due_messages

SEND_AT = NOW + timedelta(hours=1)  # 11:00 in Moscow


def test_a_chain_step_gives_way_to_a_higher_priority_campaign_send_and_goes_out_after_the_slot(call: Call,
                                                                                               clock) -> None:
    add(person("c-1", timezone="Europe/Moscow"))
    in_segment("active", "c-1")
    welcome = start(wiring.strategy().chains["welcome"], None, "c-1", SEND_AT)  # its first mail due then too
    snapshot = wiring.snapshot_loader()("c-1")
    assert welcome is not None and snapshot is not None
    wiring.enrollments().save(welcome, None, SEND_AT, addresses=snapshot.address_keys())
    # A birthday greeting (priority 65) sent as a campaign outranks the welcome mail (60).
    status, created = call("POST", "/v1/admin/campaigns",
                           body(occasion_id="birthday-greeting", send_at={"at": SEND_AT.isoformat()}))
    assert status == 201, created
    wiring.campaigns().work(clock.now())
    clock.at = SEND_AT
    messages = {m["chain_id"]: m for m in due_messages(clock.now())}
    assert set(messages) == {"welcome", f"campaign:{created['campaign_id']}:0"}
    worker = wiring.step_worker()

    held = worker.handle(messages["welcome"])
    sent = worker.handle(messages[f"campaign:{created['campaign_id']}:0"])

    assert held is not None and (held.touch_status, held.reason) == ("deferred", Reason.LOWER_PRIORITY)
    assert sent is not None and sent.touch_status == "sent"
    deferred = wiring.enrollments().get("c-1", "welcome")
    assert deferred is not None and deferred.state.due_at is not None
    clock.at = deferred.state.due_at
    [message] = due_messages(clock.now())
    assert worker.strategy.occasions and worker.rival_campaigns()  # each read once a minute per container
    calls = _operations()

    with wiring.stats().batched():  # as the handler runs it: the batch's count is written when it ends
        outcome = worker.handle(message)
        assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1, "UpdateItem": 1}

    assert outcome is not None and outcome.touch_status == "sent"
    assert clock.now() >= SEND_AT + wiring.strategy().arbitration.slot  # type: ignore[union-attr]
