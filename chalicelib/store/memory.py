"""The second store: every repository of this package over one in-memory database, with the same semantics.

The simulator runs the real handlers on it (moto's DynamoDB costs most of a run's CPU), and the contract tests
in tests/integration/store run one suite against it and against pynamodb on moto, so the two cannot drift.

What DynamoDB guarantees, this keeps: conditional writes fail with the exceptions the services catch
(EnrollmentConflict, ContactChanged, IdentityTaken, AlreadyApplied, False returns); a transaction writes all
of its items or none; the due index holds only waiting enrolments, per shard, ordered by due time; versions
and revisions move on every write. One lock serialises writes, as DynamoDB serialises writes to one item.
There is no TTL: an event marker stays for the life of the database.

Each class subclasses the pynamodb repository it stands for, so it goes wherever that one goes, and
overrides every method that reads or writes a table.
"""

from __future__ import annotations

import copy
import heapq
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.clock import Clock
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.chains import Enrollment
from chalicelib.domain.lifecycle import Timer
from chalicelib.domain.rules import COUNTED
from chalicelib.store.campaigns import CampaignConflict, CampaignRepository, created_key
from chalicelib.store.contacts import (
    ConsentRecord,
    Contact,
    ContactChanged,
    ContactRepository,
    IdentityTaken,
    ImportedContact,
    NewContact,
    Request,
    identity_key,
)
from chalicelib.store.enrollments import (
    FLAGS,
    LEASE,
    ContactMoved,
    DueItem,
    EnrollmentConflict,
    EnrollmentRepository,
    StepRead,
    Stored,
    shard_of,
)
from chalicelib.store.feedback import FeedbackRecords
from chalicelib.store.keys import ApiKey, ApiKeyRepository, hash_key, new_key
from chalicelib.store.ledger import ConsentEvent, LedgerRepository
from chalicelib.store.memory_audiences import MemoryAudiences
from chalicelib.store.memory_catalog import MemoryCatalog
from chalicelib.store.occasions import OccasionConflict, OccasionRepository, StoredOccasion, next_version
from chalicelib.store.profiles import PROCESSED_FOR, AlreadyApplied, Facts, FactsChange, ProfileRepository
from chalicelib.store.profiles import identity_key as event_identity_key
from chalicelib.store.sms_state import (
    CHECKED_PREFIX,
    NOT_OPTED_OUT,
    OPTED_OUT,
    SPEND_KEY,
    StoredOptOutCache,
    StoredSpendCounter,
)
from chalicelib.store.snapshots import STOP_LIST, ContactSnapshot, address_keys, consent_states
from chalicelib.store.stats import _AFTER_DAY, BY_REASON, OUTCOMES, CounterTotals, StatsRepository
from chalicelib.store.suppressions import SuppressionRepository, address_key
from chalicelib.store.timers import PREFIX, DueTimer, TimerRepository, timer_id
from chalicelib.store.touches import (
    ERROR_LENGTH,
    HISTORY_LIMIT,
    RESERVABLE_AGAIN,
    STATUS_RANK,
    CountedTouch,
    HistoryEntry,
    SentTouch,
    TouchRecord,
    TouchRepository,
    TouchWrite,
)


class ConditionFailed(Exception):
    """A write's condition did not hold where the DynamoDB store lets pynamodb's own error through (no service
    catches it; the message that made the write is retried)."""


@dataclass
class _Identity:
    contact_id: str
    created_at: datetime
    doi_sent_at: list[float] = field(default_factory=list)


@dataclass
class _Suppression:
    reason: str
    at: datetime
    source: str | None
    feedback_id: str | None


@dataclass(frozen=True)
class _EnrolmentRow:
    """An enrolments-table item: a chain enrolment or a lifecycle timer, as EnrollmentModel holds them. Replaced on
    every write, never changed (the repository and the simulator's meter keep what they derive from a row)."""

    contact_id: str
    chain_id: str
    step: int
    status: str
    entered_at: datetime
    step_started_at: datetime | None
    revision: int
    updated_at: datetime | None
    reactions: dict[str, bool] = field(default_factory=dict)
    due_shard: int | None = None
    due_at: int | None = None
    claim: str | None = None
    exit_reason: str | None = None
    ended_at: datetime | None = None
    timer_key: str | None = None
    timer_event: str | None = None
    timer_properties: dict[str, object] | None = None
    context: dict[str, object] | None = None
    addresses: tuple[str, ...] = ()


@dataclass
class _TouchRow:
    contact_id: str
    touch_key: str
    touch_id: str
    channel: str
    occasion_id: str
    category: str
    status: str
    created_at: datetime
    chain_id: str | None = None
    step: int | None = None
    variant: str | None = None
    decision: str | None = None
    reason: str | None = None
    rule: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    actor: str | None = None
    comment: str | None = None
    updated_at: datetime | None = None
    error_code: str | None = None
    error: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    counted_at: datetime | None = None  # as TouchModel's: set while the touch counts toward the caps
    counted_as: str | None = None


@dataclass
class _ApiKeyRow:
    key: ApiKey
    label: str | None
    created_at: datetime
    revoked: bool = False


