"""What a run costs on AWS: one dated table of list prices, and the model that prices counted usage.

The prices are the public on-demand list prices of us-east-1 on the date below, without free tiers.
Update the date with the numbers; every estimate prints it, so a reader knows how old the table is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date
from typing import Any

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


# Modelled round trip per request, added to a handler's CPU time for Lambda's billed duration: the simulation
# runs AWS in-process, so its wall time says nothing about the network. Typical same-region figures.
LATENCY_SECONDS = {"dynamodb": 0.005, "sqs": 0.010, "ses": 0.040, "sns": 0.030, "secretsmanager": 0.020}


def _per_thousand(amount: float, messages: int) -> float:
    return amount * 1000 / messages if messages else 0.0


def estimate(usage: Usage, messages: Sequence[tuple[str, str]], channel_costs: Mapping[str, float],
             currency: str, prices: Prices = PRICES) -> dict[str, Any]:
    """The run's cost: the strategy's channel fees (in its currency) and the modelled AWS cost (US dollars), in
    all, per chain and per channel, and per 1,000 messages. `messages` is (chain, channel) per message sent.

    The AWS cost without SES's fee is split by each chain's (channel's) share of the messages; SES's fee goes
    to the emails. The two currencies are never added up."""
    by_service = aws_cost(usage, prices)
    shared, ses_fee = by_service["aws"], prices.ses_email
    emails = sum(1 for _, channel in messages if channel == "email")
    total = len(messages)

    def group(rows: list[tuple[str, str]]) -> dict[str, Any]:
        fees = sum(channel_costs.get(channel, 0.0) for _, channel in rows)
        aws = shared * len(rows) / total if total else 0.0
        ses = ses_fee * sum(1 for _, channel in rows if channel == "email") if emails else 0.0
        return {"messages": len(rows), "channel_fees": round(fees, 6), "aws_usd": aws + ses,
                "per_1000_messages": {"channel_fees": round(_per_thousand(fees, len(rows)), 6),
                                      "aws_usd": _per_thousand(aws + ses, len(rows))}}

    chains: dict[str, list[tuple[str, str]]] = {}
    channels: dict[str, list[tuple[str, str]]] = {}
    for chain, channel in messages:
        chains.setdefault(chain, []).append((chain, channel))
        channels.setdefault(channel, []).append((chain, channel))
    everything = group(list(messages))
    return {
        "prices_as_of": PRICES_AS_OF.isoformat(), "price_region": REGION, "currency": currency,
        "usage": asdict(usage), "aws_usd_by_service": by_service,
        **everything,
        "per_1000_messages": {**everything["per_1000_messages"],
                              "aws_usd_without_ses": _per_thousand(shared, total)},
        "per_1000_emails_aws_usd_without_ses": _per_thousand(shared * emails / total if total else 0.0, emails),
        "by_chain": {name: group(rows) for name, rows in sorted(chains.items())},
        "by_channel": {name: group(rows) for name, rows in sorted(channels.items())},
        "allocation": "AWS cost without SES's fee split by share of messages; SES's fee to the emails",
    }
