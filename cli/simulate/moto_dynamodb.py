"""moto's DynamoDB with two of its costs taken out, answers unchanged (moto internals, wrapped here only).

A `--store moto` run spent a third of its time in two places that grow with the tables, not with the request:
- every query and scan sorts the whole table by key (`Table.all_items`), with DynamoType comparisons; the
  sorted list is kept per table while the table holds the very same item objects (an item's key never changes,
  and an update changes its item in place), so it is sorted again only after a put or a delete;
- every TransactWriteItems deep-copies each table it names, to put the copy back if the transaction fails. Here
  only the items it names are copied, and put back on failure; moto's own copy step is skipped.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock


@contextmanager
def lighter_moto_dynamodb() -> Iterator[None]:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    sorted_items = Table.all_items
    kept: dict[int, tuple[Any, list[int], list[Any], list[Any]]] = {}  # id(table) -> (table, ids, items, sorted)

    def all_items(table: Any) -> list[Any]:
        items = [item for stored in table.items.values()
                 for item in (stored.values() if table.range_key_attr else (stored,))]
        ids = [id(item) for item in items]
        found = kept.get(id(table))
        if found is None or found[0] is not table or found[1] != ids:
            found = kept[id(table)] = (table, ids, items, sorted_items(table))
        return list(found[3])

    transact = models.DynamoDBBackend.transact_write_items
    # moto's module copies each named table before a transaction; a table "copied" here is the table itself
    no_table_copies = SimpleNamespace(
        deepcopy=lambda value, memo=None: value if isinstance(value, Table) else copy.deepcopy(value, memo))

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _named_items(backend, transact_items)
        if saved is None:  # a shape this does not know: moto's own way
            transact(backend, transact_items)
            return
        try:
            with mock.patch.object(models, "copy", no_table_copies):
                transact(backend, transact_items)
        except BaseException:
            for table, hash_key, range_key, had_hash, item in reversed(saved):
                _put_back(table, hash_key, range_key, had_hash, item)
            raise

    with mock.patch.object(Table, "all_items", all_items), \
            mock.patch.object(models.DynamoDBBackend, "transact_write_items", transact_write_items):
        yield


def _named_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """(table, hash key, range key, whether the hash key was stored, a copy of the item or None) for each item
    the transaction names, as stored before it; None when an entry is not the plain shape this reads."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    for entry in transact_items:
        if len(entry) != 1:
            return None
        (kind, op), = entry.items()
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        key = op.get("Item") if kind == "Put" else op.get("Key")
        if table is None or not isinstance(key, dict) or table.hash_key_attr not in key or (
                table.range_key_attr and table.range_key_attr not in key):
            return None
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (AttributeError, KeyError, TypeError, ValueError):  # a malformed key: moto reports it its own way
            return None
        had_hash = hash_key in table.items
        stored = table.items.get(hash_key) if range_key is None else table.items.get(hash_key, {}).get(range_key)
        saved.append((table, hash_key, range_key, had_hash, copy.deepcopy(stored)))
    return saved


def _put_back(table: Any, hash_key: Any, range_key: Any, had_hash: bool, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if not had_hash:
        table.items.pop(hash_key, None)
        return
    stored = table.items.setdefault(hash_key, {})
    if item is None:
        stored.pop(range_key, None)
    else:
        stored[range_key] = item
