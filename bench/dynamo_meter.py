"""What in-process moto's DynamoDB was asked for, priced as DynamoDB would price it: the benches' meter.

moto reports a fixed ConsumedCapacity, so the read units are computed here with DynamoDB's rules from the
items each request actually read (a Query's items *before* its filter, sized as its index projects them):
a GetItem costs its item rounded up to 4 KB, a Query page the sum of its items rounded up to 4 KB, at
least one unit each, halved for eventually consistent reads. Time spent inside moto's handler is summed
too, so a bench can tell the CPU its own code spent from moto's.

Write units follow DynamoDB's rules too, from each item as it was before and after the request: 1 unit per
KB (rounded up) of the larger of the two, at least one, twice that inside TransactWriteItems (a condition
check too), and a failed condition still pays for the item. Index upkeep is counted apart, for each GSI and
LSI whose projection of the item changed: the item entering or leaving the index costs its projected size,
changing its index key costs both (a delete and a put), anything else the larger projection. Index writes
are not transactional, so they are never doubled.
"""

from __future__ import annotations

import copy
import inspect
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
UNIT = 4096
WRITE_UNIT = 1024


@dataclass
class Meter:
    requests: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0  # table items and index upkeep together
    index_write_units: Counter[str] = field(default_factory=Counter)  # "<table>/<index>": the upkeep alone
    write_units_by_table: Counter[str] = field(default_factory=Counter)  # "<table>": the items alone
    moto_seconds: float = 0.0
    index_queries: Counter[str] = field(default_factory=Counter)  # "<table>/<index or table>"

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def reset(self) -> None:
        self.requests.clear()
        self.index_queries.clear()
        self.index_write_units.clear()
        self.write_units_by_table.clear()
        self.read_units = 0.0
        self.write_units = 0.0
        self.moto_seconds = 0.0


_current = threading.local()
_lock = threading.Lock()  # moto's DynamoDB is not thread-safe: one request at a time, as DynamoDB is atomic


@contextmanager
def metering() -> Any:
    """Patches moto's DynamoDB handler for the block; yields the Meter every request adds to."""
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.responses import DynamoHandler

    meter = Meter()
    call_action, query, get_item = DynamoHandler.call_action, Table.query, Table.get_item

    def metered_call(handler: Any) -> Any:
        with _lock:
            _current.sizes = []
            started = time.thread_time()
            writes = _written(handler, get_item)
            try:
                return call_action(handler)
            finally:
                meter.moto_seconds += time.thread_time() - started
                _record(meter, handler)
                for written in writes:
                    written.charge(meter, get_item)

    signature = inspect.signature(query)

    def metered_query(table: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(table, *args, **kwargs)
        expression = bound.arguments.pop("filter_expression", None)
        results, scanned, last = query(*bound.args, **bound.kwargs)
        _current.sizes.append(sum(item.size() for item in results))
        if expression is not None:
            results = [item for item in results if expression.expr(item)]
        return results, scanned, last

    def metered_get(table: Any, *args: Any, **kwargs: Any) -> Any:
        item = get_item(table, *args, **kwargs)
        _current.sizes.append(item.size() if item is not None else 0)
        return item

    DynamoHandler.call_action = metered_call  # type: ignore[method-assign]
    Table.query = metered_query  # type: ignore[method-assign]
    Table.get_item = metered_get  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        DynamoHandler.call_action = call_action  # type: ignore[method-assign]
        Table.query = query  # type: ignore[method-assign]
        Table.get_item = get_item  # type: ignore[method-assign]


def _record(meter: Meter, handler: Any) -> None:
    operation = handler._get_action()
    meter.requests[operation] += 1
    body = handler.body or {}
    if operation == "Query":
        meter.index_queries[f"{body.get('TableName')}/{body.get('IndexName') or 'table'}"] += 1
    if operation not in READS:
        return
    consistent = bool(body.get("ConsistentRead")) or any(
        spec.get("ConsistentRead") for spec in (body.get("RequestItems") or {}).values() if isinstance(spec, dict)
    )
    factor = 2.0 if operation == "TransactGetItems" else 1.0 if consistent else 0.5
    meter.read_units += sum(max(1, math.ceil(size / UNIT)) for size in _current.sizes) * factor


@dataclass
class _Written:
    """One item a write request names, as it was before the request."""

    table: Any
    key: tuple[Any, Any]
    before: Any
    factor: float  # 2 inside a transaction

    def charge(self, meter: Meter, get_item: Any) -> None:
        current = get_item(self.table, *self.key)
        after = copy.deepcopy(current) if current is not None else None
        size = max(_size(self.before), _size(after))
        units = max(1, math.ceil(size / WRITE_UNIT)) * self.factor
        meter.write_units += units
        meter.write_units_by_table[self.table.name] += units
        for index in self.table.indexes + self.table.global_indexes:
            upkeep = _upkeep(index, self.before, after)
            if upkeep:
                meter.write_units += upkeep
                meter.index_write_units[f"{self.table.name}/{index.name}"] += upkeep


def _size(item: Any) -> int:
    return 0 if item is None else int(item.size())


def _projected(index: Any, item: Any) -> tuple[tuple[str, Any], dict[str, Any]] | None:
    """The index's key of `item` and the attributes it projects; None when the item is not on the index."""
    if item is None or any(name not in item.attrs for name in index.schema_key_attrs):
        return None
    projected = index.project(item)
    key = tuple((name, item.attrs[name].to_json()) for name in index.schema_key_attrs)
    return key, {name: value.to_json() for name, value in projected.attrs.items()}


def _projected_size(index: Any, item: Any) -> int:
    return max(1, math.ceil(_size(index.project(item)) / WRITE_UNIT))


def _upkeep(index: Any, before: Any, after: Any) -> int:
    old, new = _projected(index, before), _projected(index, after)
    if old == new:
        return 0
    if old is None:
        return _projected_size(index, after)
    if new is None:
        return _projected_size(index, before)
    if old[0] != new[0]:
        return _projected_size(index, before) + _projected_size(index, after)
    return max(_projected_size(index, before), _projected_size(index, after))


def _written(handler: Any, get_item: Any) -> list[_Written]:
    """The items a write request names, each with its state before the request."""
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models.dynamo_type import DynamoType

    operation = handler._get_action()
    if operation not in WRITES:
        return []
    body = getattr(handler, "params", None) or {}
    backend = handler.dynamodb_backend
    named: list[tuple[str, dict[str, Any], float]] = []  # table, its key (or whole item), factor
    if operation == "PutItem":
        named.append((body["TableName"], body["Item"], 1.0))
    elif operation in ("UpdateItem", "DeleteItem"):
        named.append((body["TableName"], body["Key"], 1.0))
    elif operation == "BatchWriteItem":
        for name, requests in body["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    named.append((name, request["PutRequest"]["Item"], 1.0))
                else:
                    named.append((name, request["DeleteRequest"]["Key"], 1.0))
    else:
        for entry in body["TransactItems"]:
            [(kind, spec)] = entry.items()
            named.append((spec["TableName"], spec["Item"] if kind == "Put" else spec["Key"], 2.0))
    found = []
    for name, attrs, factor in named:
        try:
            table = backend.get_table(name)
        except ResourceNotFoundException:  # moto answers with its error; there is nothing to price
            continue
        if table.hash_key_attr not in attrs or (table.range_key_attr and table.range_key_attr not in attrs):
            continue
        key = (DynamoType(attrs[table.hash_key_attr]),
               DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None)
        current = get_item(table, *key)
        found.append(_Written(table, key, copy.deepcopy(current) if current is not None else None, factor))
    return found
