"""Enrolments: a contact's place in a chain, and the sparse due index the tick reads.

Only waiting enrolments carry `due_shard` and `due_at`, so the tick's query touches due work only. Every
write is conditional on the revision that was read (optimistic locking); the step worker additionally
holds a claim that the tick set, so one due step is worked on by one message.

A claim is a lease: claiming moves `due_at` LEASE seconds ahead instead of removing it, so a step whose
worker died (or whose message was dead-lettered) falls due again and the next tick claims it afresh.

The step worker reads its enrolment and the contact in one BatchGetItem (`load_step`) and writes the step's
touch and the advanced enrolment in one TransactWriteItems (`advance`). A write to a row read before sets
only the attributes that changed: a write unit is paid per KB of the whole item, but the due index is
upkept only when what it projects changes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.chains import Enrollment
from chalicelib.store.campaigns import CampaignRepository, campaign_of_item
from chalicelib.store.errors import cancellation_codes
from chalicelib.store.models import CONNECTION, CampaignModel, ContactModel, EnrollmentModel, SuppressionModel
from chalicelib.store.snapshots import (
    MAX_KEY_BYTES,
    ContactSnapshot,
    address_keys,
    load_snapshot,
    readable,
    snapshot_of,
)
from chalicelib.store.suppressions import SuppressionRepository
from chalicelib.store.touches import TouchWrite

FLAGS = ("opened", "clicked", "ordered", "survey_answered", "visited")
LEASE = 1800  # seconds: longer than all retries of one step message (60 + 120 + 240 + 480 s of delays)
# What a step can change on an enrolment row; the revision and updated_at move on every write.
_STEP_ATTRIBUTES = ("step", "status", "reactions", "entered_at", "step_started_at", "due_shard", "due_at", "claim",
                    "exit_reason", "ended_at", "context", "addresses")
_BATCH_ATTEMPTS = 5


class EnrollmentConflict(Exception):
    """Someone else wrote the enrolment since it was read: read again and redo the work."""


class ContactMoved(Exception):
    """The contact changed (another send was reserved, a consent changed) after the step read it: nothing was
    written; decide again on the contact as it is now."""


@dataclass(frozen=True)
class DueItem:
    contact_id: str
    chain_id: str
    step: int
    due_at: int
    addresses: tuple[str, ...] = ()  # the contact's suppression keys when the enrolment was last written


@dataclass(frozen=True)
class Stored:
    state: Enrollment
    revision: int
    claim: str | None
    context: dict[str, object] | None = None
    addresses: tuple[str, ...] = ()


def shard_of(contact_id: str, shards: int) -> int:
    # A stable spread of contacts over shards; hash() is salted per process, so use a checksum.
    return sum(contact_id.encode()) % shards


def _state(row: EnrollmentModel) -> Enrollment:
    reactions = row.reactions.as_dict() if hasattr(row.reactions, "as_dict") else dict(row.reactions or {})
    return Enrollment(
        contact_id=row.contact_id, chain_id=row.chain_id, step=int(row.step), status=row.status,  # type: ignore[arg-type]
        entered_at=row.entered_at, step_started_at=row.step_started_at or row.entered_at,
        due_at=None if row.due_at is None else datetime.fromtimestamp(int(row.due_at), UTC),
        exit_reason=row.exit_reason, ended_at=row.ended_at,
        **{flag: bool(reactions.get(flag)) for flag in FLAGS},
    )


def enrollment_row(
    state: Enrollment, shards: int, now: datetime, *, revision: int = 1, claim: str | None = None,
    context: dict[str, object] | None = None, addresses: Sequence[str] = (),
) -> EnrollmentModel:
    """The row for `state`: on the due index only while running with a due instant."""
    due = state.due_at if state.status == "running" else None
    return EnrollmentModel(
        state.contact_id, state.chain_id, step=state.step, status=state.status,
        reactions={flag: getattr(state, flag) for flag in FLAGS}, entered_at=state.entered_at,
        step_started_at=state.step_started_at, exit_reason=state.exit_reason, ended_at=state.ended_at,
        due_shard=None if due is None else shard_of(state.contact_id, shards),
        due_at=None if due is None else int(due.timestamp()), revision=revision, updated_at=now,
        claim=claim, context=context, addresses=list(addresses) or None,
    )


@dataclass(frozen=True)
class StepRead:
    """What the step worker reads first: its enrolment, the contact's other enrolments it asked for (those
    that exist), and the contact's snapshot (None: no such row)."""

    stored: Stored | None
    snapshot: ContactSnapshot | None
    others: dict[str, Stored] = field(default_factory=dict)
    campaign: Campaign | None = None  # the campaign of a campaign step, read in the same batch


def _changes(new: EnrollmentModel, old: EnrollmentModel) -> list[Action]:
    """The update that turns `old` into `new`: only the attributes whose values differ."""
    actions: list[Action] = [EnrollmentModel.revision.set(new.revision), EnrollmentModel.updated_at.set(new.updated_at)]
    for name in _STEP_ATTRIBUTES:
        attribute = getattr(EnrollmentModel, name)
        value, before = getattr(new, name), getattr(old, name)
        if _serialized(attribute, value) != _serialized(attribute, before):
            actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _serialized(attribute: object, value: object) -> object:
    if value is None:
        return None
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    return attribute.serialize(value)  # type: ignore[attr-defined]


