"""The reactivation chain's last mail, sent by the real step worker: what the contact's orders make due again,
then catalogue products of their interests and bought categories, never what they just bought; a contact
with nothing to show gets the catalogue link. The catalogue costs a send nothing once its categories were read
in the last minute."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import Enrollment
from chalicelib.store.models import CONNECTION, ContactModel
from cli.outbox import sent_mail
from functions.queues import apply_event
from tests.integration.chains.test_step_worker import _worker
from tests.integration.helpers import NOW, due_messages

LAST_CHANCE_STEP = 4  # reactivation: offer, branch, nudge, wait, last chance
PRODUCTS = [
    {"sku": "A1", "name": "Vitamin D3", "url": "https://www.example.com/p/a1", "category": "Vitamins", "price": 490},
    {"sku": "V1", "name": "Omega 3", "url": "https://www.example.com/p/v1", "category": "vitamins", "price": 700},
    {"sku": "V2", "name": "Magnesium", "url": "https://www.example.com/p/v2", "category": "vitamins", "price": 350},
    {"sku": "S1", "name": "Bottle", "url": "https://www.example.com/p/s1", "category": "Sport", "price": "99.90"},
    {"sku": "S2", "name": "Yoga mat", "url": "https://www.example.com/p/s2", "category": "sport", "price": 1500},
]

pytestmark = pytest.mark.usefixtures("aws")


def _contact(contact_id: str, locale: str | None = "ru-RU") -> None:
    """Only what the mail needs: an address with marketing consent; no name, no attributes."""
    ContactModel(contact_id, status="active", email=f"{contact_id}@example.com", locale=locale, created_at=NOW,
                 consents={"email:marketing": {"state": "granted"}, "any:data_processing": {"state": "granted"}}).save()


def _event(contact_id: str, kind: str, event_id: str, days_ago: int, properties: dict[str, Any]) -> None:
    apply_event({"kind": "event", "event": {
        "type": kind, "id": event_id, "contact": {"contact_id": contact_id},
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(), "properties": properties}})


def _customer(contact_id: str, locale: str = "ru-RU") -> None:
    """Bought Vitamin D3 40 days ago (due again) and Magnesium two days ago; likes sport."""
    _contact(contact_id, locale)
    _event(contact_id, "order_placed", f"{contact_id}-o1", 40, {"amount": 490, "items": [PRODUCTS[0]]})
    _event(contact_id, "order_placed", f"{contact_id}-o2", 2, {"amount": 350, "items": [PRODUCTS[2]]})
    _event(contact_id, "survey_completed", f"{contact_id}-s1", 1, {"answers": {"topics": ["Sport"]}})


def _at_last_chance(*contact_ids: str) -> list[dict[str, Any]]:
    for contact_id in contact_ids:
        snapshot = wiring.snapshot_loader()(contact_id)
        assert snapshot is not None
        wiring.enrollments().save(Enrollment(contact_id, "reactivation", LAST_CHANCE_STEP, "running",
                                             NOW - timedelta(days=10), NOW, NOW), None, NOW,
                                  addresses=snapshot.address_keys())
    return [m for m in due_messages(NOW) if m["chain_id"] == "reactivation"]


def _upload() -> None:
    wiring.catalog_uploads().put(json.dumps({"products": PRODUCTS}), "application/json", {})


def test_the_last_mail_shows_what_is_due_again_then_the_catalogue_of_their_interests_not_what_they_just_bought(
    clock,
) -> None:
    _upload()
    _customer("c-ru")
    _customer("c-en", "en-US")
    worker = _worker(clock)
    for message in _at_last_chance("c-en", "c-ru"):
        assert worker.handle(message).touch_status == "sent"

    mails = {mail.to[0]: mail for mail in sent_mail()}
    assert mails["c-ru@example.com"].text.startswith(
        "Пора пополнить запас:\n- Vitamin D3: https://www.example.com/p/a1\n"
        "Вам может понравиться:\n- Bottle: https://www.example.com/p/s1\n- Omega 3: https://www.example.com/p/v1\n"
        "- Yoga mat: https://www.example.com/p/s2\n")
    english = mails["c-en@example.com"].text
    assert english.startswith("Time to stock up again:\n- Vitamin D3: ") and "You may also like:\n- Bottle" in english
    assert "Magnesium" not in english  # bought two days ago


def test_a_contact_with_nothing_to_show_gets_the_catalogue_link_in_either_language(clock) -> None:
    _upload()
    _contact("c-ru")
    _contact("c-en", "en")
    worker = _worker(clock)
    for message in _at_last_chance("c-en", "c-ru"):
        assert worker.handle(message).touch_status == "sent"

    mails = {mail.to[0]: mail for mail in sent_mail()}
    assert mails["c-ru@example.com"].text.startswith("Каталог: https://")
    assert mails["c-en@example.com"].text.startswith("Our catalogue: https://")
    assert "Пора" not in mails["c-ru@example.com"].text and "like" not in mails["c-en@example.com"].text


def _operations() -> Counter[str]:
    calls: Counter[str] = Counter()
    CONNECTION.client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


def test_the_catalogue_is_read_once_a_minute_per_category_so_a_send_stays_at_four_requests(clock) -> None:
    _upload()
    for contact_id in ("c-1", "c-2", "c-3"):
        _customer(contact_id)
    first, second, third = _at_last_chance("c-1", "c-2", "c-3")
    worker = _worker(clock)
    assert worker.strategy.occasions  # the occasions' edits: read once a minute per container, as in production
    calls = _operations()

    worker.handle(first)
    # The cap windows' query, then the catalogue: its categories, then sport and vitamins.
    assert (calls["Query"], calls["GetItem"]) == (1 + 2, 1)
    calls.clear()
    worker.handle(second)
    assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1, "UpdateItem": 1}
    calls.clear()
    clock.advance(minutes=1)
    worker.handle(third)
    assert (calls["Query"], calls["GetItem"]) == (1 + 2, 1)
    assert len(sent_mail()) == 3
