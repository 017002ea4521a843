import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError, ReadTimeoutError

from chalicelib.delivery.errors import (
    CircuitOpenError,
    PermanentSendError,
    RetryableSendError,
    SendOutcomeUnknownError,
    classify_client_error,
    classify_exception,
)


def client_error(code: str, status: int, message: str = "irrelevant") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "SendEmail",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("TooManyRequestsException", 429, RetryableSendError),
        ("Throttling", 400, RetryableSendError),
        ("Throttled", 429, RetryableSendError),
        ("LimitExceededException", 400, RetryableSendError),
        ("ServiceUnavailable", 503, RetryableSendError),
        ("InternalFailure", 500, RetryableSendError),
        ("SomethingNew", 502, RetryableSendError),
        ("SendingPausedException", 400, CircuitOpenError),
        ("AccountSuspendedException", 400, CircuitOpenError),
        ("MessageRejected", 400, PermanentSendError),
        ("BadRequestException", 400, PermanentSendError),
        ("InvalidParameter", 400, PermanentSendError),
        ("MailFromDomainNotVerifiedException", 400, PermanentSendError),
        ("NotFoundException", 404, PermanentSendError),
        ("EndpointDisabled", 400, PermanentSendError),
        ("SomethingElse", 400, PermanentSendError),
    ],
)
def test_client_errors_are_sorted_by_code_and_status(code, status, expected):
    sorted_error = classify_client_error(client_error(code, status))
    assert type(sorted_error) is expected
    assert sorted_error.provider_code == code


def test_messages_never_decide_the_class():
    # A throttling-sounding message on a rejected send stays permanent.
    error = client_error("MessageRejected", 400, message="Throttling: Maximum sending rate exceeded")
    assert type(classify_client_error(error)) is PermanentSendError


def test_machine_codes_are_stable():
    assert classify_client_error(client_error("SendingPausedException", 400)).code == "sending_paused"
    assert classify_client_error(client_error("OptedOut", 400)).code == "opted_out"
    assert classify_client_error(client_error("MessageRejected", 400)).code == "rejected"


def test_connection_never_made_is_retryable_but_read_timeout_is_unknown_outcome():
    assert type(classify_exception(EndpointConnectionError(endpoint_url="https://x"))) is RetryableSendError
    unknown = classify_exception(ReadTimeoutError(endpoint_url="https://x"))
    assert isinstance(unknown, SendOutcomeUnknownError)
    assert isinstance(unknown, PermanentSendError)  # never retried
    assert type(classify_exception(ParamValidationError(report="bad"))) is PermanentSendError
