"""The local stack's moto server, and the only place that reaches into moto's internals.

Three changes to moto's own ThreadedMotoServer, each for a failure seen under load:
- DynamoDB requests are served one at a time: moto's DynamoDB backend is not thread-safe
  (`transact_write_items` raised "dictionary changed size during iteration" under concurrent sign-ups).
- A transaction snapshots only the items it writes: moto deep-copies every table a transaction names, so
  sign-up latency and memory grew with the consent ledger.
- The listen backlog takes a burst of connections (the default is 128).
- An item's 400 KB limit is checked once per item: moto sums the whole item again for every attribute it sets,
  which made two thirds of a bulk import's server time (`touchplan contacts import`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

BACKLOG = 1024
_DYNAMODB_TARGET = "DynamoDB"


class LocalMotoServer:
    """moto's server app on a threaded werkzeug server; `stop` closes the listening socket."""

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import ThreadedWSGIServer

        class Server(ThreadedWSGIServer):
            request_queue_size = BACKLOG

        snapshot_only_written_items()
        size_items_once()
        app = one_at_a_time_for_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = Server(host, port, app, handler=MotoRequestHandler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()


def one_at_a_time_for_dynamodb(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGET):
            return app(environ, start_response)
        with lock:  # the whole response is built inside the lock: moto reads its tables while serialising
            return list(app(environ, start_response))

    return serve


def snapshot_only_written_items() -> None:
    """Make moto's `transact_write_items` roll back from copies of the items it writes, not of whole tables."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(DynamoDBBackend.transact_write_items, "snapshots_items", False):
        return
    transact_write_items = DynamoDBBackend.transact_write_items

    def deepcopy_all_but_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # moto's own rollback then puts back the very table it holds, and the wrapper below restores items.
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = SimpleNamespace(deepcopy=deepcopy_all_but_tables, copy=copy.copy)  # type: ignore[assignment]

    def snapshotting(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        before = _written_items(backend, transact_items)
        try:
            transact_write_items(backend, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in before:
                _put_back(table, hash_key, range_key, item)
            raise

    snapshotting.snapshots_items = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = snapshotting  # type: ignore[method-assign, assignment]


def _written_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item as it is now or None) for each item the operations name."""
    from moto.dynamodb.exceptions import MockValidationException

    before: list[tuple[Any, Any, Any, Any]] = []
    seen: set[tuple[str, Any, Any]] = set()
    for operation in transact_items:
        for kind, spec in operation.items():
            table = backend.tables.get(spec.get("TableName"))
            if table is None:
                continue  # moto refuses the transaction before writing anything
            try:
                keys = spec["Item"] if kind == "Put" else spec["Key"]
                hash_key, range_key = backend.get_keys_value(table, keys)
            except (KeyError, TypeError, AttributeError, MockValidationException):
                continue  # an operation without a valid key writes nothing: moto refuses it
            if (table.name, hash_key, range_key) not in seen:
                seen.add((table.name, hash_key, range_key))
                before.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return before


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    rows = table.items[hash_key]
    if item is None:
        rows.pop(range_key, None)
        if not rows:
            del table.items[hash_key]
    else:
        rows[range_key] = item


def size_items_once() -> None:
    """The same limit on the same size (the keys' bytes and the values' sizes), summed once: an item only grows
    while moto builds it, so the last of moto's per-attribute checks is the one that decides."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    if getattr(dynamo_type.Item.__init__, "sizes_once", False):
        return

    def build(item: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        item.hash_key = hash_key
        item.range_key = range_key
        values = {key: dynamo_type.DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > _ITEM_LIMIT:
            raise ItemSizeTooLarge
        item.attrs = dynamo_type.LimitedSizeDict(values)  # dict.update: no per-attribute check on the way in

    build.sizes_once = True  # type: ignore[attr-defined]
    dynamo_type.Item.__init__ = build  # type: ignore[method-assign, assignment]


_ITEM_LIMIT = 405000  # moto's own: DynamoDB's 400 KB, measured at between 409 and 410 KB
