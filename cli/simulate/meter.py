"""The simulation's AWS meter: every request a run makes, as (service, operation, resource) with counts, and what
the cost model needs (cli.cost.Usage): Lambda invocations and GB-s, SQS requests, DynamoDB read and write units
sized by DynamoDB's rules, SES emails, SNS publishes.

Two ways in, one recorder:
- on moto, botocore's before-call/after-call events on the shared session (`Meter.install`);
- on the memory store and the in-memory providers, an explicit `record(service, operation, resource, **units)`
  (MemoryDatabase.on_request is wired to `Meter.memory_request`; cli/simulate/fakes.py calls `record`).

Who asks decides what a request is. Inside a handler invocation (`Meter.invocation`) it is the app's: checked
against the stage's policy and priced. Outside one, SQS receives and deletes stand for Lambda's event source
mapping, which polls with the function's role (checked and priced; empty polls are not priced, they cost the
same whatever the strategy does); an SNS publish stands for SES and SNS delivering feedback (priced, but not the
app's role); anything else is the simulator looking (neither).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import Any

from cli.cost import LATENCY_SECONDS, Usage

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
# botocore's service name -> the IAM prefix of its actions
PREFIX = {"dynamodb": "dynamodb", "sqs": "sqs", "sesv2": "ses", "ses": "ses", "sns": "sns",
          "secretsmanager": "secretsmanager"}
# Batch calls IAM authorises by the single action
BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                 "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
EVENT_SOURCE_MAPPING = {("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage"), ("sqs", "DeleteMessageBatch"),
                        ("sqs", "GetQueueAttributes")}
PROVIDERS = {("sns", "Publish")}
TRANSACTIONS = ("TransactWriteItems", "TransactGetItems")
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
KB = 1024
READ_BLOCK = 4 * KB
SQS_CHUNK = 64 * KB


# --- DynamoDB's item size rules --------------------------------------------------------------------------


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB JSON ({"S": ...}, {"M": {...}}, ...)."""
    (kind, inner), = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(str(inner)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    return sum(len(v) for v in inner)  # BS


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of an item in DynamoDB JSON: attribute names plus values."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def value_size(value: Any) -> int:
    """Bytes of a memory-store value as pynamodb would store it (nulls are not stored; times are ISO strings)."""
    kind = type(value)  # the common exact types first: a run sizes every item it reads or writes
    if kind is str:
        return len(value) if value.isascii() else len(value.encode())
    if kind is datetime:
        return 31  # UTCDateTimeAttribute: 2026-03-02T08:00:00.000000+0000
    if kind is dict:
        total = 3
        for k, v in value.items():  # a loop, not a generator: maps (reactions, context) are in most rows
            if v is None:
                continue
            inner = type(v)
            if inner is bool:
                size = 1
            elif inner is str:
                size = len(v) if v.isascii() else len(v.encode())
            else:
                size = value_size(v)
            total += (len(k) if type(k) is str and k.isascii() else len(str(k).encode())) + size + 1
        return total
    if kind is int:
        found = _INT_SIZES.get(value)
        if found is None:
            if len(_INT_SIZES) >= REMEMBERED:
                _INT_SIZES.clear()
            found = _INT_SIZES[value] = _number_size(repr(value))
        return found
    if kind is float:
        return _number_size(repr(value))
    if kind is bool:
        return 1
    if kind is list or kind is tuple:
        total = 3
        for v in value:
            total += (len(v) if type(v) is str and v.isascii() else value_size(v)) + 1
        return total
    nested = _NESTED.get(kind)
    if nested is not None:
        return nested(value)
    if isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return _number_size(repr(value))
    if isinstance(value, datetime | date):
        return 31
    if isinstance(value, Mapping):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items() if v is not None)
    if isinstance(value, list | tuple | set | frozenset):
        return 3 + sum(value_size(v) + 1 for v in value)
    return _nested(kind)(value)


Sizer = Callable[[Any], int]
_INT_SIZES: dict[int, int] = {}  # a run's numbers are few (epochs, counts, versions) and met many times
_SIZERS: dict[type, Sizer] = {}  # per class of stored row: its attributes' bytes (names included, nulls left out)
_NESTED: dict[type, Sizer] = {}  # per class of object held in a row's attribute: its bytes as a map


