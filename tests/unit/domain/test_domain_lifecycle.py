"""Lifecycle segments (RFM) and the due timers they imply."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from domain_builders import utc

from chalicelib.domain.lifecycle import CoursePurchase, OrderFacts, next_birthday, segment, timers
from chalicelib.domain.model import Strategy

NOW = utc(2025, 6, 1, 12)
MOSCOW = ZoneInfo("Europe/Moscow")


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.mark.parametrize(("facts", "expected"), [
    (OrderFacts(), "prospect"),
    (OrderFacts(orders=1, first_order_at=ago(10), last_order_at=ago(10)), "new"),
    (OrderFacts(orders=2, first_order_at=ago(90), last_order_at=ago(10)), "new"),
    (OrderFacts(orders=3, first_order_at=ago(150), last_order_at=ago(10)), "active"),
    (OrderFacts(orders=3, first_order_at=ago(300), last_order_at=ago(159)), "active"),
    (OrderFacts(orders=3, first_order_at=ago(300), last_order_at=ago(160)), "leaving"),
    (OrderFacts(orders=1, first_order_at=ago(200), last_order_at=ago(200)), "leaving"),
    (OrderFacts(orders=5, first_order_at=ago(900), last_order_at=ago(240)), "sleeping"),
    (OrderFacts(orders=1, first_order_at=ago(400), last_order_at=ago(400)), "lost"),
])
def test_segments(strategy: Strategy, facts: OrderFacts, expected: str) -> None:
    assert segment(facts, strategy.lifecycle, NOW) == expected


def test_timers_leaving_stop_list_birthday_refill(strategy: Strategy) -> None:
    facts = OrderFacts(orders=2, first_order_at=ago(40), last_order_at=ago(10), last_activity_at=ago(2),
                       birthday=date(1990, 5, 17),
                       courses=(CoursePurchase("vit-d", ago(10), 30), CoursePurchase("vit-d", ago(40), 30),
                                CoursePurchase("old", ago(100), 30)))
    found = {t.kind: t for t in timers(facts, strategy.lifecycle, MOSCOW, NOW)}
    assert found["leaving"].due_at == ago(10) + timedelta(days=160)
    assert found["leaving"].event == "segment_leaving"
    assert found["stop_list"].due_at == ago(2) + timedelta(days=365)
    assert found["birthday"].due_at == datetime(2026, 5, 17, 10, tzinfo=MOSCOW)
    assert found["refill"].due_at == ago(10) + timedelta(days=27)
    assert found["refill"].properties == {"sku": "vit-d"}
    assert len([t for t in timers(facts, strategy.lifecycle, MOSCOW, NOW) if t.kind == "refill"]) == 1


def test_overdue_timers_fall_due_now_with_a_stable_key(strategy: Strategy) -> None:
    facts = OrderFacts(orders=1, first_order_at=ago(500), last_order_at=ago(500), last_activity_at=ago(400))
    first = timers(facts, strategy.lifecycle, MOSCOW, NOW)
    later = timers(facts, strategy.lifecycle, MOSCOW, NOW + timedelta(days=3))
    assert all(t.due_at == NOW for t in first)
    assert [t.key for t in first] == [t.key for t in later]


@pytest.mark.parametrize(("birthday", "now", "expected"), [
    (date(1990, 6, 1), utc(2025, 6, 1, 6), datetime(2025, 6, 1, 10, tzinfo=MOSCOW)),  # later today
    (date(1990, 6, 1), utc(2025, 6, 1, 8), datetime(2026, 6, 1, 10, tzinfo=MOSCOW)),  # today's has passed
    (date(1992, 2, 29), utc(2025, 1, 1), datetime(2025, 2, 28, 10, tzinfo=MOSCOW)),
    (date(1992, 2, 29), utc(2028, 1, 1), datetime(2028, 2, 29, 10, tzinfo=MOSCOW)),
])
def test_next_birthday(strategy: Strategy, birthday: date, now: datetime, expected: datetime) -> None:
    assert next_birthday(birthday, strategy.lifecycle, MOSCOW, now) == expected
