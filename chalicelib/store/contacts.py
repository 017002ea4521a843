"""Contacts, their identities and consent state: the writes that must happen together, as transactions.

One address is one contact because an identity row (`email:<normalised>`, `phone:<E.164>`) is created with
`attribute_not_exists` in the same transaction as the contact. Consent changes and their ledger entries
are written in one transaction too, so there is never a consent without its proof.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.chains import Enrollment
from chalicelib.store.enrollments import enrollment_row
from chalicelib.store.errors import StorageBusy, cancellation_codes, is_busy
from chalicelib.store.ledger import ConsentEvent, append_only, event_row
from chalicelib.store.models import CONNECTION, ConsentEventModel, ContactModel, EnrollmentModel, IdentityModel
from chalicelib.store.snapshots import address_keys, consent_states, read_contact
from chalicelib.store.suppressions import address_key

DATA_PROCESSING_KEY = "any:data_processing"
CHANNEL_IDENTITY = {"email": "email", "sms": "phone"}
_CONFLICT_PAUSE = 0.05
Cancelled = Callable[[list["str | None"]], "Exception | None"]


class IdentityTaken(Exception):
    """An identity this write meant to create exists now (a concurrent sign-up won): look up again."""


class ContactChanged(Exception):
    """The contact is not as it was read (version, status or address): read again and redo."""


class Contention(StorageBusy):
    """DynamoDB kept cancelling the transaction for concurrent writes, throttling it or timing out."""


# Identities and suppressions key an address the same way.
identity_key = address_key


def pair_key(channel: str, purpose: str) -> str:
    return f"{channel}:{purpose}"


@dataclass(frozen=True)
class ConsentRecord:
    state: str  # granted | revoked
    at: str
    text_id: str | None = None
    source: str | None = None

    def stored(self) -> dict[str, str]:
        return {k: v for k, v in (("state", self.state), ("at", self.at), ("text_id", self.text_id),
                                  ("source", self.source)) if v is not None}


@dataclass(frozen=True)
class Request:
    """One asked-for consent waiting for its double opt-in."""

    at: str
    text_id: str
    source: str | None = None

    def stored(self) -> dict[str, str]:
        return {"at": self.at, "text_id": self.text_id, **({"source": self.source} if self.source else {})}


@dataclass(frozen=True)
class Contact:
    contact_id: str
    status: str  # pending | active | erased
    version: int
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    push_endpoint: str | None = None
    timezone: str | None = None
    locale: str | None = None
    point_id: str | None = None
    external_id: str | None = None
    attributes: Mapping[str, object] = field(default_factory=dict)
    consents: Mapping[str, ConsentRecord] = field(default_factory=dict)
    requested: Mapping[str, Request] = field(default_factory=dict)
    pending_request: str | None = None
    confirmed_at: datetime | None = None
    segment: str | None = None
    b2b: bool = False
    orders_count: int = 0
    revenue: float = 0.0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    last_activity_at: datetime | None = None
    updated_at: datetime | None = None

    def address(self, channel: str) -> str | None:
        return {"email": self.email, "sms": self.phone, "push": self.push_endpoint}.get(channel)

    def identity_keys(self) -> list[str]:
        keys = [identity_key(c, a) for c, a in (("email", self.email), ("sms", self.phone)) if a]
        return keys + ([f"ext:{self.external_id}"] if self.external_id else [])


@dataclass(frozen=True)
class NewContact:
    contact_id: str
    created_at: datetime
    request_id: str
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    point_id: str | None
    attributes: Mapping[str, object]
    requested: Mapping[str, Request]
    segment: str  # stored from the start: the segment index is a campaign's audience
    b2b: bool = False


@dataclass(frozen=True)
class ImportedContact:
    """A contact from an existing base: active at once, its consents granted with the proof it came with."""

    contact_id: str
    created_at: datetime
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    point_id: str | None
    attributes: Mapping[str, object]
    consents: Mapping[str, ConsentRecord]
    confirmed_at: datetime
    events: tuple[ConsentEvent, ...]
    segment: str
    b2b: bool = False

    def identity_keys(self) -> list[str]:
        return [identity_key(c, a) for c, a in (("email", self.email), ("sms", self.phone)) if a]


@dataclass(frozen=True)
class ConsentState:
    """What the send path re-checks at send time."""

    confirmed: bool
    data_processing: bool
    consents: Mapping[tuple[str, str], bool]  # (channel, purpose) -> granted; absent: never given


def _plain(value: Any) -> dict[str, Any]:
    as_dict = getattr(value, "as_dict", None)
    return dict(as_dict() if as_dict else value or {})


def _contact(row: ContactModel) -> Contact:
    consents = {k: ConsentRecord(str(v.get("state")), str(v.get("at")), v.get("text_id"), v.get("source"))
                for k, v in _plain(row.consents).items() if isinstance(v, Mapping)}
    requested = {k: Request(str(v.get("at")), str(v.get("text_id")), v.get("source"))
                 for k, v in _plain(row.requested).items() if isinstance(v, Mapping)}
    return Contact(
        contact_id=row.contact_id, status=row.status, version=int(row.version or 0), created_at=row.created_at,
        email=row.email, phone=row.phone, push_endpoint=row.push_endpoint_arn, timezone=row.timezone,
        locale=row.locale, point_id=row.point_id, external_id=row.external_id, attributes=_plain(row.attributes),
        consents=consents, requested=requested, pending_request=row.pending_request,
        confirmed_at=row.confirmed_at, segment=row.segment, b2b=bool(row.b2b), orders_count=int(row.orders_count or 0),
        revenue=float(row.revenue or 0), first_order_at=row.first_order_at, last_order_at=row.last_order_at,
        last_activity_at=row.last_activity_at, updated_at=row.updated_at,
    )




def _failed(code: str | None) -> bool:
    return code == "ConditionalCheckFailed"


class ContactRepository:
    def __init__(self, shards: int) -> None:
        self._connection: Connection = CONNECTION
        self.shards = shards

    @property
    def connection(self) -> Connection:
        return self._connection

    def owners(self, keys: Sequence[str]) -> dict[str, str]:
        """identity -> contact id, for those of `keys` that exist (strongly consistent)."""
        return {row.identity: row.contact_id for row in IdentityModel.batch_get(list(keys), consistent_read=True)}

    def get(self, contact_id: str) -> Contact | None:
        row = read_contact(contact_id)
        return None if row is None else _contact(row)

    def by_point(self, point_id: str, limit: int) -> list[Contact]:
        """The point's contacts (the sparse point index), up to `limit`."""
        try:
            return [_contact(row) for row in ContactModel.point_index.query(point_id, limit=limit)]
        except RecursionError:  # one row holds a value too deep to parse: read them one by one, robustly
            ids = [row.contact_id for row in ContactModel.point_index.query(
                point_id, limit=limit, attributes_to_get=["contact_id"])]
            return [_contact(row) for row in map(read_contact, ids) if row is not None]

    def point_page(self, point_id: str, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        """One page of the point's contacts in contact id order, after the contact id `after`: one Query of
        the point index whatever the size of the point. Also the id to continue after (None: the last page)."""
        start = {"point_id": {"S": point_id}, "contact_id": {"S": after}} if after else None
        result = ContactModel.point_index.query(point_id, limit=limit, last_evaluated_key=start)
        page = [_contact(row) for row in result]
        more = result.last_evaluated_key
        return page, str(more["contact_id"]["S"]) if more and len(page) == limit else None

    def segment_page(self, segment: str, after: str | None, limit: int) -> tuple[list[Contact], str | None]:
        """One page of the segment's contacts in contact id order after `after` (the segment index), and the id
        to continue after (None: the last page). A campaign's fan-out reads its audience so."""
        start = {"segment": {"S": segment}, "contact_id": {"S": after}} if after else None
        result = ContactModel.segment_index.query(segment, limit=limit, last_evaluated_key=start)
        ids = [row.contact_id for row in result]
        more = result.last_evaluated_key
        # The index holds keys only; the page's contacts come in one batch (the index lags the table, so a
        # contact that moved on since is read as it is now, and the campaign's filter sees its segment).
        rows = {row.contact_id: row for row in ContactModel.batch_get(ids)} if ids else {}
        page = [_contact(rows[i]) for i in ids if i in rows]
        return page, str(more["contact_id"]["S"]) if more and len(ids) == limit else None

    def current_consents(self, contact_id: str) -> ConsentState | None:
        contact = self.get(contact_id)
        if contact is None or contact.status == "erased":
            return None
        consents, data_processing = consent_states({k: v.stored() for k, v in contact.consents.items()})
        return ConsentState(contact.status == "active", data_processing, consents)

    def create(self, new: NewContact, events: Iterable[ConsentEvent]) -> None:
        """Identities + contact + `requested` proof in one transaction; IdentityTaken if an identity exists."""
        row = ContactModel(
            new.contact_id, status="pending", email=new.email, phone=new.phone, timezone=new.timezone,
            locale=new.locale, point_id=new.point_id, attributes=dict(new.attributes), b2b=new.b2b,
            requested={k: r.stored() for k, r in new.requested.items()}, pending_request=new.request_id,
            consents={}, segment=new.segment, created_at=new.created_at, updated_at=new.created_at,
        )
        keys = [identity_key(c, a) for c, a in (("email", new.email), ("sms", new.phone)) if a]

        def build(t: TransactWrite) -> None:
            for k in keys:
                t.save(IdentityModel(k, contact_id=new.contact_id, created_at=new.created_at, doi_sent_at=[]),
                       condition=IdentityModel.identity.does_not_exist())
            t.save(row, condition=ContactModel.contact_id.does_not_exist())
            self._append(t, new.contact_id, events)

        def cancelled(reasons: list[str | None]) -> Exception | None:
            # puts in order: identities, contact, ledger
            return IdentityTaken() if any(_failed(code) for code in reasons[: len(keys)]) else None

        self._write(build, cancelled)

    def import_contacts(self, batch: Sequence[ImportedContact]) -> None:
        """Writes a batch of imported contacts: their `granted` proof first, in BatchWriteItem requests, then
        identities + contacts in one transaction (at most 100 items: an identity or two and the contact each).

        The proof needs no transaction: its entries are keyed by contact ids no row holds yet, and a contact is
        never written without its proof before it. A batch write costs half a transaction's write capacity.
        IdentityTaken when any identity exists: then no contact of the batch is written and its proof is
        deleted again. Only a crash between the two writes leaves proof behind, under an id nothing points to."""
        keys = [k for imported in batch for k in imported.identity_keys()]
        if not keys:
            return
        entries = [event_row(imported.contact_id, event) for imported in batch for event in imported.events]
        _batch_write(entries, delete=False)

        def build(t: TransactWrite) -> None:
            for imported in batch:
                for k in imported.identity_keys():
                    t.save(IdentityModel(k, contact_id=imported.contact_id, created_at=imported.created_at,
                                         doi_sent_at=[]), condition=IdentityModel.identity.does_not_exist())
                t.save(ContactModel(
                    imported.contact_id, status="active", email=imported.email, phone=imported.phone,
                    timezone=imported.timezone, locale=imported.locale, point_id=imported.point_id,
                    attributes=dict(imported.attributes), b2b=imported.b2b, requested={},
                    consents={k: r.stored() for k, r in imported.consents.items()},
                    confirmed_at=imported.confirmed_at, segment=imported.segment, created_at=imported.created_at,
                    updated_at=imported.created_at,
                ), condition=ContactModel.contact_id.does_not_exist())

        def cancelled(reasons: list[str | None]) -> Exception | None:
            return IdentityTaken() if any(_failed(code) for code in reasons) else None

        try:
            self._write(build, cancelled)
        except IdentityTaken:
            _batch_write(entries, delete=True)
            raise

    def add_request(
        self, contact_id: str, attach: Mapping[str, str], requested: Mapping[str, Request], request_id: str,
        events: Iterable[ConsentEvent], now: datetime,
    ) -> None:
        """Records a new sign-up on an existing contact without reading it first (the same work whatever the
        contact's state): requested consents, an open DOI request if none is open, and `attach`ed addresses
        (channel -> address) when the contact has none on that channel. A consent already given is untouched.

        ContactChanged: the contact is erased, or holds another address on an `attach`ed channel.
        IdentityTaken: an attached address was claimed meanwhile."""
        row = ContactModel(contact_id, version=0)  # version 0 + no version condition: ADD 1, never a reset
        actions: list[Any] = [ContactModel.requested[k].set(r.stored()) for k, r in requested.items()]
        actions += [ContactModel.pending_request.set(ContactModel.pending_request | request_id),
                    ContactModel.updated_at.set(now)]
        condition = ContactModel.contact_id.exists() & (ContactModel.status != "erased")
        for channel, address in attach.items():
            attribute = getattr(ContactModel, CHANNEL_IDENTITY[channel])
            actions.append(attribute.set(address))
            condition &= attribute.does_not_exist() | (attribute == address)
        keys = [identity_key(c, a) for c, a in attach.items()]

        def cancelled(reasons: list[str | None]) -> Exception | None:
            # puts: identities, ledger; update: the contact (last)
            if _failed(reasons[-1]):
                return ContactChanged(contact_id)
            if any(_failed(code) for code in reasons[: len(keys)]):
                return IdentityTaken(contact_id)
            return None

        def build(t: TransactWrite) -> None:
            t.update(row, actions=actions, condition=condition, add_version_condition=False)
            for k in keys:
                t.save(IdentityModel(k, contact_id=contact_id, created_at=now, doi_sent_at=[]),
                       condition=IdentityModel.identity.does_not_exist())
            self._append(t, contact_id, events)

        self._write(build, cancelled)

    def confirm(
        self, contact: Contact, request_id: str, grants: Mapping[str, ConsentRecord],
        events: Iterable[ConsentEvent], enrolments: Sequence[Enrollment], now: datetime,
    ) -> bool:
        """Consumes the open DOI request: consents on, proof written, chains entered, all at once.

        False when the request is no longer open (confirmed before: the link is single use). An enrolment
        that exists already is left as it is (never a second entry)."""
        events = list(events)
        pending = list(enrolments)
        while True:
            row = ContactModel(contact.contact_id, version=contact.version)
            actions: list[Any] = [ContactModel.consents[k].set(r.stored()) for k, r in grants.items()]
            actions += [ContactModel.requested[k].remove() for k in contact.requested]
            actions += [ContactModel.status.set("active"), ContactModel.pending_request.remove(),
                        ContactModel.confirmed_at.set(ContactModel.confirmed_at | now),
                        ContactModel.updated_at.set(now)]
            addresses = address_keys(contact.email, contact.phone)
            rows = [enrollment_row(state, self.shards, now, addresses=addresses) for state in pending]

            def build(t: TransactWrite, row: ContactModel = row, actions: list[Any] = actions,
                      rows: list[EnrollmentModel] = rows) -> None:
                t.update(row, actions=actions, condition=ContactModel.pending_request == request_id,
                         add_version_condition=False)
                self._append(t, contact.contact_id, events)
                for enrolment in rows:
                    t.save(enrolment, condition=EnrollmentModel.chain_id.does_not_exist())

            try:
                self._write(build, lambda reasons: _confirm_cancel(reasons, len(events)))
            except _EnrolledAlready as exc:
                pending = [s for i, s in enumerate(pending) if i not in exc.indexes]
                continue
            except ContactChanged:
                return False
            return True

    def change_consents(
        self, contact: Contact, changes: Mapping[str, ConsentRecord], drop_requests: Iterable[str],
        events: Iterable[ConsentEvent], now: datetime,
    ) -> None:
        """Applies consent changes with their ledger entries, if the contact is still at the version read."""
        row = ContactModel(contact.contact_id, version=contact.version)
        actions: list[Any] = [ContactModel.consents[k].set(r.stored()) for k, r in changes.items()]
        actions += [ContactModel.requested[k].remove() for k in drop_requests]
        actions.append(ContactModel.updated_at.set(now))
        def build(t: TransactWrite) -> None:
            t.update(row, actions=actions, condition=ContactModel.status != "erased")
            self._append(t, contact.contact_id, events)

        self._write(build, _contact_cancel(contact.contact_id))

    def erase(self, contact: Contact, revoked: Mapping[str, ConsentRecord], events: Iterable[ConsentEvent],
              now: datetime) -> None:
        """Personal data gone (addresses, profile, order facts), identities deleted; the row stays as a tombstone
        with the revocations."""
        row = ContactModel(contact.contact_id, version=contact.version)
        actions: list[Any] = [ContactModel.consents[k].set(r.stored()) for k, r in revoked.items()]
        actions += [getattr(ContactModel, name).remove() for name in (
            "email", "phone", "timezone", "locale", "external_id", "push_endpoint_arn", "pending_request", "segment",
            "first_order_at", "last_order_at", "last_activity_at")]
        actions += [ContactModel.attributes.set({}), ContactModel.requested.set({}), ContactModel.b2b.set(False),
                    ContactModel.orders_count.set(0), ContactModel.revenue.set(0),
                    ContactModel.status.set("erased"), ContactModel.updated_at.set(now)]
        def build(t: TransactWrite) -> None:
            t.update(row, actions=actions)
            for k in contact.identity_keys():
                t.delete(IdentityModel(k))
            self._append(t, contact.contact_id, events)

        self._write(build, _contact_cancel(contact.contact_id))

    def doi_sends(self, key: str) -> list[float] | None:
        """Epoch seconds of the DOI messages sent to this identity; None if the identity is gone."""
        try:
            return [float(x) for x in IdentityModel.get(key, consistent_read=True).doi_sent_at or []]
        except DoesNotExist:
            return None

    def replace_doi_sends(self, key: str, expected: Sequence[float], updated: Sequence[float]) -> bool:
        """Sets the identity's DOI send times if they are still `expected`: the per-address DOI cap holds
        under concurrent workers because only one of them wins each slot."""
        from pynamodb.exceptions import UpdateError

        try:
            IdentityModel(key).update(
                actions=[IdentityModel.doi_sent_at.set(list(updated))],
                condition=IdentityModel.identity.exists() & (IdentityModel.doi_sent_at == list(expected)),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _append(self, t: TransactWrite, contact_id: str, events: Iterable[ConsentEvent]) -> None:
        for event in events:
            t.save(event_row(contact_id, event), condition=append_only())

    def _write(self, build: Callable[[TransactWrite], None], on_cancel: Cancelled, attempts: int = 5) -> None:
        """Runs one transaction; a cancellation is mapped by `on_cancel`, or retried when the store was busy
        (a conflict, throttling, a timeout). Retries carry the same client request token, so a transaction
        that did commit before its answer timed out is not applied twice. Contention when it stays busy.

        Reasons come in request order, which pynamodb fixes as: deletes, then puts, then updates."""
        token = uuid.uuid4().hex
        for attempt in range(attempts):
            try:
                with TransactWrite(connection=self._connection, client_request_token=token) as transaction:
                    build(transaction)
                return
            except TransactWriteError as exc:
                reasons = cancellation_codes(exc)
                mapped = on_cancel(reasons) if reasons else None
                if mapped is not None:
                    raise mapped from exc
                if not is_busy(exc):
                    raise
                time.sleep(_CONFLICT_PAUSE * (attempt + 1))
        raise Contention("the contacts table stayed busy")


def _batch_write(rows: Sequence[ConsentEventModel], delete: bool) -> None:
    """Puts or deletes ledger rows, 25 a request; pynamodb resends what DynamoDB leaves unprocessed, and
    Contention when some stay unprocessed (throttled) or the store is busy."""
    writer = ConsentEventModel.batch_write()
    try:
        with writer:
            for row in rows:
                (writer.delete if delete else writer.save)(row)
    except PutError as exc:
        if writer.failed_operations or is_busy(exc):
            raise Contention("the consent ledger stayed busy") from exc
        raise


def _contact_cancel(contact_id: str) -> Cancelled:
    """For writes of one contact update plus puts: the update is the last item of the request."""
    return lambda reasons: ContactChanged(contact_id) if _failed(reasons[-1]) else None


class _EnrolledAlready(Exception):
    def __init__(self, indexes: set[int]) -> None:
        super().__init__("enrolled already")
        self.indexes = indexes


def _confirm_cancel(reasons: list[str | None], events: int) -> Exception | None:
    # puts: ledger entries, then enrolments; update: the contact (last)
    if _failed(reasons[-1]):
        return ContactChanged("request consumed")
    enrolled = {i - events for i, code in enumerate(reasons[:-1]) if i >= events and _failed(code)}
    return _EnrolledAlready(enrolled) if enrolled else None
