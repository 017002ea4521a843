from cli.cost import PRICES, PRICES_AS_OF, Usage, aws_cost, estimate


def test_the_model_prices_each_service_and_keeps_ses_fee_apart() -> None:
    usage = Usage(lambda_requests=1_000_000, dynamodb_write_units=2_000_000, ses_emails=1_000)

    cost = aws_cost(usage)

    assert cost["lambda"] == 0.20
    assert cost["dynamodb"] == 2 * PRICES.dynamodb_write_unit * 1_000_000
    assert cost["aws"] == cost["lambda"] + cost["dynamodb"]
    assert cost["ses"] == 0.10
    assert PRICES_AS_OF.year >= 2026


def test_usage_adds_up() -> None:
    assert Usage(sqs_requests=2) + Usage(sqs_requests=3, sns_requests=1) == Usage(sqs_requests=5, sns_requests=1)


def test_the_estimate_splits_aws_by_messages_gives_ses_its_emails_and_keeps_currencies_apart() -> None:
    usage = Usage(dynamodb_write_units=1_000_000, ses_emails=3)
    messages = [("welcome", "email"), ("welcome", "email"), ("doi", "email"), ("welcome", "sms")]

    cost = estimate(usage, messages, {"email": 0.1, "sms": 3.5}, "RUB")

    shared = PRICES.dynamodb_write_unit * 1_000_000
    assert cost["prices_as_of"] == PRICES_AS_OF.isoformat() and cost["currency"] == "RUB"
    assert cost["messages"] == 4 and cost["channel_fees"] == 3.8
    assert cost["by_chain"]["welcome"]["channel_fees"] == 3.7
    assert cost["by_chain"]["welcome"]["aws_usd"] == shared * 3 / 4 + 2 * PRICES.ses_email
    assert cost["by_channel"]["sms"]["aws_usd"] == shared / 4
    assert cost["per_1000_messages"]["aws_usd_without_ses"] == shared * 1000 / 4
    assert cost["by_channel"]["email"]["per_1000_messages"]["channel_fees"] == 100.0


def test_an_empty_run_costs_nothing_per_message() -> None:
    cost = estimate(Usage(), [], {}, "USD")

    assert cost["messages"] == 0 and cost["per_1000_messages"]["aws_usd"] == 0.0 and cost["by_chain"] == {}
