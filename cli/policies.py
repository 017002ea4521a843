"""Writes the least-privilege IAM policies `.chalice/policy-<stage>.json` (autogen_policy is off).

Run `make policies` after adding an AWS call; tests/unit/test_policies.py fails when the files drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TABLES = (
    "contacts", "identities", "consent-ledger", "touches", "enrollments",
    "occasions", "suppressions", "api-keys", "stats", "idempotency",
    "catalog",
    "audiences",
)
QUEUES = ("events", "steps", "feedback", "sms-inbound")
DEPLOYED_STAGES = ("dev", "prod")

# Actions AWS does not scope to a resource: these, and only these, get Resource "*".
UNSCOPABLE = ("sns:CheckIfPhoneNumberIsOptedOut", "xray:PutTraceSegments", "xray:PutTelemetryRecords")


def policy(stage: str) -> dict[str, Any]:
    tables = [f"arn:aws:dynamodb:*:*:table/{stage}-{t}" for t in TABLES]
    queues = [f"arn:aws:sqs:*:*:{stage}-{q}" for q in QUEUES]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:*:*:log-group:/aws/lambda/touchplan-{stage}-*",
            },
            {
                "Sid": "Tables",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                    "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
                ],
                "Resource": tables + [f"{arn}/index/*" for arn in tables],
            },
            {
                "Sid": "Queues",
                "Effect": "Allow",
                "Action": [
                    "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
                ],
                "Resource": queues + [f"{arn}-dlq" for arn in queues],
            },
            {
                "Sid": "Email",
                "Effect": "Allow",
                "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                "Resource": [
                    "arn:aws:ses:*:*:identity/*",
                    f"arn:aws:ses:*:*:configuration-set/{stage}-touchplan",
                ],
            },
            {
                # Publishing an SMS has no topic ARN; NotResource allows phone numbers but no topic at all.
                "Sid": "SmsToPhoneNumbersOnly",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "NotResource": "arn:aws:sns:*:*:*",
            },
            {
                "Sid": "Push",
                "Effect": "Allow",
                "Action": [
                    "sns:Publish", "sns:CreatePlatformEndpoint", "sns:SetEndpointAttributes",
                    "sns:GetEndpointAttributes",
                ],
                "Resource": ["arn:aws:sns:*:*:endpoint/*/*", "arn:aws:sns:*:*:app/*/*"],
            },
            {
                "Sid": "TokenKeys",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": f"arn:aws:secretsmanager:*:*:secret:{stage}/touchplan/token-keys-*",
            },
            {"Sid": "Unscopable", "Effect": "Allow", "Action": list(UNSCOPABLE), "Resource": "*"},
            {
                # Ad audience joins and leaves; CreateTopic of the existing topic answers its ARN
                # (chalicelib.delivery.audiences), unless TOUCHPLAN_AUDIENCES_TOPIC_ARN gives it.
                "Sid": "AudiencesTopic",
                "Effect": "Allow",
                "Action": ["sns:Publish", "sns:CreateTopic"],
                "Resource": f"arn:aws:sns:*:*:{stage}-audiences",
            },
        ],
    }


def write(chalice_dir: Path) -> None:
    for stage in DEPLOYED_STAGES:
        (chalice_dir / f"policy-{stage}.json").write_text(json.dumps(policy(stage), indent=2) + "\n")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else ".chalice"))