def _named_values(kind: type) -> Callable[[Any], Iterator[tuple[int, Any]]]:
    """(bytes of the name, value) of each attribute of an instance of `kind`: a dataclass's field names are
    encoded once and its values read in one attrgetter call; anything else goes by its instance dict."""
    if not is_dataclass(kind):
        return lambda obj: ((len(k.encode()), v) for k, v in (vars(obj) if hasattr(obj, "__dict__") else {}).items())
    names = tuple(f.name for f in fields(kind))
    name_bytes = tuple(len(name.encode()) for name in names)
    values = attrgetter(*names) if len(names) > 1 else lambda obj: tuple(getattr(obj, n) for n in names)
    return lambda obj: zip(name_bytes, values(obj), strict=True)


def _sizer(kind: type) -> Sizer:
    """A stored row's bytes: each attribute's name and value, nulls left out (built once per class)."""
    found = _SIZERS.get(kind)
    if found is None:
        named = _named_values(kind)

        def size(row: Any) -> int:
            total = 0
            for n, v in named(row):  # a row's attributes are mostly strings and times: sized here, not in a call
                if v is None:
                    continue
                kind = type(v)
                if kind is str:
                    total += n + (len(v) if v.isascii() else len(v.encode()))
                elif kind is datetime:
                    total += n + 31
                else:
                    total += n + value_size(v)
            return total

        frozen = getattr(getattr(kind, "__dataclass_params__", None), "frozen", True)
        found = _SIZERS[kind] = _remembered(kind, size) if frozen else _remembered_while_unchanged(kind, size)
    return found


def _nested(kind: type) -> Sizer:
    """An object inside an attribute: the map of its attributes (3, and each name, value and 1) inside 3 bytes
    of its own, as the meter has always counted it (built once per class)."""
    found = _NESTED.get(kind)
    if found is None:
        named = _named_values(kind)
        found = _NESTED[kind] = _remembered(kind, lambda obj: 6 + sum(n + value_size(v) + 1 for n, v in named(obj)
                                                                      if v is not None))
    return found


REMEMBERED = 200_000


def _remembered(kind: type, size: Sizer) -> Sizer:
    """`size`, kept per object for a frozen dataclass: the memory store replaces such a row (or the records in
    it) on every write and never changes one, and a run reads the same row many times (a due enrolment: the
    tick's query, its claim, the step's read). The object is held beside its size, so its id is not reused."""
    params = getattr(kind, "__dataclass_params__", None)
    if params is None or not params.frozen:
        return size
    sizes: dict[int, tuple[Any, int]] = {}

    def remembered(obj: Any) -> int:
        found = sizes.get(id(obj))
        if found is not None and found[0] is obj:
            return found[1]
        if len(sizes) >= REMEMBERED:
            sizes.clear()
        sizes[id(obj)] = (obj, n := size(obj))
        return n

    return remembered


def _remembered_while_unchanged(kind: type, size: Sizer) -> Sizer:
    """`size`, kept per object of a mutable dataclass row beside its attribute values, and reused while they are
    the same: the memory store changes such a row (a touch) in place, by setting its attributes or appending to a
    list of them, so the kept values hold copies of its lists and maps (whose members are replaced, never changed)."""
    names = tuple(f.name for f in fields(kind))
    values = attrgetter(*names) if len(names) > 1 else lambda obj: (getattr(obj, names[0]),)
    sizes: dict[int, tuple[Any, tuple[Any, ...], int]] = {}

    def remembered(obj: Any) -> int:
        now = values(obj)
        found = sizes.get(id(obj))
        if found is not None and found[0] is obj and found[1] == now:
            return found[2]
        if len(sizes) >= REMEMBERED:
            sizes.clear()
        kept = tuple(list(v) if type(v) is list else dict(v) if type(v) is dict else v for v in now)
        sizes[id(obj)] = (obj, kept, n := size(obj))
        return n

    return remembered


def row_size(row: Any) -> int:
    return _sizer(type(row))(row)


def write_units(*sizes: int) -> int:
    return max([1, *(math.ceil(size / KB) for size in sizes)])


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_BLOCK))
    return float(units) if consistent else units / 2


@dataclass(frozen=True)
class IndexShape:
    """One secondary index of a table: its key attributes, and the attributes it projects (None: ALL)."""

    name: str
    keys: tuple[str, ...]
    projected: tuple[str, ...] | None


