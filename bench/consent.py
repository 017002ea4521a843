"""DynamoDB requests per sign-up and per confirmation, and the sign-up handler's latency on moto.

Requests are counted with a botocore `before-call` hook on every DynamoDB client the app uses (pynamodb's
per-model connections, the transaction connection, boto3). Latency is the in-process POST /v1/subscriptions
through Chalice's test client, as a ratio to one moto `put_item` measured in the same run.

Goal 15x one put_item, from what a sign-up does: one BatchGetItem (~1 put), one TransactWriteItems of 4-5
items (~6 puts on moto, which deep-copies every table the transaction touches, the ledger included), one SQS
SendMessage (~2 puts), Chalice's in-process gateway emulation and the Powertools middleware (~3 puts), and
validation with JSON (~1 put): about 13, with headroom for the ledger growing during the run.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.update({"TOUCHPLAN_STAGE": "test", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "TOUCHPLAN_LOG_LEVEL": "WARNING"})
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

GOAL = 15.0
ROUNDS = 60
calls: list[str] = []


def _count(model=None, **_: object) -> None:
    calls.append(model.name if model is not None else "?")


def _hook_everything() -> None:
    from chalicelib import wiring
    from chalicelib.store.models import ALL_MODELS

    clients = [m._get_connection().connection.client for m in ALL_MODELS]
    clients += [wiring.contacts().connection.client, wiring.client("dynamodb")]
    for client in {id(c): c for c in clients}.values():
        client.meta.events.register("before-call.dynamodb", _count)


def _body(i: int) -> str:
    return json.dumps({
        "email": f"bench{i}@example.com",
        "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
        "data_processing": {"text_id": "personal-data-v1"}, "source": "bench", "locale": "ru-RU",
    })


def main() -> None:
    warnings.simplefilter("ignore")
    with mock_aws():
        from chalice.test import Client

        from app import app
        from chalicelib import wiring
        from cli import provision
        from cli.outbox import sent_mail
        from functions.queues import route_step

        provision.deploy(boto3.session.Session(), "test", "eu-west-1")
        wiring.reset()
        _hook_everything()
        headers = {"Content-Type": "application/json"}
        with Client(app, stage_name="test") as client:
            client.http.post("/v1/subscriptions", headers=headers, body=_body(-1))  # warm: caches, queue URL
            calls.clear()
            client.http.post("/v1/subscriptions", headers=headers, body=_body(0))
            new = len(calls)
            calls.clear()
            client.http.post("/v1/subscriptions", headers=headers, body=_body(0))
            again = len(calls)

            sqs = wiring.client("sqs")
            url = sqs.get_queue_url(QueueName="test-steps")["QueueUrl"]
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
                body = json.loads(message["Body"])
                route_step(body)
            link = re.search(r"https?://\S+", sent_mail()[-1].text).group(0)  # type: ignore[union-attr]
            path = "/" + link.split("/", 3)[3]
            calls.clear()
            client.http.get(path)
            confirm = len(calls)

            samples = []
            for i in range(1, ROUNDS + 1):
                start = time.perf_counter()
                client.http.post("/v1/subscriptions", headers=headers, body=_body(i))
                samples.append(time.perf_counter() - start)
        dynamodb = wiring.client("dynamodb")
        puts = []
        for i in range(ROUNDS):
            start = time.perf_counter()
            dynamodb.put_item(TableName="test-suppressions", Item={"address": {"S": f"email:p{i}@example.com"},
                                                                   "reason": {"S": "bench"}})
            puts.append(time.perf_counter() - start)
    ratio = statistics.median(samples) / statistics.median(puts)
    print(f"dynamodb requests per sign-up (new address): {new}")
    print(f"dynamodb requests per sign-up (known address): {again}")
    print(f"dynamodb requests per confirmation: {confirm}")
    print(f"sign-up median {statistics.median(samples) * 1000:.2f} ms, put_item median "
          f"{statistics.median(puts) * 1000:.2f} ms")
    print(f"RESULT subscribe_latency_ratio={ratio:.2f} goal={GOAL}")


if __name__ == "__main__":
    main()
