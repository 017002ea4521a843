"""Factories for the botocore clients the senders need. Nothing here runs at import time.

SES and SNS have no idempotency token, and botocore retries read timeouts, so a retried call can send
twice. Send clients therefore make exactly one attempt; the runtime decides whether to call again, and
only does so for errors that prove the provider did not take the message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config


class LazyClient:
    """Stands for a botocore client and builds it on first use: building one costs tens of milliseconds of a
    cold start, so a handler pays only for the clients its messages use."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


def send_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=3,
        read_timeout=15,
    )


def _session(session: botocore.session.Session | None) -> botocore.session.Session:
    if session is not None:
        return session
    import botocore.session

    return botocore.session.get_session()


def ses_client_for_sending(
    session: botocore.session.Session | None = None,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """An SES v2 client whose calls are never retried by botocore (one attempt per call)."""
    return _session(session).create_client("sesv2", config=send_config(), region_name=region_name,
                                           endpoint_url=endpoint_url)


def sns_client_for_sending(
    session: botocore.session.Session | None = None,
    *,
    region_name: str | None = None,
    endpoint_url: str | None = None,
) -> Any:
    """An SNS client (SMS and mobile push) whose calls are never retried by botocore."""
    return _session(session).create_client("sns", config=send_config(), region_name=region_name,
                                           endpoint_url=endpoint_url)
