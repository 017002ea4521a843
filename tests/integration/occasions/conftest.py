"""Occasions, manual touches and checklists: contacts of a point come in as an import does (active, with
their consent proof), and every call goes through the admin API with a key of the role under test."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.store.contacts import DATA_PROCESSING_KEY, ConsentRecord, ImportedContact
from tests.integration.helpers import NOW

MARKETING = ("email", "sms")


def person(contact_id: str, point_id: str | None = "msk-01", *, email: bool = True, phone: bool = False,
           consents: Sequence[str] = MARKETING, data_processing: bool = True, timezone: str | None = None,
           at: datetime = NOW, **attributes: object) -> ImportedContact:
    """An imported contact with only what is given: no name, no attributes unless asked for."""
    given = at.isoformat()
    granted = {f"{c}:marketing": ConsentRecord("granted", given, f"marketing-{c}-v1", "import") for c in consents}
    if data_processing:
        granted[DATA_PROCESSING_KEY] = ConsentRecord("granted", given, "personal-data-v1", "import")
    number = sum(map(ord, contact_id)) % 10_000
    return ImportedContact(
        contact_id=contact_id, created_at=at, email=f"{contact_id}@example.com" if email else None,
        phone=f"+7916{number:07d}" if phone else None, timezone=timezone, locale=None, point_id=point_id,
        attributes=attributes, consents=granted, confirmed_at=at, events=(), segment="prospect",
    )


def add(*people: ImportedContact) -> None:
    for start in range(0, len(people), 30):  # a transaction holds at most 100 items: 2-3 per contact
        wiring.contacts().import_contacts(people[start:start + 30])


@pytest.fixture
def call(api: Any) -> Callable[..., tuple[int, dict[str, Any]]]:
    """call(method, path, body=None, role=..., point=..., label=...) -> (status, JSON body); role None: no key
    (or `bearer`, a key of no one)."""
    keys: dict[tuple[str, str | None, str | None], str] = {}

    def send(method: str, path: str, body: Any = None, *, role: str | None = "service-manager",
             point: str | None = None, label: str | None = None,
             bearer: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if role is not None:
            if (role, point, label) not in keys:
                keys[(role, point, label)] = wiring.api_keys().create(role, point, label, NOW)[1]
            headers["Authorization"] = f"Bearer {keys[(role, point, label)]}"
        payload = None if body is None else json.dumps(body)
        response = getattr(api.http, method.lower())(path, headers=headers, **({"body": payload} if payload else {}))
        return response.status_code, json.loads(response.body) if response.body else {}

    return send
