"""Factories for the botocore clients the senders need. Nothing here runs at import time.

SES and SNS have no idempotency token, and botocore retries read timeouts, so a retried call can send
twice. Send clients therefore make exactly one attempt; the runtime decides whether to call again, and
only does so for errors that prove the provider did not take the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config

# The endpoint prefixes of every service the app builds a client for (SES v2's is "email").
ENDPOINT_PREFIXES = frozenset({"dynamodb", "email", "secretsmanager", "sns", "sqs"})
# botocore's endpoints.json cut down to ENDPOINT_PREFIXES, written by `touchplan package` into the deployment
# package only, with the botocore version it was cut from.
ENDPOINTS_PATH = Path(__file__).with_name("endpoints.json")
# The botocore service names of those clients: `touchplan package` ships their models without documentation.
SERVICES = frozenset({"dynamodb", "secretsmanager", "sesv2", "sns", "sqs"})


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
    service's own directory instead; a name it does not find gets botocore's own error. In a deployment
    package the endpoint resolver reads the cut endpoint data (ENDPOINTS_PATH) instead of botocore's whole file.
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
    loader = DirectLoader(extra_search_paths=extra)
    session.register_component("data_loader", loader)
    cut = _cut_endpoints()
    if cut is not None and not data_path:
        session._internal_components.register_component("endpoint_resolver", _endpoint_resolver(cut, loader))
    return session


def cut_endpoints(endpoints: dict[str, Any], version: str) -> dict[str, Any]:
    """ENDPOINTS_PATH's contents: botocore's endpoint data (`endpoints.json`) for ENDPOINT_PREFIXES only."""
    partitions = [{**partition, "services": {name: service for name, service in partition["services"].items()
                                             if name in ENDPOINT_PREFIXES}}
                  for partition in endpoints["partitions"]]
    return {"botocore": version, "endpoints": {**endpoints, "partitions": partitions}}


def undocumented(model: Any) -> Any:
    """A botocore service model (service-2.json) without its documentation strings, which only docstrings and
    help read: four fifths of the JSON, so parsing DynamoDB's or SES v2's model at a client's first build takes
    1 ms instead of 12. A member that is named "documentation" is a shape reference (a dict) and stays."""
    if isinstance(model, dict):
        return {key: undocumented(value) for key, value in model.items()
                if not (key == "documentation" and isinstance(value, str))}
    if isinstance(model, list):
        return [undocumented(value) for value in model]
    return model


def _cut_endpoints() -> dict[str, Any] | None:
    import botocore

    try:
        cut: dict[str, Any] = json.loads(ENDPOINTS_PATH.read_bytes())
    except FileNotFoundError:
        return None
    return cut["endpoints"] if cut.get("botocore") == botocore.__version__ else None


def _endpoint_resolver(endpoints: dict[str, Any], loader: Any) -> Any:
    """botocore's legacy endpoint resolver, which every client consults, on the cut data: botocore's own file is
    1.25 MB of JSON, some 15 ms of the first client. A service outside the cut reads the whole file."""
    from botocore.regions import EndpointResolver

    class CutResolver(EndpointResolver):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(endpoints, uses_builtin_data=True)
            self._whole: EndpointResolver | None = None

        def _for(self, service_name: str) -> EndpointResolver:
            if service_name in ENDPOINT_PREFIXES:
                return super()
            if self._whole is None:
                self._whole = EndpointResolver(loader.load_data("endpoints"), uses_builtin_data=True)
            return self._whole

        def construct_endpoint(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
            return self._for(service_name).construct_endpoint(service_name, *args, **kwargs)

        def get_available_endpoints(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
            return self._for(service_name).get_available_endpoints(service_name, *args, **kwargs)

        def get_service_endpoints_data(self, service_name: str, *args: Any, **kwargs: Any) -> Any:
            return self._for(service_name).get_service_endpoints_data(service_name, *args, **kwargs)

    return CutResolver()


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
