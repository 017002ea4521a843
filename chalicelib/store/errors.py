"""Storage errors sorted once: is this the store being busy (try again later) or something else?"""

from __future__ import annotations

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

# Codes that say "not now": throttling, a transaction racing another, the service's own trouble.
BUSY_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling",
    "RequestThrottled", "TransactionConflictException", "TransactionInProgressException", "InternalServerError",
    "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
})
BUSY_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
RETRY_AFTER_SECONDS = 2


class StorageBusy(Exception):
    """DynamoDB or SQS was throttling, racing or out of reach; the same request a little later can succeed."""


def is_busy(exc: BaseException) -> bool:
    """True for errors the caller should answer with "try again" (HTTP 503 + Retry-After, or a requeue).

    pynamodb wraps botocore's errors (`cause`), and our own code chains them (`__cause__`): both are followed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageBusy | HTTPClientError | BotoConnectionError):
            return True  # read timeouts, connection resets, endpoints out of reach
        if isinstance(current, ClientError):
            error = current.response.get("Error", {})
            reasons = {r.code for r in getattr(current, "cancellation_reasons", None) or () if r is not None}
            reasons |= {r.get("Code") for r in current.response.get("CancellationReasons", ()) or ()}
            return error.get("Code") in BUSY_CODES or bool(reasons & BUSY_REASONS)
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return False


def cancellation_codes(exc: BaseException) -> list[str | None]:
    """A cancelled transaction's reason codes in request order; empty when it failed for another reason (a
    read timeout has no reasons, and pynamodb's `cancellation_reasons` raises AttributeError then)."""
    reasons = getattr(getattr(exc, "cause", None), "cancellation_reasons", None) or []
    return [r.code if r else None for r in reasons]
