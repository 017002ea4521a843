"""Orders keep a purchase summary and survey answers become interests, through the real event worker; the
shipped reactivation mail shows what the contact bought and is due to buy again, and reads well with none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.delivery.templates import message_context, render
from chalicelib.store.models import ContactModel
from functions.queues import apply_event

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LAST_CHANCE = "reactivation-last-chance"

pytestmark = pytest.mark.usefixtures("aws")


def _contact(contact_id: str = "c-1") -> None:
    ContactModel(contact_id, status="active", email=f"{contact_id}@example.com", created_at=NOW,
                 consents={"email:marketing": {"state": "granted"}, "any:data_processing": {"state": "granted"}}).save()


def _event(kind: str, event_id: str, at: datetime, properties: dict) -> None:
    apply_event({"kind": "event", "event": {"type": kind, "id": event_id, "contact": {"contact_id": "c-1"},
                                            "occurred_at": at.isoformat(), "properties": properties}})


def _mail(locale: str = "en", at: datetime = NOW) -> str:
    snapshot = wiring.snapshot_loader()("c-1")
    occasion = wiring.strategy().occasions[LAST_CHANCE]
    context = message_context(occasion, snapshot.attributes, {"shop_url": "https://shop", "preferences_url": "p",
                                                               "unsubscribe_url": "u"}, at)
    return render({"html": occasion.templates["email"][locale].html}, context)["html"]


def test_orders_and_a_survey_make_the_summary_and_the_interests(clock) -> None:
    clock.at = NOW
    _contact()
    vitamin = {"sku": "A1", "name": "Vitamin D3", "url": "https://shop/a1", "category": "vitamins", "course_days": 30}
    _event("order_placed", "o-1", NOW - timedelta(days=60), {"amount": 490, "items": [vitamin, {"sku": "B7"}]})
    _event("order_placed", "o-2", NOW - timedelta(days=40), {"amount": 490, "items": [vitamin]})
    _event("order_placed", "o-2", NOW - timedelta(days=40), {"amount": 490, "items": [vitamin]})  # resent
    _event("survey_completed", "s-1", NOW, {"answers": {"topics": ["Vitamins", "Sport"]}})

    attributes = ContactModel.get("c-1").attributes.as_dict()
    summary = {e["sku"]: e for e in attributes["purchases"]}
    assert (summary["A1"]["count"], summary["A1"]["name"], summary["B7"]["count"]) == (2, "Vitamin D3", 1)
    assert attributes["interests"] == ["vitamins", "sport"]

    html = _mail()
    assert 'Time to stock up again: <a href="https://shop/a1">Vitamin D3</a>, <a href="https://shop">B7</a>' in html
    assert "You told us you like: vitamins, sport." in html
    assert "Пора пополнить запас" in _mail("ru")


def test_a_contact_who_just_bought_sees_their_items_and_one_with_none_the_catalogue(clock) -> None:
    clock.at = NOW
    _contact()
    assert "We picked a few things for you" in _mail() and "You told us" not in _mail()

    _event("order_placed", "o-1", NOW, {"amount": 100, "items": [{"sku": "A1", "name": "Vitamin D3"}]})
    assert "You bought: " in _mail() and "Vitamin D3" in _mail()
    _event("order_placed", "o-2", NOW, {"amount": 100})  # only the required properties
    assert "Vitamin D3" in _mail()


def test_recommendations_a_back_end_sends_win_over_the_summary(clock) -> None:
    clock.at = NOW
    _contact()
    _event("order_placed", "o-1", NOW - timedelta(days=90), {"amount": 100, "items": [{"sku": "A1"}]})
    _event("profile_updated", "p-1", NOW, {"attributes": {"recommendations": [{"sku": "Z9", "name": "Omega 3"}]}})
    assert "Omega 3" in _mail() and ">A1<" not in _mail()
