"""One catalogue of event types serves /v1/events, the strategy's triggers and exits, and the templates."""

from pathlib import Path

import pytest

from chalicelib.domain import chains, lifecycle
from chalicelib.domain.events import EVENTS, INGESTED, chain_context
from chalicelib.services import doi, feedback
from chalicelib.services.errors import ClientError
from chalicelib.services.ingest import EVENT_TYPES, parse_event
from chalicelib.strategy.loader import load_strategy


def event(kind: str, properties: dict) -> dict:
    return {"type": kind, "id": "e-1", "contact": {"email": "anna@example.com"},
            "occurred_at": "2026-11-25T10:00:00+03:00", "properties": properties}


def test_ingest_accepts_exactly_the_catalogues_ingested_types() -> None:
    assert set(EVENT_TYPES) == set(INGESTED)


def test_every_event_the_shipped_strategy_names_is_in_the_catalogue() -> None:
    strategy = load_strategy()
    named = {t.event for c in strategy.chains.values() for t in c.start}
    named |= {e for c in strategy.chains.values() for e in c.exit_on}
    assert named <= set(EVENTS)


def test_every_event_touchplan_raises_itself_is_in_the_catalogue() -> None:
    raised = {doi.SIGNUP_CONFIRMED, chains.CONSENT_CHANGED, *lifecycle.TIMER_EVENTS.values(),
              *chains.REACTION_EVENTS, *feedback.REACTION_EVENTS.values()}
    assert raised <= set(EVENTS)
    assert not {name for name in raised if not EVENTS[name].ingested} & set(INGESTED)


@pytest.mark.parametrize("kind", ["cart_emptied", "push_opened", "sms_clicked"])
def test_events_the_strategy_reacts_to_are_accepted(kind: str) -> None:
    assert parse_event(event(kind, {}), "").type == kind


@pytest.mark.parametrize("kind", sorted(INGESTED))
def test_each_ingested_types_minimal_and_full_examples_are_valid(kind: str) -> None:
    for full in (False, True):
        properties = {p.name: p.sample(full) for p in INGESTED[kind].properties if full or p.required}
        assert parse_event(event(kind, properties), "").properties == properties


@pytest.mark.parametrize(("kind", "properties", "field"), [
    ("product_viewed", {"sku": "A1", "name": 7}, "properties.name"),
    ("search_performed", {"query": "x", "url": ""}, "properties.url"),
    ("cart_abandoned", {"cart_url": ["x"]}, "properties.cart_url"),
])
def test_optional_properties_templates_show_are_validated_when_sent(kind: str, properties: dict, field: str) -> None:
    with pytest.raises(ClientError) as caught:
        parse_event(event(kind, properties), "")
    assert caught.value.field == field


@pytest.mark.parametrize("kind", ["signup_confirmed", "segment_leaving", "refill_due", "birthday"])
def test_touchplans_own_events_cannot_be_posted(kind: str) -> None:
    with pytest.raises(ClientError) as caught:
        parse_event(event(kind, {}), "")
    assert caught.value.field == "type"


def test_a_chains_context_names_the_event_as_the_catalogue_says() -> None:
    assert chain_context("order_placed", {"amount": 1, "order_number": 5})["order"] == {
        "amount": 1, "order_number": 5, "number": 5}
    assert chain_context("refill_due", {"sku": "A1", "product": {"sku": "A1", "name": "D3"}})["product"] == {
        "sku": "A1", "name": "D3"}
    assert chain_context("site_visit", {"url": "https://x"}) == {"url": "https://x"}


def test_the_strategy_docs_list_every_event_type() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "strategy.md").read_text(encoding="utf-8")
    assert [name for name in EVENTS if f"`{name}`" not in docs] == []
