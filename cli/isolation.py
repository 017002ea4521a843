"""Per-thread request state for the local stack, whose server handles many requests at once in threads.

In Lambda a container handles one request at a time, so Chalice keeps the request on the app
(`app.current_request`, which every Blueprint's `current_request` reads), and Powertools keeps log keys and
metrics on its objects. Shared by the local server's threads, those let one request read another's key,
body or contact. Here each thread gets its own; the deployed code path is unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def per_thread(obj: Any, attributes: dict[str, Callable[[], Any]], state: threading.local | None = None) -> None:
    """Give `obj` its own value of each attribute in every thread, starting from `attributes[name]()`.

    Objects that share one `state` share each thread's values (Powertools' Metrics and its provider hold one
    metric set between them).
    """
    local = state if state is not None else threading.local()

    def slot(name: str, initial: Callable[[], Any]) -> property:
        def get(_: Any) -> Any:
            if not hasattr(local, name):
                setattr(local, name, initial())
            return getattr(local, name)

        def put(_: Any, value: Any) -> None:
            setattr(local, name, value)

        return property(get, put)

    cls = type(obj)
    slots = {name: slot(name, initial) for name, initial in attributes.items()}
    obj.__class__ = type(f"PerThread{cls.__name__}", (cls,), slots)


def isolate_requests(app: Any) -> None:
    """Chalice's current request and Lambda context, Powertools' log keys and metrics: one per thread."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    from chalicelib.observability import logger, metrics

    per_thread(app, {"current_request": lambda: None, "lambda_context": lambda: None})
    formatter = logger.registered_formatter
    if isinstance(formatter, LambdaPowertoolsFormatter):
        keys = dict(formatter.log_format)
        per_thread(formatter, {"log_format": lambda: dict(keys)})
    metric_sets = threading.local()
    for holder in (metrics, metrics.provider):
        per_thread(holder, {"metric_set": dict}, metric_sets)

