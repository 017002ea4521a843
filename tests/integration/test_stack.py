"""The stack of infra/template.yaml, as the local stack builds it, and the models that use its tables."""

from datetime import UTC, datetime

from chalicelib.store import models
from cli import provision

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_every_resource_of_the_template_exists_after_provisioning(aws: provision.Stack) -> None:
    assert provision.missing_resources(aws) == []


def test_the_check_notices_a_skipped_part(aws: provision.Stack) -> None:
    topic = next(p for _, p in provision._resources(aws, "AWS::SNS::Subscription"))["TopicArn"]
    sns = aws.client("sns")
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    assert any("AWS::SNS::Subscription" in missing for missing in provision.missing_resources(aws))


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["AttributeName"]: k["KeyType"] for k in schema}


def _types(definitions: list[dict[str, str]]) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


def test_every_model_names_a_table_of_the_template_with_the_same_keys(aws: provision.Stack) -> None:
    dynamodb = aws.client("dynamodb")
    for model in models.ALL_MODELS:
        table = dynamodb.describe_table(TableName=model.Meta.table_name)["Table"]
        schema = model._get_schema()
        assert _keys(table["KeySchema"]) == _keys(schema["key_schema"]), model.__name__
        assert _types(schema["attribute_definitions"]).items() <= _types(table["AttributeDefinitions"]).items()
        indexes = {i["IndexName"]: _keys(i["KeySchema"]) for i in table.get("GlobalSecondaryIndexes", [])}
        for index in schema["global_secondary_indexes"]:
            assert indexes.get(index["index_name"]) == _keys(index["key_schema"]), index["index_name"]


def test_every_model_round_trips_through_its_table(aws: provision.Stack) -> None:
    samples = [
        models.ContactModel(
            "c-1", email="anna@example.com", point_id="msk-01", created_at=NOW,
            consents={"email:marketing": {"state": "granted", "at": NOW.isoformat()}},
            attributes={"first_name": "Anna"},
        ),
        models.IdentityModel("email:anna@example.com", contact_id="c-1", created_at=NOW, doi_sent_at=[1.0]),
        models.ConsentEventModel("c-1", "2026-11-23T09:30:00Z#e1", event_id="e1", kind="requested", at=NOW),
        models.TouchModel(
            "c-1", "welcome#1", touch_id="t-1", channel="email", occasion_id="welcome-1", category="trigger",
            status="sent", provider_message_id="m-1", created_at=NOW,
        ),
        models.EnrollmentModel("c-1", "welcome", status="running", entered_at=NOW, due_shard=3, due_at=1700000000),
        models.OccasionModel("welcome-1", category="trigger", definition='{"channels": ["email"]}'),
        models.SuppressionModel("email:bounce@example.com", reason="hard_bounce", at=NOW),
        models.ApiKeyModel("hash", key_id="k1", role="ingest", created_at=NOW),
        models.StatsModel("welcome#1#a", "2026-11-23", sent=1),
    ]
    for sample in samples:
        sample.save()
        hash_key, range_key = sample._get_hash_range_key_serialized_values()  # type: ignore[attr-defined]
        loaded = type(sample).get(sample._hash_key_attribute().deserialize(hash_key),
                                  range_key and sample._range_key_attribute().deserialize(range_key))
        assert loaded.to_simple_dict() == sample.to_simple_dict(), type(sample).__name__
    assert [t.touch_id for t in models.TouchModel.provider_message_index.query("m-1")] == ["t-1"]
    due = models.EnrollmentModel.due_index.query(3, models.EnrollmentModel.due_at <= 1700000000)
    assert [e.contact_id for e in due] == ["c-1"]
    assert [c.contact_id for c in models.ContactModel.point_index.query("msk-01")] == ["c-1"]
