"""SQS records: a failing or poison record is retried or dead-lettered by our code; no record is lost."""

import json

import pytest

from chalicelib import wiring
from chalicelib.services.records import MAX_ATTEMPTS, PermanentRecordError, run_records


def _drain(queue: str) -> list[dict]:
    sqs = wiring.client("sqs")
    url = wiring.queues().url(queue)
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _handler(seen: list[int]):
    def handle(body: dict) -> None:
        if body.get("fail") == "transient":
            raise TimeoutError("provider timed out")
        if body.get("fail") == "permanent":
            raise PermanentRecordError("refers to nothing")
        seen.append(body["n"])

    return handle


def test_batch_mates_complete_while_failures_are_requeued_or_dead_lettered(aws) -> None:
    seen: list[int] = []
    bodies = [
        json.dumps({"kind": "step", "n": 1}),
        json.dumps({"kind": "step", "n": 2, "fail": "transient"}),
        "not json at all",
        json.dumps({"kind": "step", "n": 4, "fail": "permanent"}),
        json.dumps({"kind": "step", "n": 5}),
    ]
    sent: list[tuple[str, dict, int]] = []

    class RecordingQueue:
        def send(self, queue: str, body: dict, delay_seconds: int = 0) -> None:
            sent.append((queue, body, delay_seconds))
            wiring.queues().send(queue, body, delay_seconds)

    outcome = run_records(bodies, "steps", _handler(seen), RecordingQueue(), lambda *a, **k: None)
    assert seen == [1, 5]
    assert (outcome.done, outcome.retried, outcome.dead_lettered) == (2, 1, 2)
    assert sent[0] == ("steps", {"kind": "step", "n": 2, "fail": "transient", "attempt": 1}, 60)
    attributes = wiring.client("sqs").get_queue_attributes(
        QueueUrl=wiring.queues().url("steps"), AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    dead = _drain("steps-dlq")
    assert [d.get("n") for d in dead] == [None, 4]
    assert dead[0]["raw"] == "not json at all"


def test_a_record_that_keeps_failing_reaches_the_dlq_after_the_last_attempt(aws) -> None:
    body = {"kind": "step", "n": 9, "fail": "transient", "attempt": MAX_ATTEMPTS - 1}
    run_records([json.dumps(body)], "steps", _handler([]), wiring.queues(), lambda *a, **k: None)
    assert _drain("steps") == []
    assert [d["n"] for d in _drain("steps-dlq")] == [9]


def test_when_requeueing_fails_the_batch_raises_so_sqs_redelivers_it(aws) -> None:
    class BrokenQueue:
        def send(self, queue, body, delay_seconds=0):
            raise ConnectionError("sqs unreachable")

    with pytest.raises(RuntimeError, match="could not be re-enqueued"):
        run_records([json.dumps({"kind": "step", "n": 1, "fail": "transient"})], "steps", _handler([]),
                    BrokenQueue(), lambda *a, **k: None)
