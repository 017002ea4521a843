"""Minimal inputs through the real handlers: the tick and the queue consumers run as Lambda runs them, on a
clock the test sets and advances."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from typing import Any

from chalicelib import wiring
from cli.dispatcher import LambdaContext, scheduled_event, sqs_event
from cli.outbox import ACCOUNT, REGION


def run_queue(queue: str, handler: Callable[[dict[str, Any], Any], Any]) -> int:
    """Feeds every message waiting on `queue` to the Lambda `handler`, as the event source mapping does."""
    sqs = wiring.client("sqs")
    url = wiring.queues().url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []):
        handler(sqs_event(arn, messages), LambdaContext())
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        handled += len(messages)
    return handled


def tick_and_run_steps() -> int:
    """One EventBridge tick, then the step worker on everything it queued."""
    from functions import queues, schedules

    schedules.tick(scheduled_event("tick"), LambdaContext())
    return run_queue("steps", queues.on_step)


def sent_html() -> list[str]:
    """The HTML part of every mail moto captured, in sending order (the outbox keeps only the text part)."""
    from moto.ses.models import ses_backends

    parts = []
    for message in ses_backends[ACCOUNT][REGION].sent_messages:
        body = email.message_from_string(message.raw_data, policy=email.policy.default).get_body(("html",))
        parts.append(body.get_content() if body is not None else "")  # type: ignore[attr-defined]
    return parts
