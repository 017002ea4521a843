"""The purchase summary stays bounded and true to the orders; interests and recommendations read well with
nothing to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.purchases import LIMIT, interests_from, recent_items, recommendations, remember

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_orders_add_up_per_product_and_the_newest_facts_win() -> None:
    summary = remember([], [{"sku": "A1", "name": "Vitamin D", "quantity": 2}], AT)
    summary = remember(summary, [{"sku": "A1", "name": "Vitamin D3", "url": "https://shop/a1", "course_days": 30},
                                 {"sku": "B2"}], AT + timedelta(days=1))
    summary = remember(summary, [{"sku": "A1", "name": "an old name"}], AT - timedelta(days=5))  # a late event

    a1 = next(e for e in summary if e["sku"] == "A1")
    assert (a1["count"], a1["name"], a1["url"], a1["course_days"]) == (4, "Vitamin D3", "https://shop/a1", 30)
    assert a1["last_bought"] == (AT + timedelta(days=1)).isoformat()
    assert [e["sku"] for e in recent_items(summary)] == ["B2", "A1"]  # bought together: by sku, descending


def test_an_order_without_items_or_with_junk_changes_nothing() -> None:
    assert remember(None, [], AT) == []
    assert remember("junk", [None, {"name": "no sku"}, 5], AT) == []


@given(st.lists(st.lists(st.integers(0, 60), max_size=6), max_size=40))
def test_the_summary_never_holds_more_than_its_limit_and_keeps_the_newest(orders: list[list[int]]) -> None:
    summary: list[dict[str, object]] = []
    bought: dict[str, datetime] = {}
    for day, skus in enumerate(orders):
        at = AT + timedelta(days=day)
        summary = remember(summary, [{"sku": f"S{n}"} for n in skus], at)
        bought.update({f"S{n}": at for n in skus})
    assert len(summary) <= LIMIT
    newest = sorted(bought.values(), reverse=True)[:LIMIT]
    assert sorted((datetime.fromisoformat(str(e["last_bought"])) for e in summary), reverse=True) == newest


def test_interests_are_the_texts_of_the_answers_each_once() -> None:
    answers = {"topics": ["Vitamins", "sport"], "kids": {"ages": ["3-5"]}, "nps": 9, "again": "vitamins"}
    assert interests_from(answers) == ["vitamins", "sport", "3-5"]
    assert interests_from(None) == [] and interests_from({"nps": 9}) == []


def test_a_course_is_recommended_before_it_runs_out_and_anything_else_a_month_on() -> None:
    summary = remember([], [{"sku": "C30", "course_days": 30}, {"sku": "P"}], AT)
    summary = remember(summary, [{"sku": "P"}], AT + timedelta(hours=1))

    assert recommendations(summary, AT + timedelta(days=26)) == []
    assert [e["sku"] for e in recommendations(summary, AT + timedelta(days=27))] == ["C30"]
    assert [e["sku"] for e in recommendations(summary, AT + timedelta(days=31))] == ["P", "C30"]  # P twice
    assert recommendations([], AT) == [] and recommendations(None, AT) == []
