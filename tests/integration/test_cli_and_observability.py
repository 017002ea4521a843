"""`touchplan keys create` and the observability middleware, through their public interfaces."""

from __future__ import annotations

import io
import json

from chalice.test import Client

from app import app
from chalicelib.observability import logger
from chalicelib.store.keys import ApiKeyRepository
from cli.main import main


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(aws, capsys) -> None:
    assert main(["keys", "create", "--role", "point-manager", "--point", "msk-01", "--label", "branch"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    key = out[-1]
    assert "role: point-manager" in out[0] and "point: msk-01" in out[0]
    found = ApiKeyRepository().find(key)
    assert found is not None and (found.role, found.point_id) == ("point-manager", "msk-01")
    assert key not in json.dumps(aws.client("dynamodb").scan(TableName="test-api-keys")["Items"])


def test_keys_create_refuses_a_point_manager_without_a_point(aws, capsys) -> None:
    assert main(["keys", "create", "--role", "point-manager"]) == 2
    assert "needs --point" in capsys.readouterr().err


def test_queue_handlers_log_each_record_under_its_own_correlation_id(aws) -> None:
    def body(n: int) -> str:
        return json.dumps({"kind": "event", "event": {
            "type": "site_visit", "id": f"v-{n}", "contact": {"email": "nobody@example.com"},
            "occurred_at": "2026-11-25T10:00:00+03:00", "properties": {}}, "attempt": 0})

    stream = io.StringIO()
    # The Powertools handler keeps the stdout it found at import; read its lines from a stream of our own.
    previous = logger.registered_handler.setStream(stream)
    try:
        with Client(app, stage_name="test") as client:
            event = client.events.generate_sqs_event(queue_name="test-events", message_bodies=[body(1), body(2)])
            carried = {"correlation_id": {"stringValue": "req-1", "dataType": "String"}}
            event["Records"][0]["messageAttributes"] = carried
            event["Records"][1]["messageId"] = "record-2"
            client.lambda_.invoke("on_event", event)
    finally:
        logger.registered_handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    logged = [line for line in lines if line.get("message") == "event"]
    assert [line["status"] for line in logged] == ["unmatched", "unmatched"]
    assert [line["correlation_id"] for line in logged] == ["req-1", "record-2"]
    assert "nobody@example.com" not in json.dumps(lines)
