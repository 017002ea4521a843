"""Feedback: provider calls per touch through the whole send path, and what one SES event costs to handle.

Runs on in-process moto with the real stack of infra/template.yaml, one run:

1. Provider calls per touch under each failure, through the real step worker and feedback handlers (SES and
   SNS calls counted on the clients' `before-call` hooks): throttled then retried, sending paused with a
   second touch behind it, a template failure in a batch of three, a redelivered step message, a STOP
   delivered twice, a permanent bounce delivered twice. The goal is at most one call per touch and attempt,
   and never a second message for one touch.
2. The median time `on_feedback` takes for one SES open event (find the touch by message id, set the chain's
   reaction flags, move the touch, count it) as a ratio to one bare moto DynamoDB write: the event reads
   and writes about eight items, so it should cost about eight writes; more would mean work the event
   does not need. After the first, an open of the same mail is refused by the touch's status move, which
   returns the row with its refusal (no read after it): 5 requests, 11.9 writes' time before that, 8.8 after
   (2026-12-02).

Ends with `RESULT feedback_event_cost_in_writes=<ratio> goal=<=10`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# isort: split
import boto3
from botocore.stub import Stubber
from moto import mock_aws

from tests.integration.helpers import ProviderCalls, due_messages

ROUNDS = 60
GOAL = 10.0
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # Wednesday 10:00 in Moscow


def _fresh_stack() -> None:
    from chalicelib import wiring
    from cli import provision

    wiring.reset()
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")


def _worker(clock: Any, broken_occasion: str | None = None) -> Any:
    """The real step worker with https links; `broken_occasion`'s html uses a variable nobody supplies."""
    from chalicelib import wiring
    from chalicelib.services.tokens import Links

    links = Links(wiring.token_keys(), "https://touchplan.example.com", clock)
    strategy = wiring.strategy()
    if broken_occasion is not None:
        occasion = strategy.occasions[broken_occasion]
        templates = {c: {loc: dataclasses.replace(t, html=t.html + "{{ no_such_variable }}") for loc, t in by.items()}
                     for c, by in occasion.templates.items()}
        strategy = dataclasses.replace(strategy, occasions={
            **strategy.occasions, broken_occasion: dataclasses.replace(occasion, templates=templates)})
    return dataclasses.replace(wiring.step_worker(), clock=clock, links=links.for_contact, strategy=strategy)


def _mails() -> int:
    from cli.outbox import sent_mail, sent_sms

    return len(sent_mail("eu-west-1")) + len(sent_sms("eu-west-1"))


def scenario_throttled_then_retried() -> tuple[int, int, int]:
    from chalicelib.clock import FixedClock
    from chalicelib.services.steps import SendHeld
    from tests.integration.feedback.conftest import add_contact, enrol
    from tests.integration.helpers import due_messages

    add_contact("c-1")
    enrol("c-1")
    clock = FixedClock(NOW)
    worker = _worker(clock)
    ses = worker.outbound.email._client
    calls = ProviderCalls(ses)
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", "TooManyRequestsException", http_status_code=429)
        with contextlib.suppress(SendHeld):
            for message in due_messages(clock.now()):
                worker.handle(message)
    from chalicelib import wiring

    worker.handle({"kind": "step", "contact_id": "c-1", "chain_id": "welcome",
                   "claim": wiring.enrollments().get("c-1", "welcome").claim})
    return 1, calls.sends(), _mails()


def scenario_sending_paused() -> tuple[int, int, int]:
    from chalicelib.clock import FixedClock
    from chalicelib.services.steps import SendHeld
    from tests.integration.feedback.conftest import add_contact, enrol

    for contact_id in ("c-1", "c-2"):
        add_contact(contact_id)
        enrol(contact_id)
    clock = FixedClock(NOW)
    worker = _worker(clock)
    ses = worker.outbound.email._client
    calls = ProviderCalls(ses)
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", "SendingPausedException", http_status_code=400)
        for body in _due(clock):
            with contextlib.suppress(SendHeld):
                worker.handle(body)
    return 2, calls.sends(), _mails()


def scenario_render_failure_in_a_batch() -> tuple[int, int, int]:
    from chalicelib.clock import FixedClock
    from chalicelib.services.records import run_records
    from tests.integration.feedback.conftest import add_contact, enrol

    for contact_id in ("c-1", "c-3"):
        add_contact(contact_id)
        enrol(contact_id)
    add_contact("c-2")
    enrol("c-2", "activation", at=NOW - timedelta(days=14))
    clock = FixedClock(NOW)
    worker = _worker(clock, broken_occasion="activation-survey")
    calls = ProviderCalls(worker.outbound.email._client)

    class Requeue:
        def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None:
            raise AssertionError("nothing in this batch should be retried")

    run_records([json.dumps(b) for b in _due(clock)], "steps", worker.handle, Requeue(), lambda *a, **k: None)
    return 3, calls.sends(), _mails()


