"""Logger, Metrics and (only when enabled) Tracer, created once and attached to Chalice as middleware."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

from chalicelib.runtime import resume_collection
from chalicelib.settings import get_settings

SERVICE = "touchplan"
_settings = get_settings()

logger = Logger(service=SERVICE, level=_settings.log_level)
metrics = Metrics(namespace="touchplan", service=SERVICE)
metrics.set_default_dimensions(stage=_settings.stage)

# A safety net under the rule "log ids and hashes": anything shaped like an address is masked anyway.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d\s()-]{6,}\d")


def mask_personal_data(text: str) -> str:
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class _PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_personal_data(record.msg)
        if record.args:
            record.args = tuple(mask_personal_data(a) if isinstance(a, str) else a for a in record.args)
        for key, value in list(vars(record).items()):
            if key not in {"msg", "args"} and isinstance(value, str) and ("@" in value or "+" in value):
                setattr(record, key, mask_personal_data(value))
        return True


logger.addFilter(_PersonalDataFilter())


def _tracer() -> Any:
    # Tracer imports aws_xray_sdk (~300 ms of cold start): created only when tracing is switched on.
    from aws_lambda_powertools.tracing import Tracer

    return Tracer(service=SERVICE)


tracer = _tracer() if _settings.tracing else None


def correlation_id(event: Any) -> str:
    """The id that follows one piece of work from API to SQS to SES tags."""
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    headers = getattr(event, "headers", None)
    if headers is not None and headers.get("x-correlation-id"):
        return str(headers["x-correlation-id"])[:64]
    raw: dict[str, Any] = getattr(event, "to_dict", dict)()
    records = raw.get("Records") or []
    if records:
        attributes = records[0].get("messageAttributes") or {}
        carried = attributes.get("correlation_id", {}).get("stringValue")
        return str(carried or records[0].get("messageId", uuid.uuid4()))
    return str(raw.get("id") or uuid.uuid4())


def record_bodies(event: Any) -> Iterator[str]:
    """The bodies of an SQS event, each yielded under its own record's correlation id (batch-mates may come
    from different requests); what a record's processing logs or enqueues carries that id on."""
    for record in event:
        raw = record.to_dict()
        carried = (raw.get("messageAttributes") or {}).get("correlation_id", {}).get("stringValue")
        logger.append_keys(correlation_id=str(carried or raw.get("messageId", "")))
        yield record.body


def _observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    logger.append_keys(correlation_id=correlation_id(event))
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        logger.remove_keys(["correlation_id"])
        resume_collection()


def attach(app: Any) -> None:
    app.register_middleware(_observe, "all")
