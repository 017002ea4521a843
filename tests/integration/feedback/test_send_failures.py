"""Failures on the way out: at most one provider call per touch, a paused channel stops at once, and a
broken template stops its own touch while its batch-mates go out."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from chalicelib import wiring
from chalicelib.services.records import run_records
from chalicelib.services.steps import SendHeld
from chalicelib.services.tokens import Links
from cli.outbox import sent_mail
from tests.integration.feedback.conftest import NOW, add_contact, enrol, worker
from tests.integration.helpers import ProviderCalls, due_messages


class Requeued:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send(self, queue: str, body: dict, delay_seconds: int = 0) -> None:
        self.sent.append((queue, body))


def test_sending_paused_opens_the_circuit_and_the_next_step_makes_no_provider_call(aws, clock) -> None:
    for contact_id in ("c-1", "c-2"):
        add_contact(contact_id)
        enrol(contact_id)
    step_worker = worker()
    ses = step_worker.outbound.email._client
    calls = ProviderCalls(ses)
    first, second = due_messages(clock.now())
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", "SendingPausedException", http_status_code=400)
        with pytest.raises(SendHeld):
            step_worker.handle(first)
        with pytest.raises(SendHeld):
            step_worker.handle(second)  # the circuit is open: refused before any call
        stub.assert_no_pending_responses()

    assert calls.count("SendEmail") == 1
    held = {t.contact_id: t for t in wiring.touches().for_contact("c-1") + wiring.touches().for_contact("c-2")}
    assert held["c-1"].status == held["c-2"].status == "held"
    assert sent_mail() == []


def test_paused_sends_are_retried_later_by_the_queue_not_by_botocore(aws, clock) -> None:
    add_contact("c-1")
    enrol("c-1")
    step_worker = worker()
    ses = step_worker.outbound.email._client
    calls = ProviderCalls(ses)
    requeue = Requeued()
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", "SendingPausedException", http_status_code=400)
        outcome = run_records([json.dumps(b) for b in due_messages(clock.now())], "steps", step_worker.handle, requeue,
                              lambda *a, **k: None)

    assert (outcome.retried, outcome.dead_lettered, calls.count("SendEmail")) == (1, 0, 1)
    assert requeue.sent[0][0] == "steps"


def test_a_template_that_fails_to_render_stops_its_touch_and_the_batch_mates_go_out(aws, clock) -> None:
    # The activation survey's template is broken (an unknown variable): its touch fails with the error on
    # record, the two welcome mails of the same batch go out.
    for contact_id in ("c-1", "c-3"):
        add_contact(contact_id)
        enrol(contact_id)
    add_contact("c-2")
    enrol("c-2", "activation", at=NOW - timedelta(days=14))
    links = Links(wiring.token_keys(), "https://touchplan.example.com", clock)
    strategy = wiring.strategy()
    survey = strategy.occasions["activation-survey"]
    broken = {
        channel: {locale: dataclasses.replace(t, html=t.html + "{{ no_such_variable }}") for locale, t in by.items()}
        for channel, by in survey.templates.items()
    }
    strategy = dataclasses.replace(strategy, occasions={
        **strategy.occasions, "activation-survey": dataclasses.replace(survey, templates=broken)})
    step_worker = dataclasses.replace(worker(), links=links.for_contact, strategy=strategy)
    calls = ProviderCalls(step_worker.outbound.email._client)
    bodies = due_messages(clock.now())
    assert [b["chain_id"] for b in bodies] == ["welcome", "activation", "welcome"]  # one batch of three
    outcome = run_records([json.dumps(b) for b in bodies], "steps", step_worker.handle, Requeued(),
                          lambda *a, **k: None)

    assert (outcome.done, outcome.retried, outcome.dead_lettered) == (3, 0, 0)
    assert sorted(m.to[0] for m in sent_mail()) == ["c-1@example.com", "c-3@example.com"]
    [failed] = wiring.touches().for_contact("c-2")
    assert failed.status == "failed"
    assert calls.count("SendEmail") == 2  # one per sent touch, none for the broken one
    assert failed.error_code == "template_render_failed"
    assert failed.error.startswith("html:") and "no_such_variable" in failed.error
