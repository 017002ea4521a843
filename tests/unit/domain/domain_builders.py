"""Plain-value builders for domain tests."""

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.domain.model import Strategy
from chalicelib.domain.rules import ContactView, SendRequest, request_for
from chalicelib.strategy.loader import load_strategy


def shipped() -> Strategy:
    return load_strategy()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def contact(
    channels: Iterable[str] = ("email", "sms", "push"), *, contact_id: str = "c-1",
    zone: str | None = "Europe/Moscow", purposes: Iterable[str] = ("marketing",), **changes: object,
) -> ContactView:
    chosen = tuple(channels)
    view = ContactView(
        contact_id=contact_id, confirmed=True, data_processing=True,
        consents={(c, p): True for c in chosen for p in purposes}, addresses=frozenset(chosen),
        time_zone=zone, phone="+79161234567",
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def send(
    strategy: Strategy, occasion: str, due: datetime, *, key: str = "t-1", **changes: object
) -> SendRequest:
    return replace(request_for(strategy, occasion, due, key=key), **changes)  # type: ignore[arg-type]