class MemoryDatabase:
    """The tables, keyed as in infra/template.yaml, plus the indexes the repositories query."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.contacts: dict[str, Contact] = {}
        self.identities: dict[str, _Identity] = {}
        self.ledger: dict[str, dict[str, ConsentEvent]] = {}  # contact -> event key -> entry
        self.touches: dict[str, dict[str, _TouchRow]] = {}  # contact -> touch key -> touch
        self.provider_messages: dict[str, tuple[str, str]] = {}  # provider message id -> (contact, touch key)
        self.enrollments: dict[str, dict[str, _EnrolmentRow]] = {}  # contact -> chain id -> row
        self.due: dict[int, dict[tuple[str, str], int]] = {}  # the sparse due index: shard -> row -> due_at
        # Beside it, each shard's (due_at, row) in a heap, so a tick reads what is due without sorting the shard;
        # an entry the index no longer holds is dropped when it surfaces.
        self._due_order: dict[int, list[tuple[int, tuple[str, str]]]] = {}
        self.suppressions: dict[str, _Suppression] = {}
        self.occasions: dict[str, StoredOccasion] = {}
        self.api_keys: dict[str, _ApiKeyRow] = {}
        # DynamoDB adds numbers in decimal, so the counters do too: the two stores sum to the same totals.
        self.stats: dict[tuple[str, str], dict[str, Decimal]] = {}
        self.processed: dict[str, int] = {}  # the idempotency table: event marker -> its (unenforced) expiry
        # Told of the DynamoDB request each repository method stands for (the simulator's meter), or None.
        self.on_request: Callable[[str, tuple[Any, ...], str | None], None] | None = None
        self.campaigns: dict[str, Campaign] = {}  # campaign id -> campaign (store.campaigns)

    def request(self, operation: str, *parts: Any, index: str | None = None) -> None:
        """`operation` on (table, *items read or written), or on (action, table, item) triples (a transaction)."""
        if self.on_request is not None:
            self.on_request(operation, parts, index)

    def enrolment(self, contact_id: str, chain_id: str) -> _EnrolmentRow | None:
        return self.enrollments.get(contact_id, {}).get(chain_id)

    def put_enrolment(self, row: _EnrolmentRow) -> None:
        """Stores the row and keeps the due index in step: only rows with a shard and a due time are on it."""
        key = (row.contact_id, row.chain_id)
        rows = self.enrollments.setdefault(row.contact_id, {})
        previous = rows.get(row.chain_id)
        if previous is not None and previous.due_shard is not None:  # only a row with a shard is on the index
            self.due.get(previous.due_shard, {}).pop(key, None)
        rows[row.chain_id] = row
        if row.due_shard is not None and row.due_at is not None:
            self.due.setdefault(row.due_shard, {})[key] = row.due_at
            heapq.heappush(self._due_order.setdefault(row.due_shard, []), (row.due_at, key))

    def due_rows(self, shard: int, now_epoch: int, limit: int) -> list[tuple[int, tuple[str, str]]]:
        """The first `limit` rows of `shard` due by `now_epoch`, earliest first (then by key)."""
        index, order = self.due.get(shard, {}), self._due_order.get(shard, [])
        taken: list[tuple[int, tuple[str, str]]] = []
        while order and order[0][0] <= now_epoch and len(taken) < limit:
            entry = heapq.heappop(order)
            if index.get(entry[1]) == entry[0] and (not taken or taken[-1] != entry):
                taken.append(entry)
        for entry in taken:
            heapq.heappush(order, entry)
        return taken

    def append_entries(self, contact_id: str, events: Iterable[ConsentEvent]) -> None:
        """Ledger entries are written once: an entry whose key exists fails the whole write (the check and the
        write under the lock, whoever calls)."""
        events = list(events)
        with self.lock:
            entries = self.ledger.setdefault(contact_id, {})
            if any(event.key in entries for event in events) or len({e.key for e in events}) < len(events):
                raise ConditionFailed(f"ledger entry of {contact_id} exists")
            for event in events:
                entries[event.key] = event

    def add_counts(self, key: str, day: str, counts: Mapping[str, float]) -> None:
        row = self.stats.setdefault((key, day), {})
        for name, value in counts.items():
            row[name] = row.get(name, Decimal(0)) + Decimal(repr(float(value)))


def _ledger_puts(events: Iterable[ConsentEvent]) -> list[tuple[str, str, ConsentEvent]]:
    return [("PutItem", "consent-ledger", event) for event in events]


def _utc(at: datetime) -> datetime:
    """As UTCDateTimeAttribute gives a time back."""
    return at.astimezone(UTC)


def _new_version(contact: Contact, **changes: Any) -> Contact:
    return replace(contact, version=contact.version + 1, **changes)


class MemoryContacts(ContactRepository):
    def __init__(self, db: MemoryDatabase, shards: int) -> None:
        self._db = db
        self.shards = shards

    def owners(self, keys: Sequence[str]) -> dict[str, str]:
        with self._db.lock:
            self._db.request("BatchGetItem", "identities", *(self._db.identities.get(k) for k in keys))
            return {k: self._db.identities[k].contact_id for k in keys if k in self._db.identities}

    def get(self, contact_id: str) -> Contact | None:
        self._db.request("GetItem", "contacts", self._db.contacts.get(contact_id))
        return self._db.contacts.get(contact_id)

    def by_point(self, point_id: str, limit: int) -> list[Contact]:
        with self._db.lock:
            found = sorted((c for c in self._db.contacts.values() if c.point_id == point_id),
                           key=lambda c: c.contact_id)
        self._db.request("Query", "contacts", *found[:limit], index="point-index")
        return found[:limit]

    def point_page(self, point_id: str, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        # A walk of every contact: the memory store pays no request per item, DynamoDB's point index does.
        with self._db.lock:
            ids = sorted(c.contact_id for c in self._db.contacts.values() if c.point_id == point_id)
            page = [self._db.contacts[i] for i in ids if after is None or i > after][:limit]
        return page, page[-1].contact_id if len(page) == limit and page[-1].contact_id != ids[-1] else None

    def segment_page(self, segment: str, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        with self._db.lock:
            ids = sorted(c.contact_id for c in self._db.contacts.values() if c.segment == segment)
            page = [self._db.contacts[i] for i in ids if after is None or i > after][:limit]
        self._db.request("Query", "contacts", *page, index="segment-index")
        if page:
            self._db.request("BatchGetItem", *(("GetItem", "contacts", c) for c in page))
        return page, page[-1].contact_id if len(page) == limit and page[-1].contact_id != ids[-1] else None

    def create(self, new: NewContact, events: Iterable[ConsentEvent]) -> None:
        keys = [identity_key(c, a) for c, a in (("email", new.email), ("sms", new.phone)) if a]
        events = list(events)
        with self._db.lock:
            if any(k in self._db.identities for k in keys):
                raise IdentityTaken()
            if new.contact_id in self._db.contacts:
                raise ConditionFailed(f"contact {new.contact_id} exists")
            self._check_entries(new.contact_id, events)
            for k in keys:
                self._db.identities[k] = _Identity(new.contact_id, new.created_at)
            self._db.contacts[new.contact_id] = Contact(
                contact_id=new.contact_id, status="pending", version=1, created_at=new.created_at, email=new.email,
                phone=new.phone, timezone=new.timezone, locale=new.locale, point_id=new.point_id,
                attributes=_copied(dict(new.attributes)), requested=dict(new.requested),
                pending_request=new.request_id, segment=new.segment, b2b=new.b2b, updated_at=new.created_at,
            )
            self._db.append_entries(new.contact_id, events)
            self._db.request("TransactWriteItems", *(("PutItem", "identities", self._db.identities[k]) for k in keys),
                             ("PutItem", "contacts", self._db.contacts[new.contact_id]), *_ledger_puts(events))

    def import_contacts(self, batch: Sequence[ImportedContact]) -> None:
        with self._db.lock:
            keys = [k for imported in batch for k in imported.identity_keys()]
            if any(k in self._db.identities for k in keys) or len(set(keys)) != len(keys):
                raise IdentityTaken()
            for imported in batch:
                self._check_entries(imported.contact_id, list(imported.events))
            for imported in batch:
                for k in imported.identity_keys():
                    self._db.identities[k] = _Identity(imported.contact_id, imported.created_at)
                self._db.contacts[imported.contact_id] = Contact(
                    contact_id=imported.contact_id, status="active", version=1, created_at=imported.created_at,
                    email=imported.email, phone=imported.phone, timezone=imported.timezone, locale=imported.locale,
                    point_id=imported.point_id, attributes=_copied(dict(imported.attributes)),
                    consents=dict(imported.consents), confirmed_at=imported.confirmed_at, segment=imported.segment,
                    b2b=imported.b2b, updated_at=imported.created_at,
                )
                self._db.append_entries(imported.contact_id, imported.events)
            # As the DynamoDB store: the proof in batch writes of 25, then identities + contacts in one transaction.
            entries = [event for imported in batch for event in imported.events]
            for start in range(0, len(entries), 25):
                self._db.request("BatchWriteItem", *_ledger_puts(entries[start:start + 25]))
            self._db.request("TransactWriteItems", *(
                part for imported in batch for part in (
                    *(("PutItem", "identities", self._db.identities[k]) for k in imported.identity_keys()),
                    ("PutItem", "contacts", self._db.contacts[imported.contact_id]))))

    def add_request(
        self, contact_id: str, attach: Mapping[str, str], requested: Mapping[str, Request], request_id: str,
        events: Iterable[ConsentEvent], now: datetime,
    ) -> None:
        keys = [identity_key(c, a) for c, a in attach.items()]
        events = list(events)
        with self._db.lock:
            contact = self._db.contacts.get(contact_id)
            if contact is None or contact.status == "erased" or any(
                contact.address(channel) not in (None, address) for channel, address in attach.items()
            ):
                raise ContactChanged(contact_id)
            if any(k in self._db.identities for k in keys):
                raise IdentityTaken(contact_id)
            self._check_entries(contact_id, events)
            addresses = {("email" if channel == "email" else "phone"): address for channel, address in attach.items()}
            self._db.contacts[contact_id] = _new_version(
                contact, requested={**contact.requested, **requested},
                pending_request=contact.pending_request or request_id, updated_at=now, **addresses,
            )
            for k in keys:
                self._db.identities[k] = _Identity(contact_id, now)
            self._db.append_entries(contact_id, events)
            self._db.request("TransactWriteItems", ("UpdateItem", "contacts", self._db.contacts[contact_id]),
                             *(("PutItem", "identities", self._db.identities[k]) for k in keys), *_ledger_puts(events))

    def confirm(
        self, contact: Contact, request_id: str, grants: Mapping[str, ConsentRecord],
        events: Iterable[ConsentEvent], enrolments: Sequence[Enrollment], now: datetime,
    ) -> bool:
        events = list(events)
        with self._db.lock:
            current = self._db.contacts.get(contact.contact_id)
            if current is None or current.pending_request != request_id:
                return False
            self._check_entries(contact.contact_id, events)
            requested = {k: r for k, r in current.requested.items() if k not in contact.requested}
            self._db.contacts[contact.contact_id] = _new_version(
                current, consents={**current.consents, **grants}, requested=requested, status="active",
                pending_request=None, confirmed_at=current.confirmed_at or now, updated_at=now,
            )
            self._db.append_entries(contact.contact_id, events)
            for state in enrolments:
                if self._db.enrolment(state.contact_id, state.chain_id) is None:  # never a second entry
                    self._db.put_enrolment(_enrolment_row(state, self.shards, now, revision=1,
                                                          addresses=address_keys(current.email, current.phone)))
            self._db.request("TransactWriteItems", ("UpdateItem", "contacts", self._db.contacts[contact.contact_id]),
                             *_ledger_puts(events), *(("PutItem", "enrollments", self._db.enrolment(
                                 e.contact_id, e.chain_id)) for e in enrolments))
        return True

    def change_consents(
        self, contact: Contact, changes: Mapping[str, ConsentRecord], drop_requests: Iterable[str],
        events: Iterable[ConsentEvent], now: datetime,
    ) -> None:
        events = list(events)
        drop = set(drop_requests)
        with self._db.lock:
            current = self._as_read(contact)
            if current.status == "erased":
                raise ContactChanged(contact.contact_id)
            self._check_entries(contact.contact_id, events)
            self._db.contacts[contact.contact_id] = _new_version(
                current, consents={**current.consents, **changes},
                requested={k: r for k, r in current.requested.items() if k not in drop}, updated_at=now,
            )
            self._db.append_entries(contact.contact_id, events)
            self._db.request("TransactWriteItems", ("UpdateItem", "contacts", self._db.contacts[contact.contact_id]),
                             *_ledger_puts(events))

    def erase(self, contact: Contact, revoked: Mapping[str, ConsentRecord], events: Iterable[ConsentEvent],
              now: datetime) -> None:
        events = list(events)
        with self._db.lock:
            current = self._as_read(contact)
            self._check_entries(contact.contact_id, events)
            self._db.contacts[contact.contact_id] = _new_version(
                current, consents={**current.consents, **revoked}, email=None, phone=None, timezone=None,
                locale=None, external_id=None, push_endpoint=None, pending_request=None, segment=None,
                first_order_at=None, last_order_at=None, last_activity_at=None, attributes={}, requested={},
                b2b=False, orders_count=0, revenue=0.0, status="erased", updated_at=now,
            )
            for k in contact.identity_keys():
                self._db.identities.pop(k, None)
            self._db.append_entries(contact.contact_id, events)
            self._db.request("TransactWriteItems", ("UpdateItem", "contacts", self._db.contacts[contact.contact_id]),
                             *(("DeleteItem", "identities", None) for _ in contact.identity_keys()),
                             *_ledger_puts(events))

    def doi_sends(self, key: str) -> list[float] | None:
        with self._db.lock:
            identity = self._db.identities.get(key)
            self._db.request("GetItem", "identities", identity)
            return None if identity is None else list(identity.doi_sent_at)

    def replace_doi_sends(self, key: str, expected: Sequence[float], updated: Sequence[float]) -> bool:
        with self._db.lock:
            identity = self._db.identities.get(key)
            self._db.request("UpdateItem", "identities", identity)
            if identity is None or identity.doi_sent_at != list(expected):
                return False
            identity.doi_sent_at = [float(x) for x in updated]
            return True

    def _as_read(self, contact: Contact) -> Contact:
        """The stored contact if it is still at the version `contact` was read at."""
        current = self._db.contacts.get(contact.contact_id)
        if current is None or current.version != contact.version:
            raise ContactChanged(contact.contact_id)
        return current

    def _check_entries(self, contact_id: str, events: Sequence[ConsentEvent]) -> None:
        """Fails the transaction before anything is written when a ledger entry exists (all or nothing)."""
        entries = self._db.ledger.get(contact_id, {})
        if any(event.key in entries for event in events):
            raise ConditionFailed(f"ledger entry of {contact_id} exists")


def _enrolment_row(
    state: Enrollment, shards: int, now: datetime, *, revision: int, claim: str | None = None,
    context: dict[str, object] | None = None, addresses: Sequence[str] = (),
) -> _EnrolmentRow:
    """As enrollments.enrollment_row: on the due index only while running with a due instant."""
    due = state.due_at if state.status == "running" else None
    return _EnrolmentRow(
        state.contact_id, state.chain_id, step=state.step, status=state.status, entered_at=state.entered_at,
        step_started_at=state.step_started_at, revision=revision, updated_at=now,
        reactions={flag: getattr(state, flag) for flag in FLAGS}, exit_reason=state.exit_reason,
        ended_at=state.ended_at, due_shard=None if due is None else shard_of(state.contact_id, shards),
        due_at=None if due is None else int(due.timestamp()), claim=claim, context=_copied(context),
        addresses=tuple(addresses),
    )


def _state(row: _EnrolmentRow) -> Enrollment:
    return Enrollment(
        contact_id=row.contact_id, chain_id=row.chain_id, step=row.step, status=row.status,  # type: ignore[arg-type]
        entered_at=row.entered_at, step_started_at=row.step_started_at or row.entered_at,
        due_at=None if row.due_at is None else datetime.fromtimestamp(row.due_at, UTC),
        exit_reason=row.exit_reason, ended_at=row.ended_at,
        **{flag: bool(row.reactions.get(flag)) for flag in FLAGS},
    )


def _stored(row: _EnrolmentRow, states: dict[int, tuple[_EnrolmentRow, Enrollment]]) -> Stored:
    """The row as the repository returns it. A row is replaced on every write, never changed, so its (frozen)
    Enrollment is built once per row and kept in `states`; the context is copied, as a read returns a new one."""
    cached = states.get(id(row))
    if cached is None or cached[0] is not row:
        if len(states) > 100_000:
            states.clear()
        cached = states[id(row)] = (row, _state(row))
    return Stored(cached[1], row.revision, row.claim, _copied(row.context), row.addresses)


_ATOMS = frozenset({str, int, float, bool, type(None)})  # kept as they are, without a call per member


def _copied(value: Any) -> Any:
    """A deep copy of a JSON-shaped value (what a map attribute holds), at a fraction of copy.deepcopy's cost."""
    if isinstance(value, dict):
        return {key: item if type(item) in _ATOMS else _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [item if type(item) in _ATOMS else _copied(item) for item in value]
    return copy.deepcopy(value) if not isinstance(value, str | int | float | bool | None) else value


class MemoryEnrollments(EnrollmentRepository):
    def __init__(self, db: MemoryDatabase, shards: int) -> None:
        self._db = db
        self.shards = shards
        self._states: dict[int, tuple[_EnrolmentRow, Enrollment]] = {}

    def due(self, shard: int, now_epoch: int, limit: int) -> Iterator[DueItem]:
        with self._db.lock:
            due = self._db.due_rows(shard, now_epoch, limit)
            items = []
            for at, (contact_id, chain_id) in due:
                row = self._db.enrollments[contact_id][chain_id]
                items.append(DueItem(contact_id, chain_id, row.step, at, row.addresses))
            self._db.request("Query", "enrollments", *(self._db.enrollments[c][k] for _, (c, k) in due),
                             index="due-index")
        yield from items

    def claim(self, item: DueItem, now_epoch: int) -> str | None:
        with self._db.lock:
            row = self._db.enrolment(item.contact_id, item.chain_id)
            self._db.request("UpdateItem", "enrollments", row)
            if row is None or row.due_at != item.due_at or row.step != item.step:
                return None
            claim = secrets.token_hex(8)
            self._db.put_enrolment(replace(row, due_at=now_epoch + LEASE, claim=claim, revision=row.revision + 1))
            return claim

    def get(self, contact_id: str, chain_id: str) -> Stored | None:
        with self._db.lock:
            row = self._db.enrolment(contact_id, chain_id)
            self._db.request("GetItem", "enrollments", row)
            return None if row is None else _stored(row, self._states)

    def for_contact(self, contact_id: str) -> dict[str, Stored]:
        with self._db.lock:
            rows = self._db.enrollments.get(contact_id, {})
            self._db.request("Query", "enrollments", *rows.values())
            return {chain_id: _stored(rows[chain_id], self._states) for chain_id in sorted(rows)}

    def load_step(
        self, contact_id: str, chain_id: str, others: Sequence[str] = (), addresses: Sequence[str] = (),
        campaign: str | None = None,
    ) -> StepRead:
        with self._db.lock:
            contact = self._db.contacts.get(contact_id)
            rows = self._db.enrollments.get(contact_id, {})
            row = rows.get(chain_id)
            snapshot = None if contact is None else _snapshot(self._db, contact)
            held = self._db.campaigns.get(campaign) if campaign else None
            read = StepRead(None if row is None else _stored(row, self._states), snapshot,
                            {c: _stored(rows[c], self._states) for c in sorted(set(others) - {chain_id}) if c in rows},
                            held)
            self._db.request("BatchGetItem", ("GetItem", "enrollments", row),
                             ("GetItem", "contacts", contact),
                             *(("GetItem", "enrollments", rows.get(c)) for c in set(others) - {chain_id}),
                             *(("GetItem", "suppressions", self._db.suppressions.get(k)) for k in addresses),
                             *((("GetItem", "campaigns", held),) if campaign else ()))
            return read

    def advance(
        self, state: Enrollment, expected: Stored, now: datetime, *, claim: str, touch: TouchWrite | None = None,
        addresses: Sequence[str] | None = None, contact_version: int | None = None,
    ) -> bool:
        row = _enrolment_row(state, self.shards, now, revision=expected.revision + 1, context=expected.context,
                             addresses=expected.addresses if addresses is None else addresses)
        with self._db.lock:
            current = self._db.enrolment(state.contact_id, state.chain_id)
            if current is None or current.revision != expected.revision or current.claim != claim:
                raise EnrollmentConflict(f"{state.contact_id}/{state.chain_id} changed meanwhile")
            contact = self._db.contacts.get(state.contact_id)
            if contact_version is not None and (contact is None or contact.version != contact_version):
                raise ContactMoved(state.contact_id)
            if touch is not None and not _put_touch(self._db, touch.touch, touch.status, touch.decision):
                self._db.request("TransactWriteItems", ("UpdateItem", "enrollments", current), ("UpdateItem", "touches",
                                 self._db.touches[touch.touch.contact_id][touch.touch.touch_key]))
                return False
            self._db.put_enrolment(row)
            if touch is None:
                self._db.request("UpdateItem", "enrollments", row)
                return True
            parts = [("UpdateItem", "touches", self._db.touches[touch.touch.contact_id][touch.touch.touch_key]),
                     ("UpdateItem", "enrollments", row)]
            if contact_version is not None and contact is not None:
                self._db.contacts[state.contact_id] = _new_version(contact, updated_at=now)
                parts.append(("UpdateItem", "contacts", self._db.contacts[state.contact_id]))
            self._db.request("TransactWriteItems", *parts)
            return True

    def restore(self, expected: Stored, advanced: Enrollment, now: datetime) -> None:
        row = _enrolment_row(expected.state, self.shards, now, revision=expected.revision + 2, claim=expected.claim,
                             context=expected.context, addresses=expected.addresses)
        with self._db.lock:
            current = self._db.enrolment(expected.state.contact_id, expected.state.chain_id)
            if current is None or current.revision != expected.revision + 1:
                raise EnrollmentConflict(f"{expected.state.contact_id}/{expected.state.chain_id} changed meanwhile")
            self._db.put_enrolment(row)
            self._db.request("PutItem", "enrollments", row)

    def save(
        self, state: Enrollment, expected: Stored | None, now: datetime, *, claim: str | None = None,
        keep_claim: bool = False, context: dict[str, object] | None = None, addresses: Sequence[str] | None = None,
    ) -> None:
        row = _enrolment_row(
            state, self.shards, now, revision=(expected.revision + 1) if expected else 1,
            claim=expected.claim if keep_claim and expected else None,
            context=context if context is not None else (expected.context if expected else None),
            addresses=addresses if addresses is not None else (expected.addresses if expected else ()),
        )
        with self._db.lock:
            current = self._db.enrolment(state.contact_id, state.chain_id)
            if expected is None:
                held = current is None
            else:
                held = current is not None and current.revision == expected.revision and (
                    claim is None or current.claim == claim)
            self._db.request("PutItem", "enrollments", row)
            if not held:
                raise EnrollmentConflict(f"{state.contact_id}/{state.chain_id} changed meanwhile")
            self._db.put_enrolment(row)


def _pending(row: _EnrolmentRow) -> DueTimer | None:
    if row.status != "running" or row.due_at is None:
        return None
    return DueTimer(
        row.contact_id, row.chain_id, row.timer_key or "", row.timer_event or "",
        datetime.fromtimestamp(row.due_at, UTC), _copied(row.timer_properties or {}), row.claim, row.revision,
    )


class MemoryTimers(TimerRepository):
    def __init__(self, db: MemoryDatabase, shards: int) -> None:
        self._db = db
        self.shards = shards

    def arm(self, contact_id: str, timer: Timer, now: datetime) -> bool:
        chain_id = timer_id(timer)
        with self._db.lock:
            current = self._db.enrolment(contact_id, chain_id)
            if current is not None and current.timer_key == timer.key:
                self._db.request("PutItem", "enrollments", current)
                return False
            self._db.put_enrolment(_EnrolmentRow(
                contact_id, chain_id, step=0, status="running", entered_at=now, step_started_at=now, revision=1,
                updated_at=now, due_shard=shard_of(contact_id, self.shards), due_at=int(timer.due_at.timestamp()),
                timer_key=timer.key, timer_event=timer.event, timer_properties=_copied(dict(timer.properties)),
            ))
            self._db.request("PutItem", "enrollments", self._db.enrolment(contact_id, chain_id))
            return True

    def get(self, contact_id: str, chain_id: str) -> DueTimer | None:
        with self._db.lock:
            row = self._db.enrolment(contact_id, chain_id)
            self._db.request("GetItem", "enrollments", row)
            return None if row is None else _pending(row)

    def for_contact(self, contact_id: str) -> list[DueTimer]:
        with self._db.lock:
            rows = self._db.enrollments.get(contact_id, {})
            self._db.request("Query", "enrollments", *(r for k, r in rows.items() if k.startswith(PREFIX)))
            return [timer for chain_id in sorted(rows) if chain_id.startswith(PREFIX)
                    and (timer := _pending(rows[chain_id])) is not None]

    def fired(self, timer: DueTimer, claim: str, now: datetime) -> None:
        with self._db.lock:
            row = self._db.enrolment(timer.contact_id, timer.chain_id)
            if row is None or row.claim != claim:
                raise ConditionFailed(f"timer {timer.chain_id} of {timer.contact_id} is no longer claimed")
            self._db.put_enrolment(replace(row, status="completed", due_at=None, due_shard=None, claim=None,
                                           ended_at=now, revision=row.revision + 1))
            self._db.request("UpdateItem", "enrollments", self._db.enrolment(timer.contact_id, timer.chain_id))


def _record(row: _TouchRow) -> TouchRecord:
    history = tuple(row.history)
    return TouchRecord(
        contact_id=row.contact_id, touch_key=row.touch_key, touch_id=row.touch_id, channel=row.channel,
        occasion_id=row.occasion_id, category=row.category, status=row.status, created_at=row.created_at,
        chain_id=row.chain_id, step=row.step, variant=row.variant, decision=row.decision, reason=row.reason,
        rule=row.rule, until=history[-1].until if history and row.status == "deferred" else None,
        provider_message_id=row.provider_message_id, actor=row.actor, comment=row.comment,
        updated_at=row.updated_at, error_code=row.error_code, error=row.error, history=history,
    )


def _put_touch(db: MemoryDatabase, touch: TouchRecord, status: str, decision: str,
               replaceable: Sequence[str] = RESERVABLE_AGAIN) -> bool:
    """A reservation or recorded decision: never over a touch whose status is not `replaceable` (by default:
    reserved or sent before)."""
    entry = HistoryEntry(at=touch.created_at, decision=decision, status=status, reason=touch.reason,
                         rule=touch.rule, until=touch.until)
    with db.lock:
        rows = db.touches.setdefault(touch.contact_id, {})
        current = rows.get(touch.touch_key)
        if current is not None and current.status not in replaceable:
            return False
        # A re-reservation starts the attempt afresh; the provider id, the cost and the history stay.
        rows[touch.touch_key] = _TouchRow(
            touch.contact_id, touch.touch_key, touch.touch_id, touch.channel, touch.occasion_id, touch.category,
            status, touch.created_at, chain_id=touch.chain_id, step=touch.step, variant=touch.variant,
            decision=decision, reason=touch.reason, rule=touch.rule, actor=touch.actor, comment=touch.comment,
            updated_at=touch.created_at,
            provider_message_id=current.provider_message_id if current else None,
            cost=current.cost if current else None,
            history=_appended(current.history if current else [], entry),
            counted_at=touch.created_at if status in COUNTED else None,
            counted_as=status if status in COUNTED else None,
        )
        return True


class MemoryTouches(TouchRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def reserve(self, touch: TouchRecord) -> bool:
        return self._put(touch, "reserved", "send")

    def record_decision(self, touch: TouchRecord) -> None:
        self._put(touch, touch.status, touch.decision or touch.status)

    def mark_by_hand(self, touch: TouchRecord, replaceable: Sequence[str],
                     contact_version: int | None = None) -> TouchRecord | None:
        with self._db.lock:
            contact = self._db.contacts.get(touch.contact_id)
            if contact_version is not None and (contact is None or contact.version != contact_version):
                raise ContactMoved(touch.contact_id)
            current = self._db.touches.get(touch.contact_id, {}).get(touch.touch_key)
            if current is not None and current.status not in replaceable:
                self._db.request("UpdateItem", "touches", current)
                return _record(current)
            if contact_version is None or contact is None:
                self._put(touch, touch.status, touch.decision or touch.status, replaceable)
                return None
            _put_touch(self._db, touch, touch.status, touch.decision or touch.status, replaceable)
            self._db.contacts[touch.contact_id] = _new_version(contact, updated_at=touch.created_at)
            self._db.request("TransactWriteItems",
                             ("UpdateItem", "touches", self._db.touches[touch.contact_id][touch.touch_key]),
                             ("UpdateItem", "contacts", self._db.contacts[touch.contact_id]))
            return None

    def marks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TouchRecord]:
        with self._db.lock:
            found = {(c, k): row for c, k in keys if (row := self._db.touches.get(c, {}).get(k))}
            self._db.request("BatchGetItem", "touches", *found.values())
            return {key: _record(row) for key, row in found.items()}

    def _put(self, touch: TouchRecord, status: str, decision: str,
             replaceable: Sequence[str] = RESERVABLE_AGAIN) -> bool:
        with self._db.lock:
            written = _put_touch(self._db, touch, status, decision, replaceable)
            self._db.request("UpdateItem", "touches", self._db.touches[touch.contact_id][touch.touch_key])
            return written

    def mark(
        self, contact_id: str, touch_key: str, status: str, now: datetime, *,
        provider_message_id: str | None = None, cost: float | None = None, error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        message = None if error is None else error[:ERROR_LENGTH]
        with self._db.lock:
            row = self._db.touches.get(contact_id, {}).get(touch_key)
            if row is None:
                raise ConditionFailed(f"touch {touch_key!r} of {contact_id} was never reserved")
            before, row.status, row.updated_at = row.status, status, now
            if provider_message_id is not None:
                row.provider_message_id = provider_message_id
                self._db.provider_messages[provider_message_id] = (contact_id, touch_key)
            if cost is not None:
                row.cost = cost
            if error_code is not None:
                row.error_code, row.error = error_code, message
            if status not in COUNTED:
                row.counted_at = row.counted_as = None
            row.history = _appended(row.history, HistoryEntry(at=now, decision="send", status=status,
                                                              error_code=error_code, error=message))
            self._db.request("UpdateItem", "touches", row)
            return before == "reserved"

    def advance_status(self, contact_id: str, touch_key: str, status: str, now: datetime) -> str | None:
        with self._db.lock:
            row = self._db.touches.get(contact_id, {}).get(touch_key)
            self._db.request("UpdateItem", "touches", row)
            if row is None or STATUS_RANK.get(row.status, STATUS_RANK[status]) >= STATUS_RANK[status]:
                return None
            before = row.status
            row.status, row.updated_at = status, now
            row.history = _appended(row.history, HistoryEntry(at=now, decision="send", status=status))
            return before

    def get(self, contact_id: str, touch_key: str) -> TouchRecord | None:
        with self._db.lock:
            row = self._db.touches.get(contact_id, {}).get(touch_key)
            self._db.request("GetItem", "touches", row)
            return None if row is None else _record(row)

    def by_provider_message(self, provider_message_id: str) -> SentTouch | None:
        with self._db.lock:
            contact_id, touch_key = self._db.provider_messages.get(provider_message_id, ("", ""))
            row = self._db.touches.get(contact_id, {}).get(touch_key)
            self._db.request("Query", "touches", row, index="provider-message-index")
            if row is None or row.provider_message_id != provider_message_id:
                return None
            return SentTouch.of(_record(row))

    def for_contact(self, contact_id: str) -> list[TouchRecord]:
        with self._db.lock:
            rows = self._db.touches.get(contact_id, {})
            self._db.request("Query", "touches", *rows.values())
            return [_record(rows[key]) for key in sorted(rows)]

    def recent(self, contact_id: str, now: datetime, window: timedelta) -> list[CountedTouch]:
        since = now - window
        with self._db.lock:
            found = sorted(
                (CountedTouch(r.touch_key, r.counted_at, r.channel, r.category, r.occasion_id, r.counted_as or r.status)
                 for r in self._db.touches.get(contact_id, {}).values() if r.counted_at and r.counted_at >= since),
                key=lambda t: (t.counted_at, t.touch_key),
            )
            self._db.request("Query", "touches", *(self._db.touches[contact_id][t.touch_key] for t in found),
                             index="counted-index")
            return found


def _appended(history: list[HistoryEntry], entry: HistoryEntry) -> list[HistoryEntry]:
    """The history with `entry` last, its oldest entries dropped beyond HISTORY_LIMIT."""
    return [*history, entry][-HISTORY_LIMIT:]


class MemoryLedger(LedgerRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def append(self, contact_id: str, events: Iterable[ConsentEvent]) -> None:
        # Entry by entry, as the DynamoDB store writes them: the entries before an existing one stay.
        with self._db.lock:
            for entry in events:
                self._db.request("PutItem", "consent-ledger", entry)
                self._db.append_entries(contact_id, [entry])

    def history(self, contact_id: str) -> list[ConsentEvent]:
        with self._db.lock:
            entries = self._db.ledger.get(contact_id, {})
            self._db.request("Query", "consent-ledger", *entries.values())
            return [replace(entries[key], at=_utc(entries[key].at),
                            detail={str(k): str(v) for k, v in entries[key].detail.items()})
                    for key in sorted(entries)]


class _Suppressions:
    """The suppression table's methods, shared by the suppressions and the feedback records."""

    _db: MemoryDatabase

    def is_suppressed(self, key: str) -> bool:
        self._db.request("GetItem", "suppressions", self._db.suppressions.get(key))
        return key in self._db.suppressions

    def suppress(
        self, key: str, reason: str, at: datetime, source: str | None = None, feedback_id: str | None = None
    ) -> bool:
        with self._db.lock:
            if key in self._db.suppressions:
                self._db.request("PutItem", "suppressions", self._db.suppressions[key])
                return False
            self._db.suppressions[key] = _Suppression(reason, _utc(at), source, feedback_id)
            self._db.request("PutItem", "suppressions", self._db.suppressions[key])
            return True

    def records(self, keys: list[str]) -> list[dict[str, str | None]]:
        with self._db.lock:
            found = {k: self._db.suppressions[k] for k in set(keys) if k in self._db.suppressions}
            self._db.request("BatchGetItem", "suppressions", *found.values())
        return [{"address": k, "reason": s.reason, "at": s.at.isoformat(), "source": s.source}
                for k, s in sorted(found.items())]

    def reasons(self, keys: list[str]) -> dict[str, str]:
        with self._db.lock:
            self._db.request("BatchGetItem", "suppressions", *(self._db.suppressions.get(k) for k in keys))
            return {k: self._db.suppressions[k].reason for k in keys if k in self._db.suppressions}


class MemorySuppressions(_Suppressions, SuppressionRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db


class MemoryFeedbackRecords(_Suppressions, FeedbackRecords):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def append(self, contact_id: str, event: ConsentEvent) -> bool:
        self._db.request("PutItem", "consent-ledger", event)
        try:
            self._db.append_entries(contact_id, [event])
        except ConditionFailed:
            return False
        return True

    def owner(self, identity: str) -> str | None:
        found = self._db.identities.get(identity)
        self._db.request("GetItem", "identities", found)
        return None if found is None else found.contact_id

    def set_push_endpoint(self, contact_id: str, endpoint_arn: str, now: datetime) -> bool:
        with self._db.lock:
            contact = self._db.contacts.get(contact_id)
            self._db.request("UpdateItem", "contacts", contact)
            if contact is None or contact.status == "erased":
                return False
            self._db.contacts[contact_id] = _new_version(contact, push_endpoint=endpoint_arn, updated_at=now)
            return True

    def push_endpoint(self, contact_id: str) -> str | None:
        contact = self._db.contacts.get(contact_id)
        self._db.request("GetItem", "contacts", contact)
        return None if contact is None else contact.push_endpoint


class MemoryProfiles(ProfileRepository):
    """Profiles over the memory contacts; the row a service holds between `facts` and `apply` is the Contact."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def resolve(self, kind: str, value: str) -> str | None:
        if kind == "contact_id":
            self._db.request("GetItem", "contacts", self._db.contacts.get(value))
            return value if value in self._db.contacts else None
        found = self._db.identities.get(event_identity_key(kind, value))
        self._db.request("GetItem", "identities", found)
        return None if found is None else found.contact_id

    def facts(self, contact_id: str) -> tuple[Facts, Any] | None:
        contact = self._db.contacts.get(contact_id)
        self._db.request("GetItem", "contacts", contact)
        if contact is None:
            return None
        return Facts(
            orders_count=contact.orders_count, revenue=contact.revenue, first_order_at=contact.first_order_at,
            last_order_at=contact.last_order_at, last_activity_at=contact.last_activity_at,
            attributes=_copied(dict(contact.attributes)), timezone=contact.timezone, locale=contact.locale,
            point_id=contact.point_id,
        ), contact

    def snapshot(self, row: Any) -> ContactSnapshot:
        return _snapshot(self._db, row)

    def apply(self, row: Any, change: FactsChange, event_id: str, now: datetime, segment: str) -> None:
        marker = f"event#{event_id}"
        with self._db.lock:
            if marker in self._db.processed:
                raise AlreadyApplied(event_id)
            current = self._db.contacts.get(row.contact_id)
            if current is None or current.version != row.version:
                raise ConditionFailed(f"contact {row.contact_id} changed meanwhile")
            changes: dict[str, Any] = {
                "orders_count": row.orders_count + change.orders, "revenue": float(row.revenue) + change.revenue,
                "segment": segment, "updated_at": now,
            }
            if change.order_at is not None:
                changes["first_order_at"] = min(filter(None, (row.first_order_at, change.order_at)))
                changes["last_order_at"] = max(filter(None, (row.last_order_at, change.order_at)))
            if change.activity_at is not None:
                changes["last_activity_at"] = max(filter(None, (row.last_activity_at, change.activity_at)))
            if change.attributes:
                changes["attributes"] = {**_copied(dict(row.attributes)), **_copied(change.attributes)}
            for name in ("timezone", "locale", "point_id"):
                if getattr(change, name):
                    changes[name] = getattr(change, name)
            if change.b2b is not None:
                changes["b2b"] = change.b2b
            # The whole row as read, changed: what DynamoDB's put of the read row writes.
            self._db.contacts[row.contact_id] = _new_version(row, **changes)
            self._db.processed[marker] = int((now + PROCESSED_FOR).timestamp())
            self._db.request("TransactWriteItems", ("PutItem", "contacts", self._db.contacts[row.contact_id]),
                             ("PutItem", "idempotency", {"id": marker, "expiration": self._db.processed[marker]}))

    def set_segment(self, row: Any, segment: str, now: datetime) -> bool:
        if row.segment == segment or row.status == "erased":
            return True
        with self._db.lock:
            current = self._db.contacts.get(row.contact_id)
            self._db.request("UpdateItem", "contacts", current)
            if current is None or current.version != row.version:
                return False
            self._db.contacts[row.contact_id] = _new_version(current, segment=segment, updated_at=now)
            return True

    def was_applied(self, event_id: str) -> bool:
        self._db.request("GetItem", "idempotency", self._db.processed.get(f"event#{event_id}"))
        return f"event#{event_id}" in self._db.processed


class MemoryStats(StatsRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def add(self, key: str, day: date, counts: Mapping[str, float]) -> None:
        unknown = set(counts) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"not outcome counters: {sorted(unknown)}")
        with self._db.lock:
            self._db.add_counts(key, day.isoformat(), counts)
            self._db.request("UpdateItem", "stats", self._db.stats[(key, day.isoformat())])

    def add_decision(self, key: str, day: date, decision: str, reason: str, count: int = 1) -> None:
        if decision not in BY_REASON:
            raise ValueError(f"not a counted decision: {decision!r}")
        with self._db.lock:
            self._db.add_counts(key, f"{day.isoformat()}#{decision}#{reason}", {decision: count})
            self._db.request("UpdateItem", "stats", self._db.stats[(key, f"{day.isoformat()}#{decision}#{reason}")])

    def totals(self, key: str, first: date, last: date) -> CounterTotals | None:
        low, high = first.isoformat(), last.isoformat() + _AFTER_DAY
        with self._db.lock:
            rows = sorted((day, dict(counts)) for (k, day), counts in self._db.stats.items()
                          if k == key and low <= day <= high)
            self._db.request("Query", "stats", *(counts for _, counts in rows))
        totals: CounterTotals | None = None
        for day, counts in rows:
            totals = totals or CounterTotals()
            _, _, rest = day.partition("#")
            if rest:
                decision, _, reason = rest.partition("#")
                bucket = totals.reasons[decision]
                bucket[reason] = bucket.get(reason, 0) + int(counts.get(decision, 0))
                continue
            for name in OUTCOMES:
                totals.counts[name] += float(counts.get(name, 0))
        return totals


class MemoryApiKeys(ApiKeyRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def create(self, role: str, point_id: str | None, label: str | None, now: datetime) -> tuple[ApiKey, str]:
        key_id, key = new_key(role, point_id)
        found = ApiKey(key_id=key_id, role=role, point_id=point_id, label=label)
        with self._db.lock:
            if hash_key(key) in self._db.api_keys:
                raise ConditionFailed("the generated key exists")
            self._db.api_keys[hash_key(key)] = _ApiKeyRow(found, label, now)
            self._db.request("PutItem", "api-keys", self._db.api_keys[hash_key(key)])
        return found, key

    def find(self, key: str) -> ApiKey | None:
        return self.find_hashed(hash_key(key))

    def find_hashed(self, key_hash: str) -> ApiKey | None:
        row = self._db.api_keys.get(key_hash)
        self._db.request("GetItem", "api-keys", row)
        return None if row is None or row.revoked else row.key


class MemoryOccasions(OccasionRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def edits(self, occasion_ids: Sequence[str]) -> dict[str, StoredOccasion]:
        with self._db.lock:
            return {i: self._db.occasions[i] for i in occasion_ids if i in self._db.occasions}

    def get(self, occasion_id: str) -> StoredOccasion | None:
        return self._db.occasions.get(occasion_id)

    def save(self, occasion_id: str, definition: Mapping[str, Any], expected: int, actor: str,
             now: datetime) -> StoredOccasion:
        with self._db.lock:
            before = self._db.occasions.get(occasion_id)
            if (before.version if before else 0) != expected:
                raise OccasionConflict(before)
            saved = next_version(before, occasion_id, _copied(dict(definition)), actor, _utc(now))
            self._db.occasions[occasion_id] = saved
            return saved


class MemorySpendCounter(StoredSpendCounter):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def month_spend(self, month: str) -> Decimal:
        with self._db.lock:
            spend = self._db.stats.get((SPEND_KEY, month), {}).get("spend", Decimal(0))
            self._db.request("GetItem", "stats", self._db.stats.get((SPEND_KEY, month)))
        return Decimal(str(float(spend)))  # pynamodb reads a number back as a float

    def add(self, month: str, amount: Decimal) -> None:
        with self._db.lock:
            self._db.add_counts(SPEND_KEY, month, {"spend": float(amount)})
            self._db.request("UpdateItem", "stats", self._db.stats[(SPEND_KEY, month)])


class MemoryOptOutCache(StoredOptOutCache):
    def __init__(self, db: MemoryDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def get(self, phone_number: str) -> bool | None:
        key = address_key("sms", phone_number)
        with self._db.lock:
            self._db.request("BatchGetItem", "suppressions", self._db.suppressions.get(key),
                             self._db.suppressions.get(CHECKED_PREFIX + key))
            if key in self._db.suppressions:
                return True
            return False if CHECKED_PREFIX + key in self._db.suppressions else None

    def set(self, phone_number: str, opted_out: bool) -> None:
        key = address_key("sms", phone_number)
        at = _utc(self._clock.now())
        with self._db.lock:
            self._db.request("PutItem", "suppressions", _Suppression(NOT_OPTED_OUT, at, "sns", None))
            if not opted_out:
                self._db.suppressions[CHECKED_PREFIX + key] = _Suppression(NOT_OPTED_OUT, at, "sns", None)
            elif key not in self._db.suppressions:
                self._db.suppressions[key] = _Suppression(OPTED_OUT, at, "sns", None)


def _snapshot(db: MemoryDatabase, contact: Contact) -> ContactSnapshot:
    """As snapshots.snapshot_of, over a memory contact."""
    consents, data_processing = consent_states({k: v.stored() for k, v in contact.consents.items()})
    keys = {}
    if contact.email:
        keys["email"] = address_key("email", contact.email)
    if contact.phone:
        keys["sms"] = address_key("sms", contact.phone)
    with db.lock:
        if keys:
            db.request("BatchGetItem", "suppressions", *(db.suppressions.get(k) for k in keys.values()))
        reasons = {k: db.suppressions[k].reason for k in keys.values() if k in db.suppressions}
    return ContactSnapshot(
        contact_id=contact.contact_id, status=contact.status, email=contact.email, phone=contact.phone,
        push_endpoint=contact.push_endpoint, timezone=contact.timezone, locale=contact.locale,
        segment=contact.segment, b2b=contact.b2b, attributes=_copied(dict(contact.attributes)),
        consents=consents, data_processing=data_processing, version=contact.version,
        suppressed_channels=frozenset(channel for channel, address in keys.items() if address in reasons),
        stop_listed=STOP_LIST in reasons.values(),
    )


class MemoryStore:
    """Every repository over one memory database; `load_snapshot` and `suppress_contact` stand for the
    functions of the same names in chalicelib.store.snapshots."""

    def __init__(self, shards: int) -> None:
        self.db = MemoryDatabase()
        self.contacts = MemoryContacts(self.db, shards)
        self.enrollments = MemoryEnrollments(self.db, shards)
        self.timers = MemoryTimers(self.db, shards)
        self.touches = MemoryTouches(self.db)
        self.ledger = MemoryLedger(self.db)
        self.suppressions = MemorySuppressions(self.db)
        self.feedback_records = MemoryFeedbackRecords(self.db)
        self.profiles = MemoryProfiles(self.db)
        self.stats = MemoryStats(self.db)
        self.api_keys = MemoryApiKeys(self.db)
        self.occasions = MemoryOccasions(self.db)
        self.spend = MemorySpendCounter(self.db)
        self.catalog = MemoryCatalog(self.db)
        self.audiences = MemoryAudiences(self.db)
        self.campaigns = MemoryCampaigns(self.db)

    def opt_out_cache(self, clock: Clock) -> MemoryOptOutCache:
        return MemoryOptOutCache(self.db, clock)

    def load_snapshot(self, contact_id: str) -> ContactSnapshot | None:
        contact = self.db.contacts.get(contact_id)
        self.db.request("GetItem", "contacts", contact)
        return None if contact is None else _snapshot(self.db, contact)

    def suppress_contact(self, snapshot: ContactSnapshot, reason: str, now: datetime) -> None:
        for channel, address in (("email", snapshot.email), ("sms", snapshot.phone)):
            if address:
                self.suppressions.suppress(address_key(channel, address), reason, now, "chain")


class MemoryCampaigns(CampaignRepository):
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    def create(self, campaign: Campaign) -> None:
        with self._db.lock:
            self._db.request("PutItem", "campaigns", campaign)
            if campaign.campaign_id in self._db.campaigns:
                raise CampaignConflict(campaign.campaign_id)
            self._db.campaigns[campaign.campaign_id] = campaign

    def get(self, campaign_id: str) -> Campaign | None:
        found = self._db.campaigns.get(campaign_id)
        self._db.request("GetItem", "campaigns", found)
        return found

    def listing(self, after: str | None = None, limit: int = 100) -> tuple[list[Campaign], str | None]:
        with self._db.lock:
            found = sorted((c for c in self._db.campaigns.values() if after is None or created_key(c) < after),
                           key=created_key, reverse=True)[:limit + 1]
        self._db.request("Query", "campaigns", *found, index="list-index")
        page = found[:limit]
        return page, created_key(page[-1]) if len(found) > limit else None

    def active(self) -> list[Campaign]:
        with self._db.lock:
            found = sorted((c for c in self._db.campaigns.values() if c.active), key=lambda c: c.campaign_id)
        self._db.request("Query", "campaigns", *found, index="active-index")
        return found

    def save(self, campaign: Campaign) -> Campaign:
        with self._db.lock:
            self._db.request("PutItem", "campaigns", campaign)
            stored = self._db.campaigns.get(campaign.campaign_id)
            if stored is None or stored.version != campaign.version:
                raise CampaignConflict(campaign.campaign_id)
            saved = replace(campaign, version=campaign.version + 1)
            self._db.campaigns[campaign.campaign_id] = saved
            return saved
