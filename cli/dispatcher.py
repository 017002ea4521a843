"""Feeds the real handlers locally, as Lambda's event source mappings and EventBridge do in AWS.

SQS: long-polls each queue a handler is registered on, calls the handler with a real SQS event, and deletes
the batch when the handler returns (as Lambda does). Schedules: fires `rate(...)` expressions, N times faster
with TOUCHPLAN_CLOCK_SPEED.
"""

from __future__ import annotations

import importlib
import re
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib import wiring
from chalicelib.settings import get_settings

RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class LambdaContext:
    function_name = "touchplan-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:touchplan-local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def handler_for(handler_string: str) -> Callable[[dict[str, Any], Any], Any]:
    module, _, name = handler_string.rpartition(".")
    handler: Callable[[dict[str, Any], Any], Any] = getattr(importlib.import_module(module), name)
    return handler


def rate_seconds(expression: str) -> int:
    match = RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"the local dispatcher runs rate(...) schedules only, not {expression!r}")
    return int(match.group(1)) * SECONDS[match.group(2).rstrip("s")]


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                },
                "messageAttributes": {
                    name: {"stringValue": value.get("StringValue"), "dataType": value.get("DataType", "String")}
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": get_settings().region,
            }
            for m in messages
        ]
    }


def scheduled_event(rule: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": get_settings().region,
        "resources": [f"arn:aws:events:{get_settings().region}:123456789012:rule/{rule}"],
        "detail": {},
    }


class Dispatcher:
    def __init__(self, app: Any, clock_speed: float, stopping: threading.Event) -> None:
        self.app = app
        self.clock_speed = clock_speed
        self.stopping = stopping

    def loops(self) -> list[Callable[[], None]]:
        loops: list[Callable[[], None]] = []
        for source in self.app.event_sources:
            kind = type(source).__name__
            if kind == "SQSEventConfig":
                loops.append(self._queue_loop(source.queue, source.batch_size, source.handler_string))
            elif kind == "ScheduledEventConfig":
                loops.append(self._schedule_loop(source.name, source.schedule_expression, source.handler_string))
        return loops

    def _queue_loop(self, queue: str, batch_size: int, handler_string: str) -> Callable[[], None]:
        def loop() -> None:
            sqs = wiring.client("sqs")
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            handler = handler_for(handler_string)
            while not self.stopping.is_set():
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), WaitTimeSeconds=1,
                    AttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
                if not messages:
                    continue
                try:
                    handler(sqs_event(arn, messages), LambdaContext())
                except Exception:  # as in Lambda: a failed batch returns to the queue
                    traceback.print_exc()
                    for m in messages:
                        sqs.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=5
                        )
                    continue
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )

        return loop

    def _schedule_loop(self, rule: str, expression: str, handler_string: str) -> Callable[[], None]:
        interval = rate_seconds(expression) / self.clock_speed

        def loop() -> None:
            handler = handler_for(handler_string)
            while not self.stopping.wait(interval):
                try:
                    handler(scheduled_event(rule), LambdaContext())
                except Exception:  # as in AWS: a failed tick is made up by the next one
                    traceback.print_exc()

        return loop
