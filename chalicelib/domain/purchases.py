"""What a contact bought and cares about, kept small enough to live on the contact: the purchase summary
that orders build, the interests that survey answers give, and the recommendations a message shows.

The summary holds one entry per product (sku, name, url, category, count, last bought, course length), the
`LIMIT` most recently bought; every write of the contact pays for its size, so it stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

PURCHASES = "purchases"  # the contact attribute that holds the summary
LIMIT = 20  # products in the summary
INTERESTS = 20
SHOWN = 4  # recommendations in one message
RECENT = 5  # contact.recent_items
TEXT = {"sku": 64, "name": 120, "url": 300, "category": 64}
REPEAT_AFTER = timedelta(days=30)  # a product without a course length is due again after this
LEAD = timedelta(days=3)  # a course product is recommended this long before it runs out


def remember(summary: object, items: Iterable[object], at: datetime) -> list[dict[str, object]]:
    """The summary after an order of `items` at `at`: counts add up, the newest facts about a product win."""
    by_sku = {str(entry["sku"]): dict(entry) for entry in _entries(summary)}
    for item in items:
        if not isinstance(item, Mapping) or not item.get("sku"):
            continue
        sku = _clip("sku", item["sku"])
        entry = by_sku.setdefault(sku, {"sku": sku, "count": 0, "last_bought": at.isoformat()})
        entry["count"] = _int(entry.get("count")) + max(1, _int(item.get("quantity"), 1))
        if at.isoformat() >= str(entry["last_bought"]):
            entry["last_bought"] = at.isoformat()
            for name in ("name", "url", "category"):
                if item.get(name):
                    entry[name] = _clip(name, item[name])
            if isinstance(item.get("course_days"), int) and item["course_days"] > 0:
                entry["course_days"] = item["course_days"]
    newest = sorted(by_sku.values(), key=lambda e: (str(e["last_bought"]), str(e["sku"])), reverse=True)
    return newest[:LIMIT]


def interests_from(answers: object) -> list[str]:
    """Survey answers as interests: every text the answers hold, lower-case, each once, in order given."""
    found: list[str] = []
    for text in _texts(answers):
        topic = text.strip().lower()[:40]
        if topic and topic not in found:
            found.append(topic)
    return found[:INTERESTS]


def recent_items(summary: object) -> list[dict[str, object]]:
    return _entries(summary)[:RECENT]


def recommendations(summary: object, now: datetime) -> list[dict[str, object]]:
    """Products due for re-purchase: a course about to run out, or anything bought over REPEAT_AFTER ago.
    The most often bought first; nothing bought just now."""
    due = [entry for entry in _entries(summary) if _due(entry, now)]
    return sorted(due, key=lambda e: (-_int(e.get("count")), str(e["sku"])))[:SHOWN]


def _due(entry: Mapping[str, object], now: datetime) -> bool:
    try:
        bought = datetime.fromisoformat(str(entry["last_bought"]))
    except ValueError:
        return False
    course = entry.get("course_days")
    if isinstance(course, int) and course > 0:
        return bought + timedelta(days=course) - LEAD <= now
    return bought + REPEAT_AFTER <= now


def _entries(summary: object) -> list[dict[str, object]]:
    """The stored summary, newest first; whatever is not an entry is left out."""
    if not isinstance(summary, Sequence) or isinstance(summary, str):
        return []
    entries = [dict(e) for e in summary if isinstance(e, Mapping) and e.get("sku") and e.get("last_bought")]
    return sorted(entries, key=lambda e: str(e["last_bought"]), reverse=True)


def _texts(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def _clip(name: str, value: Any) -> str:
    return str(value).strip()[: TEXT[name]]


def _int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default
