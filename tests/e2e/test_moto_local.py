"""The local stack's moto server over HTTP: transactions roll back item by item, and concurrent ones are safe.

moto used to deep-copy every table a transaction named (to roll back from), and its DynamoDB backend raised
"dictionary changed size during iteration" under concurrent transactions. The server's patch is undone after
these tests, so the rest of the session runs on moto as shipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cli.moto_local import LocalMotoServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend, dynamo_type

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dynamo_type.Item, "__init__", dynamo_type.Item.__init__)
        patch.setattr(DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items)  # undone after
        patch.setattr(models, "copy", models.copy)
        server = LocalMotoServer("127.0.0.1", 0)
        server.start()
        try:
            client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{server.port}", region_name="eu-west-1",
                                  aws_access_key_id="local", aws_secret_access_key="local")
            client.create_table(TableName="contacts", BillingMode="PAY_PER_REQUEST",
                                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
            client.create_table(TableName="ledger", BillingMode="PAY_PER_REQUEST",
                                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                                           {"AttributeName": "at", "KeyType": "RANGE"}],
                                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                                      {"AttributeName": "at", "AttributeType": "S"}])
            yield client
            for table in ("contacts", "ledger"):  # moto's backends are this process's: leave them as found
                client.delete_table(TableName=table)
        finally:
            server.stop()


def _ledger(dynamodb: Any, contact: str) -> list[str]:
    items = dynamodb.query(TableName="ledger", KeyConditionExpression="id = :id",
                           ExpressionAttributeValues={":id": {"S": contact}})["Items"]
    return [item["at"]["S"] for item in items]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    dynamodb.put_item(TableName="contacts", Item={"id": {"S": "anna"}, "version": {"N": "1"}})
    dynamodb.put_item(TableName="ledger", Item={"id": {"S": "anna"}, "at": {"S": "1"}})

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "contacts", "Key": {"id": {"S": "anna"}}, "UpdateExpression": "SET version = :v",
                        "ExpressionAttributeValues": {":v": {"N": "2"}}}},
            {"Delete": {"TableName": "ledger", "Key": {"id": {"S": "anna"}, "at": {"S": "1"}}}},
            {"Put": {"TableName": "ledger", "Item": {"id": {"S": "anna"}, "at": {"S": "2"}}}},
            {"Put": {"TableName": "contacts", "Item": {"id": {"S": "boris"}}}},
            {"Put": {"TableName": "contacts", "Item": {"id": {"S": "vera"}},
                     "ConditionExpression": "attribute_exists(id)"}},
        ])

    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    anna = dynamodb.get_item(TableName="contacts", Key={"id": {"S": "anna"}})["Item"]
    assert anna["version"] == {"N": "1"}
    assert _ledger(dynamodb, "anna") == ["1"]
    assert "Item" not in dynamodb.get_item(TableName="contacts", Key={"id": {"S": "boris"}})


def test_a_transaction_that_succeeds_writes_every_item(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=[
        {"Put": {"TableName": "contacts", "Item": {"id": {"S": "gleb"}},
                 "ConditionExpression": "attribute_not_exists(id)"}},
        {"Put": {"TableName": "ledger", "Item": {"id": {"S": "gleb"}, "at": {"S": "1"}}}},
    ])

    assert "Item" in dynamodb.get_item(TableName="contacts", Key={"id": {"S": "gleb"}})
    assert _ledger(dynamodb, "gleb") == ["1"]


def test_concurrent_transactions_all_commit(dynamodb: Any) -> None:
    def sign_up(i: int) -> None:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {"TableName": "contacts", "Item": {"id": {"S": f"c{i}"}},
                     "ConditionExpression": "attribute_not_exists(id)"}},
            {"Put": {"TableName": "ledger", "Item": {"id": {"S": f"c{i}"}, "at": {"S": "1"}}}},
        ])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(sign_up, range(200)))

    assert all(_ledger(dynamodb, f"c{i}") == ["1"] for i in range(200))


def test_an_item_over_400_kb_is_refused_and_one_under_it_is_kept(dynamodb: Any) -> None:
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        dynamodb.put_item(TableName="contacts", Item={"id": {"S": "big"}, "a": {"S": "x" * 300_000},
                                                       "b": {"S": "x" * 110_000}})
    dynamodb.put_item(TableName="contacts", Item={"id": {"S": "fits"}, "a": {"S": "x" * 300_000},
                                                   "b": {"S": "x" * 90_000}})

    assert "Item" not in dynamodb.get_item(TableName="contacts", Key={"id": {"S": "big"}})
    assert len(dynamodb.get_item(TableName="contacts", Key={"id": {"S": "fits"}})["Item"]["b"]["S"]) == 90_000