@cache
def table_indexes() -> dict[str, tuple[IndexShape, ...]]:
    """Each table's secondary indexes (global and local) with their projections, from infra/template.yaml."""
    from cli.provision import load_template

    found: dict[str, tuple[IndexShape, ...]] = {}
    for resource in load_template()["Resources"].values():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        name = props["TableName"]
        name = str(name.get("Fn::Sub", name) if isinstance(name, dict) else name).replace("${Stage}-", "")
        table_keys = tuple(k["AttributeName"] for k in props["KeySchema"])
        shapes = []
        for index in props.get("GlobalSecondaryIndexes", []) + props.get("LocalSecondaryIndexes", []):
            keys = tuple(k["AttributeName"] for k in index["KeySchema"])
            projection = index.get("Projection", {})
            projected = None
            if projection.get("ProjectionType", "ALL") != "ALL":
                projected = tuple(dict.fromkeys((*keys, *table_keys, *projection.get("NonKeyAttributes", ()))))
            shapes.append(IndexShape(index["IndexName"], keys, projected))
        found[name] = tuple(shapes)
    return found


def index_writes(
    table: str, old: Any, new: Any, size: Callable[[Any], int], present: Callable[[Any, str], Any],
    attribute_bytes: Callable[[Any, str], int] | None = None,
) -> int:
    """Write units the table's indexes take for one item going from `old` to `new` (None: absent). An index
    whose projection of the item did not change is not written; a narrow projection costs its own size.
    `attribute_bytes(item, name)` sizes one attribute (name included) for the narrow projections."""
    if old == new:
        return 0
    units = 0
    for index in table_indexes().get(table, ()):
        before = None if old is None else tuple(present(old, k) for k in index.keys)
        after = None if new is None else tuple(present(new, k) for k in index.keys)
        on_before = before is not None and None not in before
        on_after = after is not None and None not in after
        if on_after and on_before and before == after and index.projected is not None and all(
            present(old, a) == present(new, a) for a in index.projected
        ):
            continue  # nothing it projects changed
        if on_after:
            if index.projected is None or attribute_bytes is None:
                units += write_units(size(new))
            else:
                units += write_units(sum(attribute_bytes(new, a) for a in index.projected
                                         if present(new, a) is not None))
        if on_before and (not on_after or before != after):
            units += 1  # the old index entry is deleted
    return units


def _dynamodb_names(operation: str, index: str | None,
                    parts: tuple[tuple[str, str], ...]) -> tuple[str, list[tuple[str, str]]]:
    """The resource a DynamoDB request names and the (action, resource) pairs the policy must allow for it."""
    tables = dict.fromkeys(table for _, table in parts)
    if operation in TRANSACTIONS or len(tables) > 1 or operation in ("BatchGetItem", "BatchWriteItem"):
        actions = [(f"dynamodb:{action if operation in TRANSACTIONS else operation}", table)
                   for action, table in parts]
    else:
        (table,) = tables
        actions = [(f"dynamodb:{operation}", f"{table}/index/{index}" if index else table)]
    resource = next(iter(tables))
    if index:
        resource = f"{resource}/index/{index}"
    return resource, list(dict.fromkeys(actions))


def _once(size: Callable[[Any], int]) -> Callable[[Any], int]:
    """`size` for one request: an item it reads or writes is sized once, however many indexes it is on."""
    sizes: dict[int, int] = {}

    def sized(item: Any) -> int:
        found = sizes.get(id(item))
        if found is None:
            found = sizes[id(item)] = size(item)
        return found

    return sized


@cache
def _indexed_names(table: str) -> tuple[str, ...]:
    """The attributes the table's indexes key on or project narrowly (what a write may change in them)."""
    return tuple(dict.fromkeys(a for shape in table_indexes().get(table, ())
                               for a in (*shape.keys, *(shape.projected or ()))))


@cache
def _table_keys(table: str) -> tuple[str, ...]:
    from cli.provision import load_template

    for resource in load_template()["Resources"].values():
        props = resource.get("Properties", {})
        name = props.get("TableName")
        name = str(name.get("Fn::Sub", name) if isinstance(name, dict) else name).replace("${Stage}-", "")
        if resource.get("Type") == "AWS::DynamoDB::Table" and name == table:
            return tuple(k["AttributeName"] for k in props["KeySchema"])
    return ()


@dataclass(frozen=True)
class _RowIndexes:
    """A table's indexes over the tuple of a memory-store row's indexed attributes (`names`, as _indexed_names):
    per index the positions of its keys, and of its narrow projection with the names (None: ALL)."""

    names: tuple[str, ...]
    table_keys: tuple[str, ...]
    shapes: tuple[tuple[tuple[int, ...], tuple[int, ...] | None, tuple[str, ...] | None], ...]


