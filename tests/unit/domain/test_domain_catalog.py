"""What a catalogue upload changes, and the recommendations: re-purchase first, then catalogue products of the
contact's interests and bought categories, never what they bought, bounded and in a fixed order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.catalog import Product, plan_upload
from chalicelib.domain.purchases import (
    CATEGORIES,
    REPURCHASE_SHOWN,
    SHOWN,
    categories_for,
    recommendations,
    remember,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def product(sku: str, category: str = "vitamins", price: str = "490") -> Product:
    return Product(sku, f"Product {sku}", f"https://www.example.com/p/{sku}", category, Decimal(price))


def test_an_upload_creates_updates_and_moves_products_and_leaves_the_rest() -> None:
    current = {p.sku: p for p in (product("A1"), product("B2"), product("C3", "sport"))}
    upload = [product("A1"), product("B2", price="19.90"), product("C3", "kids"), product("D4", "kids")]

    change = plan_upload(current, upload, replace=False)

    assert (change.created, change.updated, change.unchanged, change.removed) == (1, 2, 1, 0)
    assert [p.sku for p in change.puts] == ["B2", "C3", "D4"]
    assert change.deletes == (product("C3", "sport"),)  # its old row: it moved to kids
    assert change.categories(current) == {"vitamins", "kids"}


def test_a_full_replace_removes_what_the_upload_does_not_list() -> None:
    current = {p.sku: p for p in (product("A1"), product("B2", "sport"))}

    change = plan_upload(current, [product("A1")], replace=True)

    assert (change.created, change.updated, change.unchanged, change.removed) == (0, 0, 1, 1)
    assert change.puts == () and change.deletes == (product("B2", "sport"),)
    assert change.categories(current) == {"vitamins"}
    assert plan_upload(current, [], replace=True).categories(current) == frozenset()


def test_due_items_come_first_then_interests_in_turn_never_what_was_bought() -> None:
    summary = remember([], [{"sku": "A1", "category": "Vitamins"}], AT - timedelta(days=40))
    summary = remember(summary, [{"sku": "V2", "category": "vitamins"}], AT - timedelta(days=1))  # just bought
    catalogue = {"sport": [product("S1", "sport"), product("S2", "sport")],
                 "vitamins": [product("A1"), product("V1"), product("V2"), product("V3")]}

    picked = recommendations(summary, AT, ["sport"], catalogue)

    assert [(p["sku"], p["why"]) for p in picked] == [
        ("A1", "repurchase"), ("S1", "interest"), ("V1", "interest"), ("S2", "interest"), ("V3", "interest")]
    assert picked[1]["url"] == "https://www.example.com/p/S1" and picked[1]["price"] == Decimal("490")


def test_with_nothing_bought_no_interests_or_no_catalogue_there_is_nothing_to_show() -> None:
    assert recommendations(None, AT) == []
    assert recommendations([], AT, ["sport"], {}) == []
    assert recommendations([], AT, [], {"sport": [product("S1", "sport")]}) == []
    assert categories_for(None, []) == []


def test_the_categories_are_the_interests_then_what_was_bought_newest_first_each_once() -> None:
    summary = remember([], [{"sku": "K1", "category": "Kids"}], AT - timedelta(days=9))
    summary = remember(summary, [{"sku": "V1", "category": "vitamins"}], AT)
    assert categories_for(summary, ["sport", " Vitamins "]) == ["sport", "vitamins", "kids"]


def test_the_first_categories_the_catalogue_holds_are_shown_one_product_each_in_turn() -> None:
    interests = ["poetry", *(f"c{n}" for n in range(CATEGORIES + 2))]  # no catalogue has poetry
    catalogue = {f"c{n}": [product(f"P{n}", f"c{n}")] for n in range(CATEGORIES + 2)}

    picked = recommendations([], AT, interests, catalogue)

    assert [p["sku"] for p in picked] == [f"P{n}" for n in range(CATEGORIES)]


skus = st.sampled_from([f"S{n}" for n in range(12)])


@given(
    bought=st.lists(st.tuples(skus, st.integers(0, 90), st.sampled_from(["a", "b", "c"])), max_size=12),
    interests=st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4),
    listed=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(skus, max_size=8, unique=True)),
)
def test_recommendations_are_bounded_unique_and_never_offer_a_bought_product_as_new(
    bought: list[tuple[str, int, str]], interests: list[str], listed: dict[str, list[str]],
) -> None:
    summary: list[dict[str, object]] = []
    for sku, days_ago, category in bought:
        summary = remember(summary, [{"sku": sku, "category": category}], AT - timedelta(days=days_ago))
    catalogue = {c: [product(s, c) for s in sorted(found)] for c, found in listed.items()}

    picked = recommendations(summary, AT, interests, catalogue)

    assert len(picked) <= SHOWN
    assert len({p["sku"] for p in picked}) == len(picked)
    assert sum(p["why"] == "repurchase" for p in picked) <= REPURCHASE_SHOWN
    in_summary = {e["sku"] for e in summary}
    assert all(p["sku"] not in in_summary for p in picked if p["why"] == "interest")
    assert picked == recommendations(summary, AT, interests, catalogue)  # the same inputs, the same order


rows = st.lists(st.tuples(skus, st.sampled_from(["a", "b"]), st.sampled_from(["1", "2"])), max_size=10,
                unique_by=lambda row: row[0])


@given(current=rows, upload=rows, replace=st.booleans())
def test_writing_an_uploads_change_gives_the_upserted_or_replaced_catalogue(
    current: list[tuple[str, str, str]], upload: list[tuple[str, str, str]], replace: bool,
) -> None:
    before = {sku: product(sku, category, price) for sku, category, price in current}
    products = [product(sku, category, price) for sku, category, price in upload]
    change = plan_upload(before, products, replace)

    table = {(p.category, p.sku): p for p in before.values()}  # the table's rows, keyed as stored
    for gone in change.deletes:
        del table[(gone.category, gone.sku)]
    table.update({(p.category, p.sku): p for p in change.puts})

    expected = {} if replace else dict(before)
    expected.update({p.sku: p for p in products})
    assert sorted(table.values(), key=lambda p: p.sku) == sorted(expected.values(), key=lambda p: p.sku)
    assert change.categories(before) == {p.category for p in expected.values()}
    assert change.created + change.updated + change.unchanged == len(products)
