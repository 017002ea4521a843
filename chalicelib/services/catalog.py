"""The product catalogue: a service manager's upload (JSON or CSV, every row checked before anything is
written), and the catalogue as the senders read it, by category, at most once a minute per container.

An upload upserts by sku; `?replace=true` also removes every product it does not list. Categories are kept
as recommendations match them against interests: trimmed, in lower case.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from chalicelib.clock import Clock
from chalicelib.domain.catalog import Product, category_key, plan_upload
from chalicelib.domain.purchases import CATEGORIES, PER_CATEGORY, TEXT
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.catalog import CatalogBusy, CatalogRepository
from chalicelib.store.errors import is_busy

COLUMNS = ("sku", "name", "url", "category", "price")
UPLOAD_BODY = limits.EVENTS_BODY  # what reaches a Lambda function synchronously
UPLOAD_PRODUCTS = 5_000  # rows one upload may hold: written within the API's 29 s
CATALOG_PRODUCTS = 20_000  # products the catalogue may hold: an upload reads them all
CACHE_SECONDS = 60
_PRICE = re.compile(r"\d{1,12}(\.\d{1,4})?")
CSV_TYPES = ("text/csv", "application/csv")
T = TypeVar("T")


@dataclass(frozen=True)
class _Where:
    """Names a row's field in an error: a JSON path (`products[3].price`) or a CSV line."""

    path: str | None = None
    line: int | None = None

    def fail(self, name: str, expected: str, code: str = "invalid_field") -> ClientError:
        if self.line is not None:
            return ClientError(code, f"Line {self.line}: {name} {expected}.", name, detail={"line": self.line})
        return ClientError(code, f"{self.path}.{name} {expected}.", f"{self.path}.{name}")


def _text(values: Mapping[str, Any], name: str, where: _Where, limit: int) -> str:
    value = values.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise where.fail(name, "is required (a text)")
    if len(text) > limit or any(ord(c) < 32 for c in text) or not _encodable(text):
        raise where.fail(name, f"must be plain text of at most {limit} characters")
    return text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _url(values: Mapping[str, Any], where: _Where) -> str:
    url = _text(values, "url", where, TEXT["url"])
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise where.fail("url", "must be an http(s) address such as https://www.example.com/p/a1")
    return url


def _price(values: Mapping[str, Any], where: _Where) -> Decimal:
    value = values.get("price")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise where.fail("price", "is required (a decimal number of at least 0, such as 490 or 19.90)")
    text = str(value).strip()
    if not _PRICE.fullmatch(text):
        raise where.fail("price", "must be a decimal number of at least 0 with a point, such as 490 or 19.90")
    return Decimal(text)


def parse_product(values: Mapping[str, Any], where: _Where) -> Product:
    for name in values:
        if name not in COLUMNS:
            raise where.fail(str(name), f"is not a product field (expected {', '.join(COLUMNS)})", "unknown_field")
    return Product(
        sku=_text(values, "sku", where, TEXT["sku"]), name=_text(values, "name", where, TEXT["name"]),
        url=_url(values, where), category=category_key(_text(values, "category", where, TEXT["category"])),
        price=_price(values, where),
    )


def _from_json(raw: bytes | str | None) -> list[tuple[_Where, Product]]:
    body = limits.read_json(raw, UPLOAD_BODY)
    if not isinstance(body, dict) or not isinstance(body.get("products"), list):
        raise ClientError("invalid_body", 'The body must be {"products": [{"sku", "name", "url", "category", '
                          '"price"}, ...]}.', "products")
    for name in body:
        if name != "products":
            raise ClientError("unknown_field", f"Unknown field {name!r} (expected products).", name)
    _count(len(body["products"]))
    products = []
    for index, row in enumerate(body["products"]):
        where = _Where(path=f"products[{index}]")
        if not isinstance(row, dict):
            raise ClientError("invalid_field", f"{where.path} must be an object.", where.path)
        products.append((where, parse_product(row, where)))
    return products


