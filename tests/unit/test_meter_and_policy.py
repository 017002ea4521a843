"""The simulation's AWS meter (DynamoDB's sizing rules, who is asking) and the IAM policy check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.simulate import meter
from cli.simulate.meter import Meter, item_size, read_units, write_units
from cli.simulate.policy import Policy, PolicyError, in_stage, load_policy, policy_for, violations

ROOT = Path(__file__).resolve().parents[2]


def test_an_item_is_sized_by_names_and_values_as_dynamodb_counts_them() -> None:
    item = {"id": {"S": "abc"}, "n": {"N": "12345"}, "ok": {"BOOL": True},
            "m": {"M": {"k": {"S": "v"}}}, "l": {"L": [{"S": "x"}, {"NULL": True}]}}

    # id 2+3, n 1+4 (5 digits: 3 bytes + 1), ok 2+1, m 1+(3 + 1+1+1), l 1+(3 + 2 + 2)
    assert item_size(item) == 5 + 5 + 3 + 7 + 8


def test_units_round_up_per_kilobyte_written_and_four_read() -> None:
    assert write_units(10) == 1 and write_units(1025) == 2 and write_units() == 1
    assert write_units(100, 3000) == 3  # an update pays for the larger of before and after
    assert read_units(4096, consistent=True) == 1 and read_units(4097, consistent=True) == 2
    assert read_units(100, consistent=False) == 0.5


def test_a_memory_write_pays_for_the_indexes_its_item_is_on() -> None:
    run = Meter("prod", "eu-west-1")
    with run.invocation("on_step"):
        run.memory_request("PutItem", ("enrollments", _Row(due_shard=3, due_at=100)))
        run.memory_request("PutItem", ("enrollments", _Row(due_shard=None, due_at=None)))

    assert run.usage.dynamodb_write_units == 2 + 1 + 1  # it enters the due index, then leaves it (a delete)
    assert run.calls[("dynamodb", "PutItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/prod-enrollments")] == 2


def test_a_memory_write_that_changes_nothing_an_index_projects_does_not_write_the_index() -> None:
    run = Meter("prod", "eu-west-1")
    with run.invocation("on_step"):
        run.memory_request("PutItem", ("enrollments", _Row(due_shard=3, due_at=100, step=0, reactions={})))
        run.memory_request("PutItem", ("enrollments", _Row(due_shard=3, due_at=100, step=0, reactions={"o": 1})))
        run.memory_request("PutItem", ("enrollments", _Row(due_shard=3, due_at=100, step=1, reactions={"o": 1})))

    # item 1 + index 1; the reaction is not projected: item 1; the step is: item 1 + index 1
    assert run.usage.dynamodb_write_units == 2 + 1 + 2


def test_a_transaction_is_one_request_authorised_by_its_parts() -> None:
    run = Meter("prod", "eu-west-1")
    with run.invocation("api_handler"):
        run.memory_request("TransactWriteItems", [("PutItem", "identities", _Row()),
                                                  ("UpdateItem", "contacts", _Row())])

    table = "arn:aws:dynamodb:eu-west-1:123456789012:table/prod-"
    assert sum(run.calls.values()) == 1
    assert set(run.actions) == {("dynamodb:PutItem", table + "identities"), ("dynamodb:UpdateItem", table + "contacts")}
    assert run.usage.dynamodb_write_units == 4  # transactional writes cost double


def test_only_the_app_and_lambdas_poller_are_checked_and_the_simulator_is_not_counted() -> None:
    run = Meter("prod", "eu-west-1")
    with meter.metering(run):
        meter.record("dynamodb", "Scan", "prod-contacts")  # the simulator looking
        meter.record("sqs", "ReceiveMessage", "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-steps",
                     messages=0)
        with run.invocation("on_step"):
            meter.record("ses", "SendEmail", "identity/no-reply@example.com")
    meter.record("sns", "Publish", "*")  # no meter running: nothing

    assert run.usage.ses_emails == 1 and run.usage.sqs_requests == 0  # an empty poll is not priced
    assert {a for a, _ in run.actions} == {"sqs:ReceiveMessage", "ses:SendEmail"}
    assert run.invocations["on_step"] == 1 and run.usage.lambda_requests == 1


def _policy(*statements: dict) -> Policy:
    return Policy("policy-test.json", tuple(statements))


def test_the_policy_matches_wildcards_in_actions_and_arns_and_a_deny_wins() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": ["dynamodb:Get*", "sqs:SendMessage"],
         "Resource": ["arn:aws:dynamodb:*:*:table/prod-touches", "arn:aws:dynamodb:*:*:table/prod-touches/index/*",
                      "arn:aws:sqs:*:*:prod-steps"]},
        {"Effect": "Allow", "Action": "sns:Publish", "NotResource": "arn:aws:sns:*:*:*"},
        {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/prod-touches/index/x"},
    )
    touches = "arn:aws:dynamodb:eu-west-1:123456789012:table/prod-touches"

    assert policy.allows("DynamoDB:GetItem", touches)
    assert policy.allows("dynamodb:GetItem", touches + "/index/counted-index")
    assert not policy.allows("dynamodb:GetItem", touches + "/index/x")
    assert not policy.allows("dynamodb:PutItem", touches)
    assert not policy.allows("dynamodb:GetItem", touches + "-old")
    assert policy.allows("sns:Publish", "*") and not policy.allows("sns:Publish", "arn:aws:sns:eu-west-1:1:topic")
    assert violations(policy, [("dynamodb:PutItem", touches)], "prod", "prod") == [
        f"policy-test.json does not allow dynamodb:PutItem on {touches}"]
    assert violations(policy, [("sqs:SendMessage", "arn:aws:sqs:eu-west-1:1:test-steps")], "test", "prod") == []


def test_the_stage_names_its_policy_file_and_a_broken_one_is_a_clear_error(tmp_path) -> None:
    assert policy_for("dev") == (ROOT / ".chalice" / "policy-dev.json", "dev")
    assert policy_for("local") == policy_for("test") == (ROOT / ".chalice" / "policy-prod.json", "prod")
    assert in_stage("arn:aws:secretsmanager:eu-west-1:1:secret:local/touchplan/token-keys-Ab", "local", "prod") == (
        "arn:aws:secretsmanager:eu-west-1:1:secret:prod/touchplan/token-keys-Ab")
    assert load_policy(policy_for("prod")[0]).allows(
        "dynamodb:Query", "arn:aws:dynamodb:eu-west-1:123456789012:table/prod-enrollments/index/due-index")
    broken = tmp_path / "p.json"
    broken.write_text(json.dumps({"Version": "2012-10-17"}))
    with pytest.raises(PolicyError, match="Statement"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.json")


class _Row:
    def __init__(self, **values: object) -> None:
        self.contact_id = "c1"
        self.chain_id = "welcome"
        self.__dict__.update(values)


def test_a_row_changed_in_place_is_sized_again() -> None:
    from datetime import UTC, datetime

    from chalicelib.store.memory import _TouchRow
    from chalicelib.store.touches import HistoryEntry

    at = datetime(2026, 3, 2, 8, tzinfo=UTC)
    row = _TouchRow("c1", "k1", "t1", "email", "o1", "trigger", "reserved", at)
    first = meter.row_size(row)
    assert meter.row_size(row) == first

    row.status = "sent"  # as MemoryTouches.mark changes it: four bytes shorter
    assert meter.row_size(row) == first - 4
    row.history.append(HistoryEntry(at=at, decision="send", status="sent"))  # a list grown where it stands
    assert meter.row_size(row) > first - 4
