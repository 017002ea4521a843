"""The product catalogue a service manager uploads: products by category, and what an upload changes.

Categories are matched against the contact's interests (survey topics, lower case) and the categories they
bought, so a category is kept as its matching key: trimmed, in lower case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


def category_key(text: str) -> str:
    return text.strip().lower()


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    url: str
    category: str  # category_key of what was uploaded
    price: Decimal

    def as_item(self) -> dict[str, object]:
        """As templates read an order item."""
        return {"sku": self.sku, "name": self.name, "url": self.url, "category": self.category, "price": self.price}


@dataclass(frozen=True)
class CatalogChange:
    """What an upload writes: `puts` new and changed products, `deletes` the rows that go (a product that moved
    to another category leaves its old row; a full replace removes what the upload does not list)."""

    puts: tuple[Product, ...]
    deletes: tuple[Product, ...]
    created: int
    updated: int
    unchanged: int
    removed: int

    def categories(self, current: Mapping[str, Product]) -> frozenset[str]:
        """The categories holding products once the change is written."""
        gone = {p.sku for p in self.deletes}
        kept = {p.category for sku, p in current.items() if sku not in gone}
        return frozenset(kept | {p.category for p in self.puts})


def plan_upload(current: Mapping[str, Product], upload: Sequence[Product], replace: bool) -> CatalogChange:
    """Upserts `upload` (skus unique) into `current` (by sku); with `replace`, products it omits are removed."""
    puts: list[Product] = []
    deletes: list[Product] = []
    created = updated = 0
    for product in upload:
        before = current.get(product.sku)
        if before == product:
            continue
        puts.append(product)
        if before is None:
            created += 1
            continue
        updated += 1
        if before.category != product.category:
            deletes.append(before)
    listed = {p.sku for p in upload}
    removed = [p for sku, p in sorted(current.items()) if replace and sku not in listed]
    return CatalogChange(tuple(puts), tuple(deletes + removed), created, updated,
                         len(upload) - created - updated, len(removed))
