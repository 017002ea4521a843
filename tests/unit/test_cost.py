from cli.cost import PRICES, PRICES_AS_OF, Usage, aws_cost


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