def _table_name(
    model: type[EnrollmentModel] | type[ContactModel] | type[SuppressionModel] | type[CampaignModel],
) -> str:
    return str(model.Meta.table_name)  # type: ignore[attr-defined]


def _stored(row: EnrollmentModel) -> Stored:
    context = row.context.as_dict() if row.context is not None else None
    return Stored(_state(row), int(row.revision or 0), row.claim, context, tuple(row.addresses or ()))


class EnrollmentRepository:
    def __init__(self, shards: int) -> None:
        self.shards = shards

    def due(self, shard: int, now_epoch: int, limit: int) -> Iterator[DueItem]:
        for row in EnrollmentModel.due_index.query(
            shard, EnrollmentModel.due_at <= now_epoch, limit=limit, page_size=min(limit, 100)
        ):
            yield DueItem(row.contact_id, row.chain_id, int(row.step), int(row.due_at), tuple(row.addresses or ()))

    def claim(self, item: DueItem, now_epoch: int) -> str | None:
        """Leases the item if it is still due at the same instant; None if another tick took it first."""
        claim = secrets.token_hex(8)
        try:
            EnrollmentModel(item.contact_id, item.chain_id).update(
                actions=[
                    EnrollmentModel.due_at.set(now_epoch + LEASE),
                    EnrollmentModel.claim.set(claim),
                    EnrollmentModel.revision.add(1),
                ],
                condition=(EnrollmentModel.due_at == item.due_at) & (EnrollmentModel.step == item.step),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return claim

    def get(self, contact_id: str, chain_id: str) -> Stored | None:
        try:
            row = EnrollmentModel.get(contact_id, chain_id, consistent_read=True)
        except EnrollmentModel.DoesNotExist:
            return None
        return _stored(row)

    def load_step(
        self, contact_id: str, chain_id: str, others: Sequence[str] = (), addresses: Sequence[str] = (),
        campaign: str | None = None,
    ) -> StepRead:
        """The enrolment, the contact's enrolments in the `others` chains (arbitration weighs them), the contact,
        the suppressions of `addresses` (its keys as last known) and the `campaign` row, strongly consistent, in
        one BatchGetItem. Only keys of the contact's current addresses missing from `addresses` are looked up
        after."""
        if not contact_id or len(contact_id.encode()) > MAX_KEY_BYTES:
            return StepRead(self.get(contact_id, chain_id) if contact_id else None, None)
        enrolments, contacts = _table_name(EnrollmentModel), _table_name(ContactModel)
        chains = [chain_id, *sorted(set(others) - {chain_id})]
        wanted: dict[str, Any] = {
            enrolments: {"Keys": [{"contact_id": {"S": contact_id}, "chain_id": {"S": c}} for c in chains],
                         "ConsistentRead": True},
            contacts: {"Keys": [{"contact_id": {"S": contact_id}}], "ConsistentRead": True},
        }
        suppressions = _table_name(SuppressionModel)
        if addresses:
            wanted[suppressions] = {"Keys": [{"address": {"S": key}} for key in sorted(set(addresses))],
                                    "ConsistentRead": True}
        campaigns = _table_name(CampaignModel)
        if campaign:
            wanted[campaigns] = {"Keys": [{"campaign_id": {"S": campaign}}], "ConsistentRead": True}
        found: dict[str, list[dict[str, Any]]] = {enrolments: [], contacts: [], suppressions: [], campaigns: []}
        try:
            for _ in range(_BATCH_ATTEMPTS):
                answer = CONNECTION.client.batch_get_item(RequestItems=wanted)
                for table, items in answer.get("Responses", {}).items():
                    found[table].extend(items)
                wanted = answer.get("UnprocessedKeys") or {}
                if not wanted:
                    break
            else:
                raise RuntimeError(f"{contact_id}/{chain_id}: DynamoDB left keys unprocessed {_BATCH_ATTEMPTS} times")
        except RecursionError:  # a contact value nested deeper than DynamoDB allows: read it the careful way
            every = self.for_contact(contact_id)
            return StepRead(every.get(chain_id), load_snapshot(contact_id),
                            {c: every[c] for c in chains[1:] if c in every},
                            CampaignRepository().get(campaign) if campaign else None)
        read = {row.chain_id: _stored(row) for row in map(EnrollmentModel.from_raw_data, found[enrolments])}
        stored = read.pop(chain_id, None)
        held = campaign_of_item(found[campaigns][0]) if found[campaigns] else None
        if not found[contacts]:
            return StepRead(stored, None, read, held)
        contact = readable(ContactModel.from_raw_data(found[contacts][0]))
        reasons = {row.address: row.reason for row in map(SuppressionModel.from_raw_data, found[suppressions])}
        missing = sorted(set(address_keys(contact.email, contact.phone)) - set(addresses))
        if missing:
            reasons.update(SuppressionRepository().reasons(missing))
        return StepRead(stored, snapshot_of(contact, reasons), read, held)

    def advance(
        self, state: Enrollment, expected: Stored, now: datetime, *, claim: str, touch: TouchWrite | None = None,
        addresses: Sequence[str] | None = None, contact_version: int | None = None,
    ) -> bool:
        """The step worker's write: `state` in place of `expected`, releasing `claim`, and with `touch` in the same
        TransactWriteItems, so the touch is reserved (or the decision recorded) exactly when the enrolment moves.

        With `contact_version` (a send) the transaction also moves the contact from that version to the next:
        caps count all of a contact's touches, so of the workers deciding on one contact at once only one may
        reserve on what they all read. ContactMoved when the contact is no longer at that version.

        Raises EnrollmentConflict when the row no longer holds `expected`'s revision and `claim` (nothing is
        written). False when the touch refused (reserved or sent before, or its history is full): nothing is
        written either, and the caller decides what to do with the touch apart. `addresses` replaces the
        contact's suppression keys kept on the row (None keeps them)."""
        row = enrollment_row(state, self.shards, now, revision=expected.revision + 1, context=expected.context,
                             addresses=expected.addresses if addresses is None else addresses)
        actions = _changes(row, self._row(expected, now))
        condition = (EnrollmentModel.revision == expected.revision) & (EnrollmentModel.claim == claim)
        if touch is None:
            self._update(state, actions, condition)
            return True
        try:
            with TransactWrite(connection=CONNECTION) as transaction:
                touch.add_to(transaction)
                transaction.update(EnrollmentModel(state.contact_id, state.chain_id), actions=actions,
                                   condition=condition)
                if contact_version is not None:  # the model's version condition and increment do the work
                    transaction.update(ContactModel(state.contact_id, version=contact_version),
                                       actions=[ContactModel.updated_at.set(now)],
                                       condition=ContactModel.contact_id.exists())
        except TransactWriteError as exc:
            # In request order: the touch's update, the enrolment's, then the contact's.
            codes = cancellation_codes(exc)
            if len(codes) >= 2 and codes[1] == "ConditionalCheckFailed":
                raise EnrollmentConflict(f"{state.contact_id}/{state.chain_id} changed meanwhile") from exc
            if len(codes) == 3 and codes[2] == "ConditionalCheckFailed":
                raise ContactMoved(state.contact_id) from exc
            if len(codes) >= 2 and codes[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def restore(self, expected: Stored, advanced: Enrollment, now: datetime) -> None:
        """Undoes an `advance` from `expected` to `advanced` whose send did not go out (throttled): the row is as
        `expected` again, claim included, so the retried step message works the step afresh."""
        written = Stored(advanced, expected.revision + 1, None, expected.context, expected.addresses)
        row = enrollment_row(expected.state, self.shards, now, revision=expected.revision + 2, claim=expected.claim,
                             context=expected.context, addresses=expected.addresses)
        self._update(expected.state, _changes(row, self._row(written, now)),
                     EnrollmentModel.revision == written.revision)

    def _row(self, stored: Stored, now: datetime) -> EnrollmentModel:
        return enrollment_row(stored.state, self.shards, now, revision=stored.revision, claim=stored.claim,
                              context=stored.context, addresses=stored.addresses)

    def _update(self, state: Enrollment, actions: list[Action], condition: Condition) -> None:
        try:
            EnrollmentModel(state.contact_id, state.chain_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise EnrollmentConflict(f"{state.contact_id}/{state.chain_id} changed meanwhile") from exc
            raise

    def for_contact(self, contact_id: str) -> dict[str, Stored]:
        return {row.chain_id: _stored(row) for row in EnrollmentModel.query(contact_id, consistent_read=True)}

    def save(
        self, state: Enrollment, expected: Stored | None, now: datetime, *, claim: str | None = None,
        keep_claim: bool = False, context: dict[str, object] | None = None, addresses: Sequence[str] | None = None,
    ) -> None:
        """Writes `state` if the row is still as `expected` (None: must not exist).

        Raises EnrollmentConflict otherwise. With `claim` (the step worker), the row must still hold that
        claim, which the write releases; with `keep_claim` (event paths), a step in flight keeps its claim.
        `context` replaces the chain's template context (a new entry), `addresses` the contact's suppression
        keys; otherwise the stored ones are kept.
        """
        row = enrollment_row(
            state, self.shards, now, revision=(expected.revision + 1) if expected else 1,
            claim=expected.claim if keep_claim and expected else None,
            context=context if context is not None else (expected.context if expected else None),
            addresses=addresses if addresses is not None else (expected.addresses if expected else ()),
        )
        if expected is None:
            condition = EnrollmentModel.chain_id.does_not_exist()
        else:
            condition = EnrollmentModel.revision == expected.revision
            if claim is not None:
                condition &= EnrollmentModel.claim == claim
        try:
            row.save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise EnrollmentConflict(f"{state.contact_id}/{state.chain_id} changed meanwhile") from exc
            raise
