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


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader reads only the services asked for.

    Before the first model it loads, botocore's loader lists every service it knows, to check the name: about
    420 directories, 900 listdir and 2,700 stat calls, some 20 ms of a cold start. This one checks the
    service's own directory instead; a name it does not find gets botocore's own error.
    """
    import os

    import botocore.session
    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import Loader, instance_cache

    class DirectLoader(Loader):
        @instance_cache  # type: ignore[misc]
        def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
            try:
                version = api_version or self.determine_latest_version(service_name, type_name)
            except DataNotFoundError:
                return super().load_service_model(service_name, type_name, api_version)
            model = self.load_data(os.path.join(service_name, version, type_name))
            self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
            return model

    session = botocore.session.get_session()
    data_path = session.get_config_variable("data_path")
    extra = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    session.register_component("data_loader", DirectLoader(extra_search_paths=extra))
    return session


def send_config() -> Config:
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=3,
        read_timeout=15,
    )


def _session(session: botocore.session.Session | None) -> botocore.session.Session:
    return session if session is not None else new_session()


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
