"""The stored lifecycle segment stays true with no new events: leaving, sleeping and lost are due timers that
move it when a customer simply stops buying. And `b2b` in a profile update reaches the contact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, IdentityModel
from functions.queues import apply_event, route_step
from tests.integration.helpers import due_messages

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def clock(clock: FixedClock) -> FixedClock:
    clock.at = NOW
    return clock


def _contact(contact_id: str = "c-1") -> None:
    ContactModel(contact_id, status="active", email=f"{contact_id}@example.com", created_at=NOW,
                 timezone="Europe/Moscow",
                 consents={"email:marketing": {"state": "granted"}, "any:data_processing": {"state": "granted"}}).save()
    IdentityModel(f"email:{contact_id}@example.com", contact_id=contact_id, created_at=NOW).save()


def _event(kind: str, event_id: str, at: datetime, properties: dict, contact_id: str = "c-1") -> None:
    apply_event({"kind": "event", "event": {"type": kind, "id": event_id, "contact": {"contact_id": contact_id},
                                            "occurred_at": at.isoformat(), "properties": properties}})


def _order(event_id: str, at: datetime, contact_id: str = "c-1") -> None:
    _event("order_placed", event_id, at, {"amount": 100.0, "items": [{"sku": "A1"}]}, contact_id)


def _at(clock: FixedClock, day: int) -> str | None:
    """The stored segment once every timer due on `day` after NOW has fired."""
    clock.at = NOW + timedelta(days=day)
    for message in due_messages(clock.now()):
        route_step(message)
    return ContactModel.get("c-1").segment


def test_a_one_off_buyer_is_leaving_at_day_160_lost_at_day_240_and_still_lost_at_day_366(clock) -> None:
    _contact()
    _order("o-1", NOW)
    assert ContactModel.get("c-1").segment == "new"

    assert _at(clock, 159) == "new"
    assert _at(clock, 160) == "leaving"
    assert wiring.enrollments().get("c-1", "reactivation") is not None  # the leaving timer still starts it
    assert _at(clock, 239) == "leaving"
    assert _at(clock, 240) == "lost"
    assert _at(clock, 366) == "lost"


def test_a_repeat_buyer_who_stops_is_sleeping(clock) -> None:
    _contact()
    _order("o-1", NOW - timedelta(days=30))
    _order("o-2", NOW)
    assert _at(clock, 240) == "sleeping"


def test_a_new_order_moves_the_timers_so_the_old_ones_never_fire(clock) -> None:
    _contact()
    _order("o-1", NOW)
    clock.at = NOW + timedelta(days=100)
    _order("o-2", clock.now())
    assert _at(clock, 240) == "new"  # 140 days after the second order
    assert _at(clock, 340) == "sleeping"


def test_b2b_in_a_profile_update_reaches_the_contact(clock) -> None:
    _contact()
    _event("profile_updated", "p-1", NOW, {"attributes": {"b2b": True, "company": "Acme"}})
    row = ContactModel.get("c-1")
    assert row.b2b is True and row.attributes.as_dict() == {"company": "Acme"}
    _event("profile_updated", "p-2", NOW, {"attributes": {"b2b": False}})
    assert ContactModel.get("c-1").b2b is False
    _event("profile_updated", "p-3", NOW, {"attributes": {"company": "Acme Ltd"}})
    assert ContactModel.get("c-1").b2b is False  # not named: unchanged


def test_a_b2b_that_is_not_true_or_false_is_refused_at_the_edge(api) -> None:
    key = ApiKeyRepository().create("ingest", None, None, NOW)[1]
    event = {"type": "profile_updated", "id": "p-1", "contact": {"contact_id": "c-1"},
             "occurred_at": NOW.isoformat(), "properties": {"attributes": {"b2b": "yes"}}}
    response = api.http.post("/v1/events", headers={"Authorization": f"Bearer {key}",
                                                    "Content-Type": "application/json"}, body=json.dumps(event))
    assert response.status_code == 400
    body = json.loads(response.body)
    assert body["field"] == "properties.attributes.b2b" and "true or false" in body["message"]