@cache
def _row_indexes(table: str) -> _RowIndexes | None:
    shapes = table_indexes().get(table, ())
    if not shapes:
        return None
    names = _indexed_names(table)
    at = {name: i for i, name in enumerate(names)}
    return _RowIndexes(names, _table_keys(table), tuple(
        (tuple(at[k] for k in shape.keys), None if shape.projected is None else tuple(at[a] for a in shape.projected),
         shape.projected) for shape in shapes))


def _held(value: Any) -> Any:
    """A row's attribute as it stands now (lists copied: a row may be changed in place after)."""
    return list(value) if isinstance(value, list) else value


def _json_attribute_bytes(item: Mapping[str, Any], name: str) -> int:
    return len(name.encode()) + attribute_size(item[name])


def _json_attr(item: Mapping[str, Any], name: str) -> Any:
    value = item.get(name)
    return None if value is None else json.dumps(value, sort_keys=True)


# --- the Lambda functions' configuration -----------------------------------------------------------------


@cache
def _chalice_config() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return data


def memory_mb(stage: str, function: str) -> int:
    """The function's memory size in .chalice/config.json (stage, then top level; Lambda's default 128)."""
    config = _chalice_config()
    staged = config.get("stages", {}).get(stage, {})
    for scope in (staged.get("lambda_functions", {}).get(function, {}), staged, config):
        if "lambda_memory_size" in scope:
            return int(scope["lambda_memory_size"])
    return 128


DYNAMODB_LATENCY = LATENCY_SECONDS.get("dynamodb", 0.0)


@dataclass(eq=False, slots=True)
class _RequestShape:
    """A kind of DynamoDB request: the call it prices, the (action, ARN) pairs it needs, and how many were counted
    since `Meter._fold` last moved them into the meter's counters."""

    call: tuple[str, str, str]
    actions: tuple[tuple[str, str], ...]
    requests: int = 0
    authorised: int = 0


# --- the meter ----------------------------------------------------------------------------------------------


