"""What a campaign costs DynamoDB on moto: a sent campaign mail is the chain step's four requests (the campaign
row rides in the step's batched read), and a fan-out page is one index Query, a put per member and the
campaign's write."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chalicelib import wiring
from chalicelib.store.models import CONNECTION
from tests.integration.campaigns.conftest import Call, add, body, in_segment, person
from tests.integration.helpers import due_messages


def _operations() -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    CONNECTION.client.meta.events.register("before-call.dynamodb.*", count)
    return calls


def test_a_fan_out_page_and_a_sent_campaign_mail_cost_what_a_chain_step_costs(call: Call, clock) -> None:
    members = [f"r-{n}" for n in range(5)]
    add(*(person(cid, timezone="Europe/Moscow") for cid in members))
    in_segment("active", *members)
    assert call("POST", "/v1/admin/campaigns", body())[0] == 201
    clock.at = datetime(2026, 11, 26, 12, tzinfo=UTC)
    service = wiring.campaigns()
    worker = wiring.step_worker()
    assert worker.strategy.occasions  # the occasions' edits: read once a minute per container, not per step
    calls = _operations()

    service.work(clock.now())

    # Scheduled -> fanning out (one write), one page: the index Query and the batch read of its contacts, a put
    # per member, the campaign's write; then the tick's read of the active campaigns.
    assert calls == {"Query": 2, "BatchGetItem": 1, "PutItem": 2 + len(members)}
    clock.at = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)  # 08:30 in Moscow
    messages = due_messages(clock.now())
    assert len(messages) == len(members)
    assert worker.strategy.occasions  # the clock moved on: this minute's read of the occasions' edits
    assert worker.rival_campaigns()  # and of the sending campaigns, whose enrolments are arbitration rivals
    calls.clear()

    with wiring.stats().batched():  # as the handler runs it: the batch's count is written when it ends
        outcome = worker.handle(messages[0])
        assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1, "UpdateItem": 1}

    assert outcome is not None and outcome.touch_status == "sent"
    calls.clear()
    assert worker.handle(messages[0]) is None  # redelivered: the claim is gone, nothing is written
    assert calls == {"BatchGetItem": 1}
