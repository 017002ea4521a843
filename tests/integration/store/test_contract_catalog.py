"""The catalogue on both stores: a category's first products in sku order, the whole catalogue for an upload,
products moving between categories, and an upload planned on a catalogue that changed meanwhile refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from chalicelib import wiring
from chalicelib.domain.catalog import Product, plan_upload
from chalicelib.store.catalog import LEASE, REGISTRY, CatalogBusy, CatalogModel
from tests.integration.helpers import NOW

pytestmark = pytest.mark.usefixtures("store")


def product(sku: str, category: str = "vitamins", price: str = "19.90") -> Product:
    return Product(sku, f"Product {sku}", f"https://www.example.com/p/{sku}", category, Decimal(price))


def upload(*products: Product, replace: bool = False) -> None:
    catalog = wiring.catalog()
    before = catalog.everything()
    catalog.write(before, plan_upload(before.products, products, replace), NOW)


def test_a_category_reads_its_first_products_in_sku_order_and_the_upload_reads_them_all(clock) -> None:
    catalog = wiring.catalog()
    assert catalog.everything().products == {} and catalog.in_category("vitamins", 5) == []
    assert catalog.categories() == frozenset()
    upload(product("V3"), product("V1"), product("V2", price="0"), product("S1", "sport"))

    assert catalog.in_category("vitamins", 2) == [product("V1"), product("V2", price="0")]
    assert catalog.in_category("vitamins", 2)[0].price == Decimal("19.90")  # as written, not as a float
    everything = catalog.everything()
    assert set(everything.products) == {"V1", "V2", "V3", "S1"}
    assert everything.categories == {"vitamins", "sport"} == catalog.categories()


def test_a_moved_product_is_in_its_new_category_only_and_a_replace_empties_the_rest(clock) -> None:
    catalog = wiring.catalog()
    upload(product("V1"), product("S1", "sport"))
    upload(product("V1", "sport"))
    assert catalog.in_category("vitamins", 10) == []
    assert [p.sku for p in catalog.in_category("sport", 10)] == ["S1", "V1"]

    upload(product("K1", "kids"), replace=True)
    assert catalog.in_category("sport", 10) == []
    assert catalog.everything().products == {"K1": product("K1", "kids")}
    assert catalog.everything().categories == {"kids"} == catalog.categories()


def test_an_upload_planned_on_an_older_catalogue_is_refused_and_writes_nothing(clock) -> None:
    catalog = wiring.catalog()
    stale = catalog.everything()
    upload(product("V1"))
    with pytest.raises(CatalogBusy):
        catalog.write(stale, plan_upload(stale.products, [product("S1", "sport")], False), NOW)
    assert catalog.in_category("sport", 10) == []
    assert set(catalog.everything().products) == {"V1"}


def test_an_upload_cut_short_holds_the_catalogue_until_its_claim_lapses(store, clock) -> None:
    if store != "moto":
        pytest.skip("the memory store writes an upload in one step under its lock: nothing is ever cut short")
    upload(product("V1"))
    CatalogModel(REGISTRY, REGISTRY).update(actions=[CatalogModel.busy_until.set(NOW + LEASE)])
    catalog = wiring.catalog()
    before = catalog.everything()
    change = plan_upload(before.products, [product("S1", "sport")], False)
    with pytest.raises(CatalogBusy):
        catalog.write(before, change, NOW)
    catalog.write(before, change, NOW + LEASE + timedelta(seconds=1))
    assert [p.sku for p in catalog.in_category("sport", 10)] == ["S1"]