@dataclass
class Meter:
    stage: str
    region: str
    account: str = ACCOUNT
    _calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # see `calls`
    _actions: Counter[tuple[str, str]] = field(default_factory=Counter)  # see `actions`
    usage: Usage = field(default_factory=Usage)
    invocations: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # billed duration per function
    _function: str | None = None
    _outside: float = 0.0  # CPU seconds the current invocation spent inside the fake AWS
    _latency: float = 0.0  # modelled round trips of the current invocation
    _paused: int = 0
    _arns: dict[tuple[str, str], str] = field(default_factory=dict)
    _tables: dict[str, str] = field(default_factory=dict)  # logical table name -> the stage's
    # (operation, index, (action, table) per part) -> its ARNs and how many such requests were counted
    _dynamodb_shapes: dict[tuple[Any, ...], _RequestShape] = field(default_factory=dict)
    # The memory store changes its rows in place, so the meter keeps what each row's indexes last held (keys and
    # narrow projections): how a write is known to change an index, or not.
    _indexed: dict[tuple[str, tuple[Any, ...]], tuple[Any, ...]] = field(default_factory=dict)

    @property
    def calls(self) -> Counter[tuple[str, str, str]]:
        """Priced requests, by (service, operation, resource)."""
        self._fold()
        return self._calls

    @property
    def actions(self) -> Counter[tuple[str, str]]:
        """The (IAM action, resource) pairs the role needs, with how many requests needed each."""
        self._fold()
        return self._actions

    def _fold(self) -> None:
        """Moves the DynamoDB requests counted per shape (see `_count`) into `calls` and `actions`."""
        for shape in self._dynamodb_shapes.values():
            if shape.requests:
                self._calls[shape.call] += shape.requests
                shape.requests = 0
            if shape.authorised:
                for action in shape.actions:
                    self._actions[action] += shape.authorised
                shape.authorised = 0

    # --- who is asking --------------------------------------------------------------------------------------

    @contextmanager
    def invocation(self, function: str) -> Iterator[None]:
        """One Lambda invocation: billed for the handler's CPU time outside the fake AWS plus a modelled round
        trip per AWS request it made (cli.cost.LATENCY_SECONDS)."""
        if self._function is not None:  # a handler calling another in-process (never in Lambda): one bill
            yield
            return
        self._function, self._outside, self._latency = function, 0.0, 0.0
        started = time.process_time()
        try:
            yield
        finally:
            billed = max(0.0, time.process_time() - started - self._outside) + self._latency
            self.invocations[function] += 1
            self.seconds[function] += billed
            self.usage.lambda_requests += 1
            self.usage.lambda_gb_seconds += billed * memory_mb(self.stage, function) / 1024
            self._function = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The simulator reading state for its report: not the app, not priced."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def _scope(self, service: str, operation: str) -> str:
        if self._paused:
            return "simulator"
        if self._function is not None:
            return "app"
        if (service, operation) in EVENT_SOURCE_MAPPING:
            return "event-source-mapping"
        if (service, operation) in PROVIDERS:
            return "provider"
        return "simulator"

    # --- recording --------------------------------------------------------------------------------------------

    def record(self, service: str, operation: str, resource: str, *, actions: Sequence[tuple[str, str]] = (),
               requests: int = 1, **units: float) -> None:
        """One request. `service` is the IAM prefix (dynamodb, sqs, ses, sns, secretsmanager), `resource` an ARN
        or a name (a queue URL or name, a table name). `actions` overrides the (action, resource) pairs the policy
        must allow (transactions). Units: read_units, write_units (DynamoDB), messages (a ReceiveMessage's
        count), bytes (an SQS payload), emails."""
        scope = self._scope(service, operation)
        if scope == "simulator":
            return
        resource = self.arn(service, resource)
        if scope != "provider":
            for action, named in actions or [(f"{service}:{BATCH_ACTIONS.get(operation, operation)}", resource)]:
                self._actions[(action, self.arn(service, named))] += 1
        if self._function is not None:
            self._latency += LATENCY_SECONDS.get(service, 0.0) * requests
        if operation == "ReceiveMessage" and not units.get("messages", 1):
            return
        self._calls[(service, operation, resource)] += requests
        if service == "dynamodb":
            self.usage.dynamodb_read_units += units.get("read_units", 0.0)
            self.usage.dynamodb_write_units += units.get("write_units", 0.0)
        elif service == "sqs":
            self.usage.sqs_requests += max(requests, math.ceil(units.get("bytes", 0) / SQS_CHUNK))
        elif service == "ses":
            self.usage.ses_emails += units.get("emails", 1 if operation.startswith("Send") else 0)
        elif service == "sns":
            self.usage.sns_requests += requests

    def arn(self, service: str, resource: str) -> str:
        found = self._arns.get((service, resource))
        if found is None:
            found = self._arns[(service, resource)] = self._arn(service, resource)
        return found

    def _arn(self, service: str, resource: str) -> str:
        if resource.startswith("arn:") or resource == "*":
            return resource
        if service == "sqs":
            return f"arn:aws:sqs:{self.region}:{self.account}:{resource.rstrip('/').rsplit('/', 1)[-1]}"
        if service == "dynamodb":
            return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{resource}"
        if service == "secretsmanager":
            return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{resource}"
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # --- the memory store -------------------------------------------------------------------------------------

    def memory_request(self, operation: str, parts: Sequence[Any], index: str | None = None) -> None:
        """A memory repository method's DynamoDB request: `parts` is (table, *items) for a single-table
        request, or (action, table, item) triples for a transaction or a batch over several tables. Items are sized
        as pynamodb stores them (a write by the item it leaves: the one before is not looked up)."""
        scope = self._scope("dynamodb", operation)
        if operation in READS and scope == "simulator":
            return  # not counted: nothing to size (a write still moves what the meter knows of a row's indexes)
        factor = 2 if operation in TRANSACTIONS else 1
        reads = writes = 0.0
        if parts and isinstance(parts[0], tuple):  # a transaction, or a BatchGetItem over several tables
            size = _once(row_size)  # an item twice in one request is sized once
            triples = [(action, self._table(logical), item) for action, logical, item in parts]
            for action, logical, item in parts:
                if action in ("GetItem", "BatchGetItem", "ConditionCheckItem"):  # strongly consistent reads
                    reads += read_units(size(item) if item is not None else 0, True) * factor
                elif action in ("PutItem", "UpdateItem", "DeleteItem"):
                    writes += self._memory_write(logical, item, action, size, factor)
            self._count(operation, index, triples, scope, reads, writes)
            return
        logical, items = parts[0], parts[1:] or (None,)
        name = self._tables.get(logical) or self._table(logical)
        if operation in ("Query", "Scan"):
            reads = read_units(sum(row_size(item) for item in items if item is not None), index is None)
        elif operation in ("GetItem", "BatchGetItem", "ConditionCheckItem"):
            for item in items:
                reads += read_units(row_size(item) if item is not None else 0, True) * factor
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            for item in items:
                writes += self._memory_write(logical, item, operation, row_size, factor)
        self._count(operation, index, (), scope, reads, writes, (operation, index, ((operation, name),) * len(items)))

    def _memory_write(self, logical: str, item: Any, action: str, size: Callable[[Any], int], factor: int) -> float:
        """Write units of one item a memory-store write leaves in `logical` (a delete, or a write of nothing, takes
        one), times `factor`, plus what the table's indexes take for it."""
        stored = action != "DeleteItem" and item is not None
        row_bytes = size(item) if stored else 0
        return (write_units(row_bytes) if stored else 1) * factor + self._row_index_writes(logical, item, action,
                                                                                           row_bytes)

    def _table(self, logical: str) -> str:
        found = self._tables.get(logical)
        if found is None:
            found = self._tables[logical] = f"{self.stage}-{logical}"
        return found

    def _row_index_writes(self, table: str, row: Any, action: str, row_bytes: int) -> int:
        """Write units `table`'s indexes take for a memory-store write of `row`: what they held before is what the
        meter kept of the row's last write (the store changes rows in place); this write's is kept for the next.
        The same rules as index_writes, over the tuple of the row's indexed attributes."""
        plan = _row_indexes(table)
        if plan is None or row is None:
            return 0
        keys = tuple(getattr(row, k, None) for k in plan.table_keys)
        now = tuple(getattr(row, a, None) for a in plan.names)
        before = self._indexed.get((table, keys))
        after: tuple[Any, ...] | None = now
        if action == "DeleteItem":
            self._indexed.pop((table, keys), None)
            after = None
        else:
            self._indexed[(table, keys)] = tuple(_held(v) for v in now)
        units = 0
        for key_at, projected_at, projected in plan.shapes:
            old_keys = None if before is None else tuple(before[i] for i in key_at)
            new_keys = None if after is None else tuple(after[i] for i in key_at)
            on_before = old_keys is not None and None not in old_keys
            on_after = new_keys is not None and None not in new_keys
            if on_after and on_before and old_keys == new_keys and projected_at is not None and all(
                before[i] == now[i] for i in projected_at  # type: ignore[index]
            ):
                continue  # nothing it projects changed
            if on_after:
                if projected is None:
                    units += write_units(row_bytes)
                else:
                    units += write_units(sum(len(a.encode()) + value_size(now[i])
                                             for a, i in zip(projected, projected_at or (), strict=True)
                                             if now[i] is not None))
            if on_before and (not on_after or old_keys != new_keys):
                units += 1  # the old index entry is deleted
        return units

    def _dynamodb(self, operation: str, parts: Sequence[tuple[str, str, Any]], old: Callable[[str, Any], Any],
                  *, index: str | None, consistent: bool | None = None) -> None:
        """Sizes and records one DynamoDB request over (action, table, item) parts in DynamoDB JSON (for a write,
        the item after; `old` gives the one before)."""
        scope = self._scope("dynamodb", operation)
        if operation in READS and scope == "simulator":
            return  # not counted: nothing to size
        size = _once(item_size)
        factor = 2 if operation in TRANSACTIONS else 1
        reads = writes = 0.0
        if operation in ("Query", "Scan"):
            strong = consistent if consistent is not None else index is None
            reads = read_units(sum(size(item) for _, _, item in parts if item is not None), strong)
        for action, table, item in parts:
            if action in ("GetItem", "BatchGetItem"):
                strong = consistent if consistent is not None else True
                reads += read_units(size(item) if item is not None else 0, strong or factor == 2) * factor
            elif action in ("PutItem", "UpdateItem", "DeleteItem"):
                before = old(table, item)
                after = None if action == "DeleteItem" else item
                sizes = [size(x) for x in (before, after) if x is not None]
                writes += write_units(*sizes) * factor
                writes += index_writes(table.removeprefix(f"{self.stage}-"), before, after, size, _json_attr,
                                       _json_attribute_bytes)
            elif action == "ConditionCheckItem":
                reads += read_units(size(item) if item is not None else 0, True) * factor
        self._count(operation, index, parts, scope, reads, writes)

    def _count(self, operation: str, index: str | None, parts: Sequence[tuple[str, str, Any]], scope: str,
               reads: float, writes: float, shape_key: tuple[Any, ...] | None = None) -> None:
        """Records a sized DynamoDB request as `record` would, as a count on its shape (operation, index and the
        (action, table) of each part), folded into `calls` and `actions` when they are read: a run makes a few
        dozen shapes of request a hundred thousand times."""
        key = shape_key or (operation, index, tuple((action, table) for action, table, _ in parts))
        shape = self._dynamodb_shapes.get(key)
        if shape is None:
            resource, actions = _dynamodb_names(*key)
            resource = self.arn("dynamodb", resource)
            shape = self._dynamodb_shapes[key] = _RequestShape(
                ("dynamodb", operation, resource), tuple((a, self.arn("dynamodb", r)) for a, r in actions))
        if scope == "simulator":
            return
        if self._function is not None:
            self._latency += DYNAMODB_LATENCY
        shape.requests += 1
        if scope != "provider":
            shape.authorised += 1
        self.usage.dynamodb_read_units += reads
        self.usage.dynamodb_write_units += writes

    # --- botocore, on moto ------------------------------------------------------------------------------------

    def install(self, session: Any) -> None:
        """Listens to every client the shared botocore session builds from now on."""
        session.register("provide-client-params", _register_params)
        session.register("before-call", self._before_call)
        session.register("after-call", self._after_call)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        stored = _stored_items(service, model.name, context.get("touchplan_params", {}))
        context["touchplan_meter"] = (time.process_time(), stored)

    def _after_call(self, model: Any, parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        started, before = context.pop("touchplan_meter", (time.process_time(), {}))
        service, operation = model.service_model.service_name, model.name
        params = context.get("touchplan_params", {})
        try:
            self._botocore(service, operation, params, parsed, before)
        finally:
            if self._function is not None:
                self._outside += time.process_time() - started

    def provider_call(self, service: str, operation: str, params: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        self._botocore(service, operation, params, answer, {})

    def _botocore(self, service: str, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any],
                  before: Mapping[tuple[str, str], Any]) -> None:
        prefix = PREFIX.get(service, service)
        if prefix == "dynamodb":
            parts, consistent = _dynamodb_parts(operation, params, parsed)
            self._dynamodb(operation, parts, lambda table, item: before.get((table, _key_of(table, item))),
                           index=params.get("IndexName"), consistent=consistent)
        elif prefix == "sqs":
            resource = params.get("QueueUrl") or params.get("QueueName") or "*"
            entries = params.get("Entries") or [params]
            size = sum(len(str(e.get("MessageBody", ""))) for e in entries)
            self.record("sqs", operation, resource, messages=len(parsed.get("Messages", [])), bytes=size)
        elif prefix == "ses":
            identity = str(params.get("FromEmailAddress") or params.get("Source") or "*").rsplit("<", 1)[-1]
            identity_arn = self.arn("ses", f"identity/{identity.strip('> ')}")
            actions = [("ses:SendEmail" if operation == "SendEmail" else f"ses:{operation}", identity_arn)]
            if params.get("ConfigurationSetName"):
                actions.append((actions[0][0], self.arn("ses", f"configuration-set/{params['ConfigurationSetName']}")))
            self.record("ses", operation, identity_arn, actions=actions)
        elif prefix == "secretsmanager":
            self.record(prefix, operation, str(parsed.get("ARN") or params.get("SecretId") or "*"))
        elif operation == "CreateTopic":  # IAM authorises it on the ARN the name gives
            self.record(prefix, operation, f"arn:aws:sns:{self.region}:{self.account}:{params.get('Name', '*')}")
        else:
            self.record(prefix, operation, str(params.get("TopicArn") or params.get("TargetArn")
                                               or params.get("PlatformApplicationArn") or "*"))


def _register_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["touchplan_params"] = params


# --- DynamoDB requests as botocore sends them ---------------------------------------------------------------


def _dynamodb_parts(operation: str, params: Mapping[str, Any],
                    parsed: Mapping[str, Any]) -> tuple[list[tuple[str, str, Any]], bool | None]:
    """(action, table, item) for each item a request reads or writes (a write's item as stored after it)."""
    consistent = params.get("ConsistentRead")
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        item = {"PutItem": params.get("Item"), "GetItem": parsed.get("Item"), "DeleteItem": params.get("Key")}.get(
            operation) if operation != "UpdateItem" else _stored(params["TableName"], params["Key"])
        return [(operation, params["TableName"], item)], consistent
    if operation in ("Query", "Scan"):
        items = parsed.get("Items", [])
        return [(operation, params["TableName"], i) for i in items] or [(operation, params["TableName"], None)], \
            consistent
    if operation == "BatchGetItem":
        parts: list[tuple[str, str, Any]] = []
        for table, request in params.get("RequestItems", {}).items():
            found = parsed.get("Responses", {}).get(table, [])
            parts += [("BatchGetItem", table, i) for i in found] or [("BatchGetItem", table, None)]
            consistent = request.get("ConsistentRead", consistent)
        return parts, consistent
    if operation == "BatchWriteItem":
        parts = []
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    parts.append(("PutItem", table, request["PutRequest"]["Item"]))
                else:
                    parts.append(("DeleteItem", table, request["DeleteRequest"]["Key"]))
        return parts, consistent
    if operation == "TransactWriteItems":
        parts = []
        for entry in params.get("TransactItems", []):
            (kind, body), = entry.items()
            action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                      "ConditionCheck": "ConditionCheckItem"}[kind]
            item = {"Put": body.get("Item"), "Delete": body.get("Key")}.get(kind) or _stored(body["TableName"],
                                                                                         body["Key"])
            parts.append((action, body["TableName"], item))
        return parts, True
    if operation == "TransactGetItems":
        responses = parsed.get("Responses", [])
        return [("GetItem", entry["Get"]["TableName"], (responses[i] if i < len(responses) else {}).get("Item"))
                for i, entry in enumerate(params.get("TransactItems", []))], True
    return [(operation, str(params.get("TableName", "*")), None)], consistent


