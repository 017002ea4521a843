"""infra/template.yaml is lint-clean and deploys on moto CloudFormation with the resources the app uses.

One stack per module. The model round-trip and the local-stack top-up are tested elsewhere.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
STAGE = "test"
REGION = "eu-west-1"

# table -> (hash key, range key or None, {attribute: type}, {gsi: (hash, range or None)})
TABLES: dict[str, tuple[str, str | None, dict[str, str], dict[str, tuple[str, str | None]]]] = {
    "contacts": (
        "contact_id",
        None,
        {"contact_id": "S", "point_id": "S"},
        {"point-index": ("point_id", "contact_id")},
    ),
    "identities": ("identity", None, {"identity": "S"}, {}),
    "consent-ledger": ("contact_id", "event_key", {"contact_id": "S", "event_key": "S"}, {}),
    "touches": (
        "contact_id",
        "touch_key",
        {"contact_id": "S", "touch_key": "S", "provider_message_id": "S", "counted_at": "S"},
        {"provider-message-index": ("provider_message_id", None)},
    ),
    "enrollments": (
        "contact_id",
        "chain_id",
        {"contact_id": "S", "chain_id": "S", "due_shard": "N", "due_at": "N"},
        {"due-index": ("due_shard", "due_at")},
    ),
    "occasions": ("occasion_id", None, {"occasion_id": "S"}, {}),
    "suppressions": ("address", None, {"address": "S"}, {}),
    "api-keys": ("key_hash", None, {"key_hash": "S"}, {}),
    "stats": ("counter_key", "day", {"counter_key": "S", "day": "S"}, {}),
    "idempotency": ("id", None, {"id": "S"}, {}),
    "catalog": ("category", "sku", {"category": "S", "sku": "S"}, {}),
    "audiences": (
        "audience",
        "contact_id",
        {"audience": "S", "contact_id": "S"},
        {"contact-index": ("contact_id", "audience")},
    ),
}
# table -> {local index: range key}; every local index shares the table's hash key
LOCAL_INDEXES = {"touches": {"counted-index": "counted_at"}}


def _model_projections() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every index of the pynamodb models -> (projection type, its non-key attributes sorted)."""
    from chalicelib.store.audiences import AudienceMemberModel
    from chalicelib.store.models import ALL_MODELS

    found = {}
    for model in (*ALL_MODELS, AudienceMemberModel):
        schema = model._get_schema()
        for index in [*schema["global_secondary_indexes"], *schema["local_secondary_indexes"]]:
            projection = index["projection"]
            found[index["index_name"]] = (projection["ProjectionType"],
                                          tuple(sorted(projection.get("NonKeyAttributes", ()))))
    return found


