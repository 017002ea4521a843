"""The catalogue as senders read it: only categories it holds, each at most once a minute, and a busy store
answered with what was read before."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from chalicelib.clock import FixedClock
from chalicelib.domain.catalog import Product
from chalicelib.domain.purchases import CATEGORIES
from chalicelib.services.catalog import LiveCatalog
from chalicelib.store.catalog import CatalogRepository

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THROTTLED = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "Query")


class Shelves(CatalogRepository):
    """A catalogue that counts its reads and can be made to throttle."""

    def __init__(self, *categories: str) -> None:
        self.held = {c: (Product(f"{c}-1", c, "https://x.example/p", c, Decimal(1)),) for c in categories}
        self.reads: list[str] = []
        self.fail: Exception | None = None

    def categories(self) -> frozenset[str]:
        self.reads.append("registry")
        if self.fail:
            raise self.fail
        return frozenset(self.held)

    def in_category(self, category: str, limit: int) -> list[Product]:
        self.reads.append(category)
        if self.fail:
            raise self.fail
        return list(self.held[category])[:limit]


def test_only_categories_the_catalogue_holds_are_read_and_each_once_a_minute() -> None:
    shelves, clock = Shelves("sport", "vitamins"), FixedClock(AT)
    live = LiveCatalog(shelves, clock)

    assert set(live.products_in(["poetry", "sport", "vitamins"])) == {"sport", "vitamins"}
    assert live.products_in(["vitamins"])["vitamins"][0].sku == "vitamins-1"
    assert shelves.reads == ["registry", "sport", "vitamins"]
    clock.advance(seconds=60)
    live.products_in(["sport"])
    assert shelves.reads[3:] == ["registry", "sport"]


def test_a_message_reads_at_most_its_categories_limit() -> None:
    names = [f"c{n}" for n in range(CATEGORIES + 3)]
    assert len(LiveCatalog(Shelves(*names), FixedClock(AT)).products_in(names)) == CATEGORIES


def test_a_busy_store_shows_what_was_read_before_and_other_errors_are_raised() -> None:
    shelves, clock = Shelves("sport"), FixedClock(AT)
    live = LiveCatalog(shelves, clock)
    before = live.products_in(["sport"])
    shelves.fail = THROTTLED
    clock.advance(minutes=1)
    assert live.products_in(["sport"]) == before
    assert LiveCatalog(shelves, clock).products_in(["sport"]) == {}  # nothing read before: nothing to show
    shelves.fail = ValueError("a bug")
    clock.advance(minutes=1)
    with pytest.raises(ValueError):
        live.products_in(["sport"])


def test_an_upload_in_this_container_shows_at_once() -> None:
    shelves, clock = Shelves("sport"), FixedClock(AT)
    live = LiveCatalog(shelves, clock)
    live.products_in(["kids"])
    shelves.held["kids"] = (Product("K1", "Kids", "https://x.example/k", "kids", Decimal(0)),)
    live.refresh()
    assert live.products_in(["kids"])["kids"][0].sku == "K1"
