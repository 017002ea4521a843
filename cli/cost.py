"""What a run costs on AWS: one dated table of list prices, and the model that prices counted usage.

The prices are the public on-demand list prices of us-east-1 on the date below, without free tiers.
Update the date with the numbers; every estimate prints it, so a reader knows how old the table is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

PRICES_AS_OF = date(2026, 12, 1)
REGION = "us-east-1"


@dataclass(frozen=True)
class Prices:
    """US dollars per unit."""

    lambda_request: float = 0.20 / 1_000_000
    lambda_gb_second: float = 0.0000166667  # x86
    sqs_request: float = 0.40 / 1_000_000  # standard queue, per 64 KB chunk
    dynamodb_write_unit: float = 0.625 / 1_000_000  # on-demand write request unit (1 KB)
    dynamodb_read_unit: float = 0.125 / 1_000_000  # on-demand read request unit (4 KB strongly consistent)
    ses_email: float = 0.10 / 1_000  # SES's own fee per message: reported, kept apart from the AWS model
    sns_request: float = 0.50 / 1_000_000  # publishes, including feedback fan-out to SQS


PRICES = Prices()


@dataclass
class Usage:
    """What a run asked AWS for, counted by the meter that watched it."""

    lambda_requests: float = 0.0
    lambda_gb_seconds: float = 0.0
    sqs_requests: float = 0.0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    ses_emails: float = 0.0
    sns_requests: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def aws_cost(usage: Usage, prices: Prices = PRICES) -> dict[str, float]:
    """Dollars by service. SES's per-message fee is `ses`; `aws` is the rest, what touchplan's design decides."""
    by_service = {
        "lambda": usage.lambda_requests * prices.lambda_request + usage.lambda_gb_seconds * prices.lambda_gb_second,
        "sqs": usage.sqs_requests * prices.sqs_request,
        "dynamodb": usage.dynamodb_write_units * prices.dynamodb_write_unit
        + usage.dynamodb_read_units * prices.dynamodb_read_unit,
        "sns": usage.sns_requests * prices.sns_request,
    }
    by_service["aws"] = sum(by_service.values())
    by_service["ses"] = usage.ses_emails * prices.ses_email
    return by_service
