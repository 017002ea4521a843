"""SQS: the work queues between handlers. Bodies are JSON objects with a `kind` and an `attempt` count."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chalicelib.settings import Settings

BATCH = 10  # SQS SendMessageBatch limit
BATCH_BYTES = 240 * 1024  # SQS takes 256 KB per batch, message attributes included


def _encode(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


class QueueSendError(Exception):
    """Some messages were not accepted; the caller must not report them as enqueued."""


class QueuePublisher:
    def __init__(self, sqs: Any, settings: Settings, correlation: Callable[[], str | None] = lambda: None) -> None:
        self._sqs = sqs
        self._settings = settings
        self._correlation = correlation  # the id of the work that enqueues, carried to the work it enqueues
        self._urls: dict[str, str] = {}

    def url(self, queue: str) -> str:
        if queue not in self._urls:
            name = self._settings.queue(queue)
            self._urls[queue] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[queue]

    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self._sqs.send_message(
            QueueUrl=self.url(queue),
            MessageBody=_encode(body),
            DelaySeconds=max(0, min(900, delay_seconds)),
            MessageAttributes=self._attributes(),
        )

    def _attributes(self) -> dict[str, Any]:
        correlation = self._correlation()
        return {"correlation_id": {"DataType": "String", "StringValue": correlation}} if correlation else {}

    def send_many(self, queue: str, bodies: Iterable[dict[str, Any]]) -> int:
        """Sends in batches of at most BATCH messages and BATCH_BYTES together."""
        sent = 0
        chunk: list[dict[str, Any]] = []
        chunk_bytes = 0
        for body in bodies:
            size = len(_encode(body).encode("utf-8"))
            if chunk and (len(chunk) == BATCH or chunk_bytes + size > BATCH_BYTES):
                sent += self._send_chunk(queue, chunk)
                chunk, chunk_bytes = [], 0
            chunk.append(body)
            chunk_bytes += size
        if chunk:
            sent += self._send_chunk(queue, chunk)
        return sent

    def _send_chunk(self, queue: str, chunk: Sequence[dict[str, Any]]) -> int:
        response = self._sqs.send_message_batch(
            QueueUrl=self.url(queue),
            Entries=[
                {"Id": str(i), "MessageBody": _encode(body),
                 "MessageAttributes": self._attributes()}
                for i, body in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            raise QueueSendError(f"{len(response['Failed'])} of {len(chunk)} messages refused by {queue}")
        return len(chunk)