def _projection(index: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    projection = index["Projection"]
    return projection["ProjectionType"], tuple(sorted(projection.get("NonKeyAttributes", ())))
QUEUES = ("events", "steps", "feedback", "sms-inbound")
TOPICS = ("ses-feedback", "sms-inbound", "audiences")


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: every short-form intrinsic (!Ref, !Sub, !GetAtt, !If...) becomes a dict."""


def _intrinsic(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # moto warns about every resource type its CloudFormation skips
            with mock_aws():
                session = boto3.session.Session(region_name=REGION)
                cfn = session.client("cloudformation")
                cfn.create_stack(
                    StackName=f"touchplan-{STAGE}",
                    TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
                    Parameters=[{"ParameterKey": "Stage", "ParameterValue": STAGE}],
                )
                description = cfn.describe_stacks(StackName=f"touchplan-{STAGE}")["Stacks"][0]
                yield {
                    "session": session,
                    "status": description["StackStatus"],
                    "outputs": {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
                }


# ---------------------------------------------------------------- lint


def test_cfn_lint_reports_no_errors_and_no_warnings():
    from cfnlint.api import ManualArgs, lint_file

    # The default level: errors and warnings (informational notes are not reported).
    matches = lint_file(TEMPLATE, ManualArgs(regions=[REGION, "us-east-1"]))
    assert [f"{m.rule.id} {m.rule.severity} line {m.linenumber}: {m.message}" for m in matches] == []


# ---------------------------------------------------------------- the template itself


def test_every_name_is_stage_prefixed_and_deterministic(template):
    named = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::SES::ConfigurationSet": "Name",
        "AWS::SecretsManager::Secret": "Name",
    }
    for logical, resource in template["Resources"].items():
        key = named.get(resource["Type"])
        if key:
            name = resource["Properties"][key]
            assert isinstance(name, dict) and "Fn::Sub" in name, logical
            assert name["Fn::Sub"].startswith("${Stage}-") or name["Fn::Sub"].startswith("${Stage}/"), logical


def test_ttl_only_on_the_idempotency_table(template):
    with_ttl = {
        r["Properties"]["TableName"]["Fn::Sub"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table" and "TimeToLiveSpecification" in r["Properties"]
    }
    assert with_ttl == {"${Stage}-idempotency"}


def test_tables_are_on_demand_encrypted_and_the_proof_tables_recoverable(template):
    tables = {
        r["Properties"]["TableName"]["Fn::Sub"].removeprefix("${Stage}-"): r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    assert set(tables) == set(TABLES)
    for name, resource in tables.items():
        props = resource["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"] == {"SSEEnabled": True}, name
    for name in ("contacts", "consent-ledger", "touches"):
        assert tables[name]["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert tables[name]["DeletionPolicy"] == tables[name]["UpdateReplacePolicy"] == "Retain"


def test_ses_and_sns_wiring(template):
    resources = template["Resources"].values()
    destination = next(r for r in resources if r["Type"] == "AWS::SES::ConfigurationSetEventDestination")
    events = destination["Properties"]["EventDestination"]["MatchingEventTypes"]
    assert set(events) == {"bounce", "complaint", "delivery", "open", "click", "reject", "renderingFailure"}
    subscriptions = [r["Properties"] for r in resources if r["Type"] == "AWS::SNS::Subscription"]
    assert sorted(s["Endpoint"]["Fn::GetAtt"][0] for s in subscriptions) == [
        "FeedbackQueue",
        "SmsInboundQueue",
    ]
    assert all(s["Protocol"] == "sqs" and s["RawMessageDelivery"] is False for s in subscriptions)
    policies = [r["Properties"] for r in resources if r["Type"] == "AWS::SQS::QueuePolicy"]
    assert sorted(p["Queues"][0]["Ref"] for p in policies) == ["FeedbackQueue", "SmsInboundQueue"]
    secret = next(r for r in resources if r["Type"] == "AWS::SecretsManager::Secret")["Properties"]
    assert secret["GenerateSecretString"] == {
        "SecretStringTemplate": '{"current":"k1"}',
        "GenerateStringKey": "k1",
        "ExcludePunctuation": True,
        "PasswordLength": 64,
    }


# ---------------------------------------------------------------- deployed on moto


def test_the_stack_reaches_create_complete(stack):
    assert stack["status"] == "CREATE_COMPLETE"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_has_the_keys_and_indexes_the_app_uses(stack, table):
    hash_key, range_key, attributes, indexes = TABLES[table]
    described = stack["session"].client("dynamodb").describe_table(TableName=f"{STAGE}-{table}")["Table"]
    keys = {k["KeyType"]: k["AttributeName"] for k in described["KeySchema"]}
    assert keys == ({"HASH": hash_key, "RANGE": range_key} if range_key else {"HASH": hash_key})
    assert {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]} == attributes
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    found = {
        index["IndexName"]: ({k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}, _projection(index))
        for index in described.get("GlobalSecondaryIndexes", [])
    }
    # The projections are the models' (narrow ones keep index upkeep cheap): template and models must agree.
    projections = _model_projections()
    expected = {
        name: ({"HASH": h, "RANGE": r} if r else {"HASH": h}, projections[name]) for name, (h, r) in indexes.items()
    }
    assert found == expected
    local = {
        index["IndexName"]: ({k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}, _projection(index))
        for index in described.get("LocalSecondaryIndexes", [])
    }
    assert local == {
        name: ({"HASH": hash_key, "RANGE": r}, projections[name]) for name, r in LOCAL_INDEXES.get(table, {}).items()
    }
    assert stack["outputs"][_output(table, "Table", "Name")] == f"{STAGE}-{table}"
    assert stack["outputs"][_output(table, "Table", "Arn")] == described["TableArn"]


@pytest.mark.parametrize("queue", QUEUES)
def test_queue_has_its_dead_letter_queue_and_timeouts(stack, queue):
    sqs = stack["session"].client("sqs")
    url = sqs.get_queue_url(QueueName=f"{STAGE}-{queue}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq_url = sqs.get_queue_url(QueueName=f"{STAGE}-{queue}-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert int(attributes["VisibilityTimeout"]) == 360  # 6 x the consumer's 60 s timeout
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert int(dlq["MessageRetentionPeriod"]) > int(attributes["MessageRetentionPeriod"])
    assert attributes["SqsManagedSseEnabled"] == dlq["SqsManagedSseEnabled"] == "true"
    assert stack["outputs"][_output(queue, "Queue", "Arn")] == attributes["QueueArn"]
    assert stack["outputs"][_output(queue, "DeadLetterQueue", "Arn")] == dlq["QueueArn"]
    assert stack["outputs"][_output(queue, "Queue", "Url")] == url


@pytest.mark.parametrize("topic", TOPICS)
def test_topic_exists_with_its_outputs(stack, topic):
    arn = f"arn:aws:sns:{REGION}:123456789012:{STAGE}-{topic}"
    stack["session"].client("sns").get_topic_attributes(TopicArn=arn)
    assert stack["outputs"][_output(topic, "Topic", "Arn")] == arn
    assert stack["outputs"][_output(topic, "Topic", "Name")] == f"{STAGE}-{topic}"


def test_outputs_name_the_configuration_set_and_the_secret(stack):
    assert stack["outputs"]["SesConfigurationSetName"] == f"{STAGE}-touchplan"
    assert stack["outputs"]["TokenSigningSecretName"] == f"{STAGE}/touchplan/token-keys"


def _output(name: str, kind: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in name.split("-")) + kind + suffix