def _from_csv(raw: bytes | str | None) -> list[tuple[_Where, Product]]:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > UPLOAD_BODY:
        raise ClientError("body_too_large", f"The request body is larger than {UPLOAD_BODY // limits.KB} KB.", None)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ClientError("invalid_body", f"The CSV is not UTF-8 text: {exc}.", None) from None
    header = text.split("\n", 1)[0]
    # A spreadsheet in a locale whose decimal mark is a comma saves with semicolons.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if header.count(";") > header.count(",") else ",")
    try:
        columns = [c.strip().lower() for c in next(reader)]
    except StopIteration:
        raise ClientError("invalid_body", f"The CSV needs a header row: {','.join(COLUMNS)}.", None) from None
    except csv.Error as exc:
        raise ClientError("invalid_body", f"Line 1: {exc}.", None, detail={"line": 1}) from None
    for name in COLUMNS:
        if name not in columns:
            raise ClientError("missing_column", f"The CSV header has no {name} column (it needs "
                              f"{', '.join(COLUMNS)}, in any order).", name, detail={"line": 1})
    products: list[tuple[_Where, Product]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise ClientError("invalid_row", f"Line {line} has {len(cells)} cells; the header has "
                                  f"{len(columns)}.", None, detail={"line": line})
            _count(len(products) + 1)
            where = _Where(line=line)
            products.append((where, parse_product(dict(zip(columns, cells, strict=True)), where)))
    except csv.Error as exc:
        raise ClientError("invalid_body", f"Line {reader.line_num}: {exc}.", None,
                          detail={"line": reader.line_num}) from None
    return products


def _count(rows: int) -> None:
    if rows > UPLOAD_PRODUCTS:
        raise ClientError("too_many_products", f"An upload holds at most {UPLOAD_PRODUCTS} products.", "products")


def _unique(rows: Sequence[tuple[_Where, Product]]) -> list[Product]:
    seen: set[str] = set()
    for where, product in rows:
        if product.sku in seen:
            raise where.fail("sku", f"{product.sku!r} is listed twice", "duplicate_sku")
        seen.add(product.sku)
    return [product for _, product in rows]


def _replace(query: Mapping[str, str]) -> bool:
    value = (query.get("replace") or "false").strip().lower()
    if value not in ("true", "false"):
        raise ClientError("invalid_field", "replace must be true or false.", "replace")
    return value == "true"


@dataclass
class CatalogUploads:
    repository: CatalogRepository
    clock: Clock
    on_saved: Callable[[], None] = lambda: None  # this container's senders see the upload at once

    def put(self, raw: bytes | str | None, media_type: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Checks every row, then upserts the products (all of them or, on a bad row, none)."""
        replace = _replace(query)
        products = _unique(_from_csv(raw) if media_type in CSV_TYPES else _from_json(raw))
        before = self.repository.everything()
        change = plan_upload(before.products, products, replace)
        total = len(before.products) + change.created - change.removed
        if total > CATALOG_PRODUCTS:
            raise ClientError("too_many_products", f"The catalogue would hold {total} products; it holds at most "
                              f"{CATALOG_PRODUCTS} (remove some with ?replace=true).", "products")
        try:
            self.repository.write(before, change, self.clock.now())
        except CatalogBusy:
            raise ClientError("catalog_busy", "Another catalogue upload is being written or was written meanwhile; "
                              "upload again.", None, status=409) from None
        self.on_saved()
        return {"products": len(products), "created": change.created, "updated": change.updated,
                "unchanged": change.unchanged, "removed": change.removed,
                "categories": len(change.categories(before.products)), "replace": replace}


@dataclass
class LiveCatalog:
    """The catalogue as senders read it: which categories it holds, and each category's first PER_CATEGORY
    products in sku order, each read at most once every CACHE_SECONDS per container. Only categories the
    catalogue holds are read, so survey answers that name none cost nothing."""

    repository: CatalogRepository
    clock: Clock
    ttl: timedelta = timedelta(seconds=CACHE_SECONDS)
    _known: tuple[datetime, frozenset[str]] | None = field(default=None, repr=False)
    _read: dict[str, tuple[datetime, tuple[Product, ...]]] = field(default_factory=dict, repr=False)

    def products_in(self, wanted: Sequence[str]) -> dict[str, tuple[Product, ...]]:
        """The products of the first CATEGORIES of `wanted` the catalogue holds."""
        now = self.clock.now()
        known = self._known
        if known is None or now - known[0] >= self.ttl:
            known = self._known = (now, self._fresh(self.repository.categories, known[1] if known else frozenset()))
        found = {}
        for category in [c for c in wanted if c in known[1]][:CATEGORIES]:
            cached = self._read.get(category)
            if cached is None or now - cached[0] >= self.ttl:
                cached = (now, self._fresh(partial(self._first, category), cached[1] if cached else ()))
                self._read[category] = cached
            found[category] = cached[1]
        return found

    def _first(self, category: str) -> tuple[Product, ...]:
        return tuple(self.repository.in_category(category, PER_CATEGORY))

    def _fresh(self, read: Callable[[], T], before: T) -> T:
        try:
            return read()
        except Exception as exc:  # sorted, not swallowed: only a busy store is answered here
            if not is_busy(exc):
                raise
            # Recommendations are an extra: a throttled read shows what was read before rather than fail the mail.
            return before

    def refresh(self) -> None:
        self._known = None
        self._read.clear()
