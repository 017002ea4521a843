"""What a contact bought and cares about, kept small enough to live on the contact: the purchase summary
that orders build, the interests that survey answers give, and the recommendations a message shows.

The summary holds one entry per product (sku, name, url, category, count, last bought, course length), the
`LIMIT` most recently bought; every write of the contact pays for its size, so it stays bounded.

Recommendations are the contact's products due for re-purchase, then catalogue products of the categories
they care about (their interests, then the categories they bought), leaving out whatever they bought.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.catalog import Product, category_key

PURCHASES = "purchases"  # the contact attribute that holds the summary
LIMIT = 20  # products in the summary
INTERESTS = 20
SHOWN = 6  # recommendations in one message
REPURCHASE_SHOWN = 4  # of them due for re-purchase: the rest is room for something new
CATEGORIES = 4  # catalogue categories one message's recommendations come from
PER_CATEGORY = SHOWN + LIMIT  # products read per category: enough with every product in the summary left out
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


def recommendations(
    summary: object, now: datetime, interests: Sequence[str] = (),
    catalogue: Mapping[str, Sequence[Product]] | None = None,
) -> list[dict[str, object]]:
    """Products due for re-purchase (a course about to run out, anything else bought over REPEAT_AFTER ago),
    the most often bought first, at most REPURCHASE_SHOWN; then up to SHOWN in all from `catalogue` (category ->
    products in sku order), from the first CATEGORIES of `categories_for(summary, interests)` it holds, one per
    category in turn, never a product in the summary. Each says `why`: "repurchase" or "interest"."""
    entries = _entries(summary)
    due = sorted((e for e in entries if _due(e, now)), key=lambda e: (-_int(e.get("count")), str(e["sku"])))
    picked = [{**entry, "why": "repurchase"} for entry in due[:REPURCHASE_SHOWN]]
    seen = {str(entry["sku"]) for entry in entries}
    catalogue = catalogue or {}
    listed = [category for category in categories_for(summary, interests) if catalogue.get(category)]
    queues = [list(catalogue[category]) for category in listed[:CATEGORIES]]
    while len(picked) < SHOWN and any(queues):
        for queue in queues:
            while queue and queue[0].sku in seen:
                queue.pop(0)
            if queue and len(picked) < SHOWN:
                product = queue.pop(0)
                seen.add(product.sku)
                picked.append({**product.as_item(), "why": "interest"})
    return picked


def categories_for(summary: object, interests: Sequence[str]) -> list[str]:
    """The catalogue categories a contact's recommendations may come from: their interests in the order given,
    then the categories of what they bought, the newest first; each once. The first CATEGORIES of them the
    catalogue holds are shown."""
    found: list[str] = []
    for text in [*interests, *(str(e.get("category") or "") for e in _entries(summary))]:
        category = category_key(text)
        if category and category not in found:
            found.append(category)
    return found


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
