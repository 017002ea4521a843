"""Per-record failure handling for SQS consumers, without ReportBatchItemFailures.

Chalice never turns on ReportBatchItemFailures (aws/chalice#2029), so a returned failure list is ignored and
the whole batch is deleted on return. Each failing record is therefore re-enqueued by us with a delay and an
attempt count, and sent to the queue's DLQ after MAX_ATTEMPTS, while its batch-mates complete. Only when
re-enqueueing itself fails does the handler raise, so SQS redelivers the whole batch; every record handler
is idempotent, so batch-mates that already succeeded are safe to see again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_ATTEMPTS = 5
# A dead letter is the record plus its reason; one too large for SQS keeps the reason and the record's start.
DEAD_LETTER_BYTES = 250_000


class PermanentRecordError(Exception):
    """The record can never succeed (malformed, refers to nothing): dead-letter it at once."""


class Requeue(Protocol):
    def send(self, queue: str, body: dict[str, Any], delay_seconds: int = 0) -> None: ...


@dataclass
class Outcome:
    done: int = 0
    retried: int = 0
    dead_lettered: int = 0
    errors: list[str] = field(default_factory=list)


def backoff_seconds(attempt: int) -> int:
    return int(min(900, 30 * 2**attempt))


def run_records(
    bodies: Iterable[str],
    queue: str,
    handle: Callable[[dict[str, Any]], None],
    requeue: Requeue,
    log: Callable[..., None],
    parse: Callable[[str], dict[str, Any]] | None = None,
) -> Outcome:
    """Handles each body in turn; ``parse`` reads a body (default: our own work messages, with a ``kind``)."""
    read = parse or _parse
    outcome = Outcome()
    unrequeued: list[Exception] = []
    for raw in bodies:
        try:
            body = read(raw)
            handle(body)
            outcome.done += 1
        except Exception as exc:  # one record's failure, whatever it is, must not fail its batch-mates
            try:
                _route_failure(raw, exc, queue, requeue, outcome)
            except Exception as requeue_exc:
                unrequeued.append(requeue_exc)
            log("record failed", queue=queue, error=type(exc).__name__, detail=str(exc)[:200])
    if unrequeued:
        raise RuntimeError(f"{len(unrequeued)} failed records could not be re-enqueued") from unrequeued[0]
    return outcome


def json_object(raw: str) -> dict[str, Any]:
    """Any JSON object: for bodies written by others (SNS envelopes of provider feedback), which have no ``kind``."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise PermanentRecordError(f"body is not JSON we can read: {str(exc)[:200]}") from exc
    if not isinstance(body, dict):
        raise PermanentRecordError("body must be a JSON object")
    return body


def _parse(raw: str) -> dict[str, Any]:
    body = json_object(raw)
    if not isinstance(body.get("kind"), str):
        raise PermanentRecordError("body must be a JSON object with a 'kind'")
    return body


def _route_failure(raw: str, exc: Exception, queue: str, requeue: Requeue, outcome: Outcome) -> None:
    outcome.errors.append(f"{type(exc).__name__}: {exc}"[:300])
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = {"kind": "unparseable", "raw": raw}
    if not isinstance(body, dict):
        body = {"kind": "unparseable", "raw": raw}
    attempt = _attempt(body.get("attempt"))
    if isinstance(exc, PermanentRecordError) or attempt >= MAX_ATTEMPTS:
        error = f"{type(exc).__name__}: {exc}"[:500]
        dead = {**body, "attempt": attempt, "error": error}
        if len(json.dumps(dead)) > DEAD_LETTER_BYTES:
            dead = {"kind": "oversized", "attempt": attempt, "error": error, "raw": raw[: DEAD_LETTER_BYTES // 2]}
        requeue.send(f"{queue}-dlq", dead)
        outcome.dead_lettered += 1
    else:
        requeue.send(queue, {**body, "attempt": attempt}, delay_seconds=backoff_seconds(attempt))
        outcome.retried += 1


def _attempt(previous: object) -> int:
    """This failure's number; a record whose count is not a small whole number counts as a first failure."""
    return (previous if isinstance(previous, int) and not isinstance(previous, bool) and 0 <= previous < 100
            else 0) + 1
