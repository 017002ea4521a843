"""The product catalogue table: one row per product, keyed by (category, sku), so recommendations read a
category's first products with one Query; and one registry row listing the categories, so an upload reads
the whole catalogue category by category (no Scan: the functions' role is not granted one).

An upload writes in three steps: it claims the registry (the version it read, no other upload under way) and
lists every category it is about to write; writes its rows, removals first, so an upload cut short leaves a
product missing (the next upload puts it back), never listed twice; then releases the registry with the
categories that hold products. A claim left by an upload that died lapses after LEASE.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from chalicelib.domain.catalog import CatalogChange, Product
from chalicelib.store.models import _meta, share_connection

# Upper case: no category key (trimmed, lower case) can be this one.
REGISTRY = "REGISTRY"
LEASE = timedelta(minutes=2)  # longer than the API's 29 s timeout


class CatalogModel(Model):
    """A product row, or the one registry row at (REGISTRY, REGISTRY): the categories that hold products, and
    the upload under way."""

    Meta = _meta("catalog")
    category = UnicodeAttribute(hash_key=True)
    sku = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    price = UnicodeAttribute(null=True)  # the decimal's text: 19.90 stays 19.90
    categories = ListAttribute[str](of=UnicodeAttribute, null=True)
    version = NumberAttribute(null=True)
    busy_until = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)


share_connection(CatalogModel)


class CatalogBusy(Exception):
    """Another upload is being written, or one was written since this one read the catalogue."""


@dataclass(frozen=True)
class StoredCatalog:
    products: dict[str, Product]  # by sku
    categories: frozenset[str]  # as registered: every category that may hold products
    version: int


def _product(row: CatalogModel) -> Product:
    return Product(row.sku, row.name or "", row.url or "", row.category, Decimal(row.price or 0))


def _row(product: Product, now: datetime) -> CatalogModel:
    return CatalogModel(product.category, product.sku, name=product.name, url=product.url,
                        price=str(product.price), updated_at=now)


class CatalogRepository:
    def in_category(self, category: str, limit: int) -> list[Product]:
        """The category's first `limit` products in sku order (one Query; eventually consistent)."""
        return [_product(row) for row in CatalogModel.query(category, limit=limit)]

    def categories(self) -> frozenset[str]:
        """The categories that may hold products (one GetItem of the registry; eventually consistent)."""
        try:
            return frozenset(CatalogModel.get(REGISTRY, REGISTRY).categories or ())
        except CatalogModel.DoesNotExist:
            return frozenset()

    def everything(self) -> StoredCatalog:
        """Every product, read category by category from the registry (consistent reads)."""
        try:
            registry = CatalogModel.get(REGISTRY, REGISTRY, consistent_read=True)
        except CatalogModel.DoesNotExist:
            return StoredCatalog({}, frozenset(), 0)
        categories = registry.categories or []
        products = {row.sku: _product(row) for category in categories
                    for row in CatalogModel.query(category, consistent_read=True)}
        return StoredCatalog(products, frozenset(categories), int(registry.version or 0))

    def write(self, before: StoredCatalog, change: CatalogChange, now: datetime) -> None:
        """Writes `change`, planned on `before`; CatalogBusy (nothing written) when the catalogue is not
        `before` any more or another upload is under way."""
        claimed = before.version + 1
        self._claim(before, claimed, before.categories | {p.category for p in change.puts}, now)
        with CatalogModel.batch_write() as batch:
            for product in change.deletes:
                batch.delete(CatalogModel(product.category, product.sku))
            for product in change.puts:
                batch.save(_row(product, now))
        self._release(claimed, change.categories(before.products), now)

    def _claim(self, before: StoredCatalog, version: int, categories: Iterable[str], now: datetime) -> None:
        registry = CatalogModel(REGISTRY, REGISTRY, categories=sorted(categories), version=version,
                                        busy_until=now + LEASE, updated_at=now)
        unchanged = (CatalogModel.version == before.version if before.version
                     else CatalogModel.category.does_not_exist())
        idle = CatalogModel.busy_until.does_not_exist() | (CatalogModel.busy_until < now)
        try:
            registry.save(condition=unchanged & idle)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise CatalogBusy from None
            raise

    def _release(self, claimed: int, categories: Iterable[str], now: datetime) -> None:
        registry = CatalogModel(REGISTRY, REGISTRY)
        try:
            registry.update(
                actions=[CatalogModel.categories.set(sorted(categories)),
                         CatalogModel.version.set(claimed + 1), CatalogModel.busy_until.remove(),
                         CatalogModel.updated_at.set(now)],
                condition=CatalogModel.version == claimed,
            )
        except UpdateError as exc:
            # Past its lease another upload claimed the registry: its release lists the categories then.
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