def scenario_redelivered_step() -> tuple[int, int, int]:
    from chalicelib.clock import FixedClock
    from tests.integration.feedback.conftest import add_contact, enrol

    add_contact("c-1")
    enrol("c-1")
    clock = FixedClock(NOW)
    worker = _worker(clock)
    calls = ProviderCalls(worker.outbound.email._client)
    [body] = _due(clock)
    worker.handle(body)
    worker.handle(body)
    return 1, calls.sends(), _mails()


def scenario_stop_delivered_twice() -> tuple[int, int, int]:
    from chalicelib import wiring
    from cli.outbox import publish_sms_reply
    from functions import feedback
    from tests.integration.feedback.conftest import add_contact, drain

    add_contact("c-1", phone="+79161234567")
    calls = ProviderCalls(wiring.outbound().sms._client)
    for _ in range(2):
        publish_sms_reply("+79161234567", "STOP", message_id="in-1")
    drain("sms-inbound", feedback.on_sms_inbound)
    return 1, calls.sends(), _mails()


def scenario_bounce_delivered_twice() -> tuple[int, int, int]:
    from chalicelib import wiring
    from cli.outbox import publish_feedback
    from functions import feedback
    from tests.integration.feedback.conftest import add_contact, drain, send_welcome

    add_contact("c-1")
    mail = send_welcome("c-1")
    calls = ProviderCalls(wiring.outbound().email._client, wiring.outbound().sms._client)
    for _ in range(2):
        publish_feedback("bounce-permanent", mail.message_id, at=NOW, feedback_id="fb-1")
    drain("feedback", feedback.on_feedback)
    return 1, 1 + calls.sends(), _mails()  # the one welcome mail; the bounce itself calls no provider


def _due(clock: Any) -> list[dict[str, Any]]:
    return due_messages(clock.now())


def measure_event_cost() -> tuple[float, float]:
    """Median ms of on_feedback for one open event, and of one bare DynamoDB write, interleaved."""
    from chalicelib import wiring
    from chalicelib.store.models import SuppressionModel
    from cli.dispatcher import sqs_event
    from cli.outbox import ses_event
    from functions import feedback
    from tests.integration.feedback.conftest import add_contact, send_welcome

    add_contact("c-1")
    mail = send_welcome("c-1")
    arn = "arn:aws:sqs:eu-west-1:123456789012:bench-feedback"
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:bench-ses-feedback"}
    ours: list[float] = []
    bare: list[float] = []
    for n in range(ROUNDS + 5):
        record = ses_event("open", mail, NOW + timedelta(minutes=n))
        body = json.dumps({**envelope, "Message": json.dumps(record)})
        event = sqs_event(arn, [{"MessageId": f"m-{n}", "ReceiptHandle": "r", "Body": body}])
        start = time.perf_counter()
        feedback.on_feedback(event, None)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        SuppressionModel(f"email:bench-{n}@example.com", reason="manual", at=NOW).save()
        bare.append(time.perf_counter() - start)
    found = wiring.touches().by_provider_message(mail.message_id)
    assert found is not None and wiring.touches().get(found.contact_id, found.touch_key).status == "opened"
    return statistics.median(ours[5:]) * 1000, statistics.median(bare[5:]) * 1000


def main() -> None:
    warnings.simplefilter("ignore")
    logging.getLogger("moto").setLevel(logging.ERROR)  # it warns about each resource type its CloudFormation skips
    import app  # noqa: F401  the handlers with their middleware, as Lambda loads them

    scenarios = {
        "email throttled, then retried by the queue": scenario_throttled_then_retried,
        "email sending paused, a second touch behind it": scenario_sending_paused,
        "template render failure in a batch of three": scenario_render_failure_in_a_batch,
        "step message delivered twice": scenario_redelivered_step,
        "SMS STOP delivered twice (one confirmation)": scenario_stop_delivered_twice,
        "permanent bounce delivered twice": scenario_bounce_delivered_twice,
    }
    worst_extra = 0
    for name, run in scenarios.items():
        with mock_aws():
            _fresh_stack()
            touches, calls, messages = run()
        worst_extra = max(worst_extra, messages - touches)
        print(f"{name}: {touches} touch(es), {calls} provider send call(s), {messages} message(s) out")
    print(f"messages beyond one per touch, worst case: {worst_extra} (goal 0)")

    with mock_aws():
        _fresh_stack()
        ours_ms, bare_ms = measure_event_cost()
    ratio = ours_ms / bare_ms
    print(f"on_feedback, one SES open event, median: {ours_ms:.2f} ms ({ROUNDS} events)")
    print(f"one bare moto DynamoDB write, median: {bare_ms:.2f} ms")
    print(f"RESULT feedback_event_cost_in_writes={ratio:.1f} goal=<={GOAL:.0f}")


if __name__ == "__main__":
    main()
