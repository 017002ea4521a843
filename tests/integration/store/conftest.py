"""One contract, two stores: every test here runs on pynamodb over moto and on the memory store.

The `store` fixture builds the app's wiring on the one or the other; a test reaches the repositories through
`wiring` as the services do. The memory store runs inside an empty moto account (no tables): a repository
method that fell through to pynamodb would fail there instead of passing unseen.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache

import pytest
from moto import mock_aws

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.settings import get_settings
from chalicelib.store.contacts import NewContact, Request
from chalicelib.store.ledger import ConsentEvent
from tests.integration.helpers import NOW

STORES = ("moto", "memory")
# moto 5's DynamoDB holds no lock: two threads' conditional writes to one item can both pass (measured: 2 of
# 8 concurrent reservations of one touch). DynamoDB serialises them; so does the memory store.
NOT_ON_MOTO = "moto does not serialise concurrent conditional writes to one item"


def use_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds every service on the memory store from here on (a fresh, empty database)."""
    settings = dataclasses.replace(get_settings(), store="memory")
    monkeypatch.setattr(wiring, "get_settings", cache(lambda: settings))
    wiring.reset()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "moto":
        request.getfixturevalue("aws")
        yield "moto"
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mock_aws():
            use_memory_store(monkeypatch)
            yield "memory"
            wiring.reset()


def new_contact(
    contact_id: str, email: str | None = None, phone: str | None = None, *, at: datetime = NOW,
    request_id: str | None = None, point_id: str | None = None, attributes: Mapping[str, object] | None = None,
    requested: Mapping[str, Request] | None = None, timezone: str | None = None, locale: str | None = None,
) -> NewContact:
    """A sign-up's new contact: only what is given, nothing else (no name, no attributes by default)."""
    return NewContact(
        contact_id=contact_id, created_at=at, request_id=request_id or f"r-{contact_id}", email=email, phone=phone,
        timezone=timezone, locale=locale, point_id=point_id, attributes=attributes or {},
        requested=requested or {}, segment="prospect",
    )


def requested_event(at: datetime = NOW, **fields: str) -> ConsentEvent:
    return ConsentEvent(kind="requested", at=at, **fields)
