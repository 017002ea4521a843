"""The memory store's catalogue (chalicelib.store.memory): the same semantics as store.catalog, with the
whole write under the database's lock, so no upload is ever seen half written."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.domain.catalog import CatalogChange, Product
from chalicelib.store.catalog import CatalogBusy, CatalogRepository, StoredCatalog

if TYPE_CHECKING:
    from chalicelib.store.memory import MemoryDatabase


class MemoryCatalog(CatalogRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._rows: dict[str, dict[str, Product]] = {}  # category -> sku -> product
        self._version = 0

    def in_category(self, category: str, limit: int) -> list[Product]:
        with self._db.lock:
            rows = self._rows.get(category, {})
            found = [rows[sku] for sku in sorted(rows)[:limit]]
            self._db.request("Query", "catalog", *found)
        return found

    def categories(self) -> frozenset[str]:
        with self._db.lock:
            self._db.request("GetItem", "catalog", None)  # the registry row
            return frozenset(c for c, rows in self._rows.items() if rows)

    def everything(self) -> StoredCatalog:
        with self._db.lock:
            self._db.request("GetItem", "catalog", None)  # the registry row
            products = {p.sku: p for rows in self._rows.values() for p in rows.values()}
            return StoredCatalog(products, frozenset(c for c, rows in self._rows.items() if rows), self._version)

    def write(self, before: StoredCatalog, change: CatalogChange, now: datetime) -> None:
        with self._db.lock:
            if before.version != self._version:
                raise CatalogBusy
            for product in change.deletes:
                self._rows.get(product.category, {}).pop(product.sku, None)
            for product in change.puts:
                self._rows.setdefault(product.category, {})[product.sku] = product
            self._db.request("BatchWriteItem", "catalog", *change.deletes, *change.puts)
            self._version += 2  # as the registry's claim and release move it
