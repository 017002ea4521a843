"""Factories for the boto3 clients the senders need. Nothing here runs at import time.

SES and SNS have no idempotency token, and botocore retries read timeouts, so a retried call can send
twice. Send clients therefore make exactly one attempt; the runtime decides whether to call again, and
only does so for errors that prove the provider did not take the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config


def send_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=3,
        read_timeout=15,
    )


def _session(session: boto3.session.Session | None) -> boto3.session.Session:
    if session is not None:
        return session
    import boto3

    return boto3.session.Session()


def ses_client_for_sending(
    session: boto3.session.Session | None = None,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """An SES v2 client whose calls are never retried by botocore (one attempt per call)."""
    return _session(session).client("sesv2", config=send_config(), region_name=region_name, endpoint_url=endpoint_url)


def sns_client_for_sending(
    session: boto3.session.Session | None = None,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """An SNS client (SMS and mobile push) whose calls are never retried by botocore."""
    return _session(session).client("sns", config=send_config(), region_name=region_name, endpoint_url=endpoint_url)
