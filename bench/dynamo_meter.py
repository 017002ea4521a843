"""What in-process moto's DynamoDB was asked for, priced as DynamoDB would price it: the benches' meter.

moto reports a fixed ConsumedCapacity, so the read units are computed here with DynamoDB's rules from the
items each request actually read (a Query's items *before* its filter, sized as its index projects them):
a GetItem costs its item rounded up to 4 KB, a Query page the sum of its items rounded up to 4 KB, at
least one unit each, halved for eventually consistent reads. Time spent inside moto's handler is summed
too, so a bench can tell the CPU its own code spent from moto's.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
UNIT = 4096


@dataclass
class Meter:
    requests: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    moto_seconds: float = 0.0
    index_queries: Counter[str] = field(default_factory=Counter)  # "<table>/<index or table>"

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def reset(self) -> None:
        self.requests.clear()
        self.index_queries.clear()
        self.read_units = 0.0
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
            try:
                return call_action(handler)
            finally:
                meter.moto_seconds += time.thread_time() - started
                _record(meter, handler)

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