def _stored_items(service: str, operation: str, params: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    """The items a DynamoDB write is about to change, as stored before it (for max(before, after) sizing)."""
    if service != "dynamodb":
        return {}
    keys: list[tuple[str, Mapping[str, Any]]] = []
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        keys.append((params["TableName"], params.get("Key") or params.get("Item") or {}))
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems", []):
            (_, body), = entry.items()
            keys.append((body["TableName"], body.get("Key") or body.get("Item") or {}))
    elif operation == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                body = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get("Key")
                keys.append((table, body or {}))
    return {(table, _key_of(table, key)): _stored(table, key) for table, key in keys}


def _key_schema(table: str) -> tuple[str, ...]:
    found = _moto_table(table)
    if found is None:
        return ()
    return tuple(k for k in (found.hash_key_attr, found.range_key_attr) if k)


def _key_of(table: str, item: Mapping[str, Any] | None) -> str:
    if not item:
        return ""
    return json.dumps([item.get(k) for k in _key_schema(table)], sort_keys=True)


def _moto_table(table: str) -> Any:
    """moto's table (its internals, wrapped here only): the meter sizes items as moto stores them."""
    from moto.dynamodb.models import dynamodb_backends

    for backends in dynamodb_backends.values():
        for backend in backends.values():
            if table in backend.tables:
                return backend.tables[table]
    return None


def _stored(table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = _moto_table(table)
    if found is None or found.hash_key_attr not in key:
        return None
    range_key = DynamoType(key[found.range_key_attr]) if found.range_key_attr in key else None
    item = found.get_item(DynamoType(key[found.hash_key_attr]), range_key)
    stored: dict[str, Any] | None = None if item is None else item.to_json()["Attributes"]
    return stored


# --- the module-level recorder the fakes call -------------------------------------------------------------

_current: list[Meter] = []


@contextmanager
def metering(meter: Meter) -> Iterator[Meter]:
    """Makes `meter` the one `record` feeds."""
    _current.append(meter)
    try:
        yield meter
    finally:
        _current.remove(meter)


def record(service: str, operation: str, resource: str, **units: Any) -> None:
    """Records one AWS request on the running meter (none running: nothing). See Meter.record."""
    if _current:
        _current[-1].record(service, operation, resource, **units)


def provider_call(service: str, operation: str, params: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
    """A call to an in-memory provider (cli/simulate/fakes.py), counted as the botocore hooks count a real one."""
    if _current:
        _current[-1].provider_call(service, operation, params, answer)


def current() -> Meter | None:
    return _current[-1] if _current else None


def invoked(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler`, each call billed as one invocation of the Lambda function `function` on the running meter."""

    def invoke(*args: Any, **kwargs: Any) -> Any:
        meter = current()
        if meter is None:
            return handler(*args, **kwargs)
        with meter.invocation(function):
            return handler(*args, **kwargs)

    return invoke


class MeteredApi:
    """A chalice.test.Client whose HTTP calls are invocations of the API's Lambda function (`api_handler`)."""

    def __init__(self, client: Any) -> None:
        self.http = _MeteredHttp(client.http)


class _MeteredHttp:
    def __init__(self, http: Any) -> None:
        self._http = http

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._http, name)
        return invoked("api_handler", found) if callable(found) else found
