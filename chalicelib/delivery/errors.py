"""Delivery error taxonomy: every provider failure is sorted here, once, by error code.

The runtime acts on the class, never on a provider message:

- ``RetryableSendError``: the provider did not take the message (throttled, 5xx, connection refused).
  Safe to call again later; botocore's own retries are off, so exactly one provider call was made.
- ``PermanentSendError``: this message will never go out as it is (rejected, bad address, opted out).
  Mark the touch failed; do not retry.
- ``SendOutcomeUnknownError`` (a ``PermanentSendError``): the request may have reached the provider
  (read timeout, dropped connection). Never resend: the message may be out. Reconcile from feedback.
- ``CircuitOpenError``: the whole channel must stop (SES sending paused, account suspended, SMS spend
  limit). Stop sending on the channel, keep the touch for later.
- ``TemplateRenderError``: the touch's template failed to render. Stops that touch only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class DeliveryError(Exception):
    """Base of every error raised by ``chalicelib.delivery``. ``code`` is a stable machine code."""

    def __init__(self, code: str, message: str = "", *, provider_code: str | None = None) -> None:
        super().__init__(message or code)
        self.code = code
        self.provider_code = provider_code


class SendError(DeliveryError):
    """A provider call failed (or was refused before it was made)."""


class RetryableSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class SendOutcomeUnknownError(PermanentSendError):
    pass


class CircuitOpenError(SendError):
    pass


class InvalidMessageError(PermanentSendError, ValueError):
    """The message itself is unsendable (bad address, header injection, missing unsubscribe URL).
    Raised before any provider call; also a ``ValueError`` for callers that validate input."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_message", message)


class TemplateRenderError(DeliveryError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__("template_render_failed", f"{field}: {message}")
        self.field = field


RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "ThrottledException",
        "TooManyRequestsException",
        "LimitExceededException",
        "RequestLimitExceeded",
        "KMSThrottling",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalErrorException",
        "InternalServiceErrorException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)

CIRCUIT_CODES = frozenset(
    {
        "SendingPausedException",
        "AccountSuspendedException",
        "AccountSendingPausedException",
        "ConfigurationSetSendingPausedException",
    }
)

# Explicitly permanent; any other 4xx is permanent too, so this list documents rather than decides.
PERMANENT_CODES = frozenset(
    {
        "MessageRejected",
        "BadRequestException",
        "InvalidParameter",
        "InvalidParameterValue",
        "ParameterValueInvalid",
        "ValidationException",
        "ValidationError",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
        "NotFound",
        "EndpointDisabled",
        "PlatformApplicationDisabled",
        "AuthorizationError",
        "AccessDeniedException",
        "OptedOut",
    }
)

_MACHINE_CODES = {
    "OptedOut": "opted_out",
    "EndpointDisabled": "endpoint_disabled",
    "MessageRejected": "rejected",
    "MailFromDomainNotVerifiedException": "identity_not_verified",
    "NotFoundException": "not_found",
    "NotFound": "not_found",
    "SendingPausedException": "sending_paused",
    "AccountSuspendedException": "account_suspended",
}


def _error_code(error: ClientError) -> tuple[str, int]:
    response: dict[str, Any] = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def classify_client_error(error: ClientError) -> SendError:
    """Map a botocore ``ClientError`` to the taxonomy by its code and HTTP status, never its message."""
    code, status = _error_code(error)
    message = f"{code or 'ClientError'} (HTTP {status})" if status else code or "ClientError"
    machine = _MACHINE_CODES.get(code, code.removesuffix("Exception").lower() or "client_error")
    if code in CIRCUIT_CODES:
        return CircuitOpenError(machine, message, provider_code=code)
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return RetryableSendError(machine, message, provider_code=code)
    return PermanentSendError(machine, message, provider_code=code)


def classify_exception(error: Exception) -> SendError:
    """Sort an exception raised by a boto3 call (``ClientError`` or ``BotoCoreError``).

    A connection that was never made is retryable; a request that may have reached the provider
    (read timeout, connection dropped mid-flight, anything unrecognised) is ``SendOutcomeUnknownError``,
    so the runtime never sends twice.
    """
    from botocore import exceptions as bx

    if isinstance(error, bx.ClientError):
        return classify_client_error(error)
    if isinstance(error, bx.ParamValidationError):
        return PermanentSendError("invalid_request", str(error))
    if isinstance(error, bx.ConnectTimeoutError | bx.EndpointConnectionError):
        return RetryableSendError("connect_failed", type(error).__name__)
    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return CircuitOpenError("no_credentials", type(error).__name__)
    return SendOutcomeUnknownError("outcome_unknown", type(error).__name__)


class FeedbackParseError(DeliveryError):
    """A feedback message that cannot be read. The caller dead-letters it."""

    def __init__(self, message: str) -> None:
        super().__init__("feedback_unparseable", message)


class UnsupportedFeedbackError(FeedbackParseError):
    """Well-formed, but not something we act on (SNS subscription confirmation, SES ``Subscription``
    events, inbound mail...). The caller may acknowledge and drop it."""
