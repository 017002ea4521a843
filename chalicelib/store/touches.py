"""Touches: every contact with a customer, and the reservation that makes a send happen at most once.

A send reserves its touch row (keyed by the send's idempotency key) with a conditional write *before* the
provider call and marks it sent after. A retry finds the reservation and never calls the provider again;
only a row whose last attempt provably did not reach the provider (`held`: throttled or circuit open) may be
reserved again.

Every write appends its decision or status change to the touch's `history` in the same UpdateItem
(`list_append`), so "deferred for quiet hours, then sent" keeps both. The history is capped at
`HISTORY_LIMIT` entries: only a write to a full history reads the row and drops its oldest entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from pynamodb.constants import ALL_OLD, UPDATED_OLD
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.domain.rules import COUNTED
from chalicelib.store.errors import cancellation_codes
from chalicelib.store.models import CONNECTION, ContactModel, TouchHistoryEntry, TouchModel

RESERVABLE_AGAIN = ("deferred", "held")
HISTORY_LIMIT = 50
_TRIM_ATTEMPTS = 3
ERROR_LENGTH = 500
# Later feedback must never move a touch backwards (an open arriving after a click stays clicked).
STATUS_RANK = {
    "reserved": 1, "held": 1, "sent": 2, "delivered": 3, "opened": 4, "clicked": 5,
    "bounced": 6, "complained": 7,
}


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    decision: str  # send | defer | skip | exit | hook; a send's outcomes (sent, failed, opened...) carry "send"
    status: str
    reason: str | None = None
    rule: str | None = None
    until: datetime | None = None
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class TouchRecord:
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
    until: datetime | None = None  # a deferred touch: when it is decided again
    provider_message_id: str | None = None
    actor: str | None = None
    comment: str | None = None
    updated_at: datetime | None = None
    error_code: str | None = None
    error: str | None = None
    history: tuple[HistoryEntry, ...] = ()


@dataclass(frozen=True)
class SentTouch:
    """What the provider-message index holds of a sent touch: where it is, and the step its outcomes count for.
    Nothing that changes after the send is projected, so feedback writes no index entry."""

    contact_id: str
    touch_key: str
    touch_id: str
    chain_id: str | None = None
    step: int | None = None
    variant: str | None = None

    @staticmethod
    def of(touch: TouchRecord) -> SentTouch:
        return SentTouch(touch.contact_id, touch.touch_key, touch.touch_id, touch.chain_id, touch.step, touch.variant)


@dataclass(frozen=True)
class CountedTouch:
    """A touch as the cap windows see it: what the counted index holds. `status` is the one it began to count
    with (reserved, or a manager's done); its later progress (sent, opened...) counts the same."""

    touch_key: str
    counted_at: datetime  # its created_at when it began to count: a send counts from its reservation
    channel: str
    category: str
    occasion_id: str
    status: str


def _entry(row: TouchHistoryEntry) -> HistoryEntry:
    return HistoryEntry(
        at=row.at, decision=row.decision, status=row.status, reason=row.reason, rule=row.rule, until=row.until,
        error_code=row.error_code, error=row.error,
    )


def _record(row: TouchModel) -> TouchRecord:
    history = tuple(_entry(e) for e in row.history or ())
    return TouchRecord(
        contact_id=row.contact_id, touch_key=row.touch_key, touch_id=row.touch_id, channel=row.channel,
        occasion_id=row.occasion_id, category=row.category, status=row.status, created_at=row.created_at,
        chain_id=row.chain_id, step=None if row.step is None else int(row.step), variant=row.variant,
        decision=row.decision, reason=row.reason, rule=row.rule,
        until=history[-1].until if history and row.status == "deferred" else None,
        provider_message_id=row.provider_message_id, actor=row.actor, comment=row.comment,
        updated_at=row.updated_at, error_code=row.error_code, error=row.error, history=history,
    )


class _Update(NamedTuple):
    written: bool
    before: str  # written: the status it replaced ("" when the row had none)
    current: TouchModel | None  # refused: the row as it is (None when there is none)


def _update_old(contact_id: str, touch_key: str, actions: Sequence[Action], condition: Condition) -> _Update:
    """One UpdateItem. A refused one returns the row with its refusal (ReturnValuesOnConditionCheckFailure), so
    telling a full history from a failed condition costs no read: repeated feedback (a mail opened again) is
    refused every time."""
    table = str(TouchModel.Meta.table_name)  # type: ignore[attr-defined]
    request = CONNECTION.get_operation_kwargs(
        table, contact_id, touch_key, actions=list(actions), condition=condition, return_values=UPDATED_OLD,
        return_values_on_condition_failure=ALL_OLD,
    )
    try:
        answer = CONNECTION.client.update_item(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        row = exc.response.get("Item")
        return _Update(False, "", TouchModel.from_raw_data(row) if row else None)
    return _Update(True, str(answer.get("Attributes", {}).get("status", {}).get("S", "")), None)


def _reservable() -> Condition:
    return TouchModel.touch_key.does_not_exist() | TouchModel.status.is_in(*RESERVABLE_AGAIN)


def _both(first: Condition | None, second: Condition) -> Condition:
    return second if first is None else first & second


def _reservation(touch: TouchRecord, status: str, decision: str) -> tuple[list[Action], TouchHistoryEntry]:
    """The attributes a reservation or a recorded decision sets, and the history entry it appends."""
    # A re-reservation starts the attempt afresh (new touch id, no error), as a new row would; the history of the
    # earlier attempts stays. An attribute without a value is removed, never stored as null.
    values: list[tuple[Any, object]] = [
        (TouchModel.touch_id, touch.touch_id), (TouchModel.channel, touch.channel),
        (TouchModel.occasion_id, touch.occasion_id), (TouchModel.category, touch.category),
        (TouchModel.chain_id, touch.chain_id), (TouchModel.step, touch.step), (TouchModel.variant, touch.variant),
        (TouchModel.status, status), (TouchModel.decision, decision), (TouchModel.reason, touch.reason),
        (TouchModel.rule, touch.rule), (TouchModel.created_at, touch.created_at),
        (TouchModel.updated_at, touch.created_at), (TouchModel.actor, touch.actor),
        (TouchModel.comment, touch.comment),
    ]
    actions: list[Action] = [attribute.remove() if value is None else attribute.set(value)
                             for attribute, value in values]
    actions += [TouchModel.error_code.remove(), TouchModel.error.remove()]
    if status in COUNTED:
        actions += [TouchModel.counted_at.set(touch.created_at), TouchModel.counted_as.set(status)]
    else:
        actions += [TouchModel.counted_at.remove(), TouchModel.counted_as.remove()]
    entry = TouchHistoryEntry(
        at=touch.created_at, decision=decision, status=status, reason=touch.reason, rule=touch.rule,
        until=touch.until,
    )
    return actions, entry


@dataclass(frozen=True)
class TouchWrite:
    """A touch written with an enrolment in one transaction: a reservation (status "reserved", decision "send")
    or a decision that sends nothing."""

    touch: TouchRecord
    status: str
    decision: str

    @staticmethod
    def reserving(touch: TouchRecord) -> TouchWrite:
        return TouchWrite(touch, "reserved", "send")

    @staticmethod
    def deciding(touch: TouchRecord) -> TouchWrite:
        return TouchWrite(touch, touch.status, touch.decision or touch.status)

    def add_to(self, transaction: TransactWrite) -> None:
        """The write, conditional as TouchRepository's: never over a touch reserved or sent before, and only
        while the history has room (a full one is trimmed outside a transaction, TouchRepository._append)."""
        actions, entry = _reservation(self.touch, self.status, self.decision)
        transaction.update(
            TouchModel(self.touch.contact_id, self.touch.touch_key),
            actions=[*actions, TouchModel.history.set((TouchModel.history | []).append([entry]))],
            condition=_reservable() & _room(),
        )


def _room() -> Condition:
    return TouchModel.history.does_not_exist() | (size(TouchModel.history) < HISTORY_LIMIT)


class TouchRepository:
    def reserve(self, touch: TouchRecord) -> bool:
        """True when this call holds the send; False when the touch was reserved or sent before."""
        return self._write(touch, "reserved", "send")

    def record_decision(self, touch: TouchRecord) -> None:
        """Stores a touch that was not sent (deferred or skipped) with its reason; never over a sent one."""
        self._write(touch, touch.status, touch.decision or touch.status)

    def mark_by_hand(self, touch: TouchRecord, replaceable: Sequence[str],
                     contact_version: int | None = None) -> TouchRecord | None:
        """Writes a manager's mark (or the reservation of a send they asked for) unless the row holds one whose
        status is not in `replaceable`: None when written, else the standing mark.

        With `contact_version` (a mark or send that counts toward a cap) the contact moves from that version to
        the next in the same transaction, the lock the step worker's sends take (EnrollmentRepository.advance):
        of the sends and marks decided on one contact at once, one is written on what they read. ContactMoved
        when the contact is no longer at that version (nothing written): decide again."""
        condition = TouchModel.touch_key.does_not_exist()
        if replaceable:
            condition = condition | TouchModel.status.is_in(*replaceable)
        if contact_version is not None:
            return self._mark_locked(touch, replaceable, condition, contact_version)
        if self._write(touch, touch.status, touch.decision or touch.status, condition):
            return None
        return self.get(touch.contact_id, touch.touch_key)

    def _mark_locked(self, touch: TouchRecord, replaceable: Sequence[str], condition: Condition,
                     contact_version: int) -> TouchRecord | None:
        from chalicelib.store.enrollments import ContactMoved  # enrollments builds on this module

        actions, entry = _reservation(touch, touch.status, touch.decision or touch.status)
        try:
            with TransactWrite(connection=CONNECTION) as transaction:
                transaction.update(
                    TouchModel(touch.contact_id, touch.touch_key),
                    actions=[*actions, TouchModel.history.set((TouchModel.history | []).append([entry]))],
                    condition=condition & _room(),
                )
                # The model's version condition and increment do the locking.
                transaction.update(ContactModel(touch.contact_id, version=contact_version),
                                   actions=[ContactModel.updated_at.set(touch.created_at)],
                                   condition=ContactModel.contact_id.exists())
        except TransactWriteError as exc:
            codes = cancellation_codes(exc)  # in request order: the touch, then the contact
            if codes[1:] == ["ConditionalCheckFailed"]:
                raise ContactMoved(touch.contact_id) from exc
            if codes[:1] != ["ConditionalCheckFailed"]:
                raise
            # A standing mark, or a history too full for a transaction: the plain write tells which (and trims
            # a full one, unlocked: a mark's row fills its history only after dozens of replaced marks).
            return self.mark_by_hand(touch, replaceable)
        return None

    def marks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], TouchRecord]:
        """The touches at these (contact id, touch key) pairs that exist: BatchGetItem, 100 keys a request."""
        rows = TouchModel.batch_get(list(dict.fromkeys(keys)))
        return {(row.contact_id, row.touch_key): _record(row) for row in rows}

    def _write(self, touch: TouchRecord, status: str, decision: str, condition: Condition | None = None) -> bool:
        actions, entry = _reservation(touch, status, decision)
        return self._append(touch.contact_id, touch.touch_key, actions, entry,
                            _reservable() if condition is None else condition)

    def mark(
        self, contact_id: str, touch_key: str, status: str, now: datetime, *,
        provider_message_id: str | None = None, cost: float | None = None, error_code: str | None = None,
        error: str | None = None,
    ) -> bool:
        """The outcome of a reserved send: sent, held or failed (with the error's code and message). True when
        this write moved the touch from reserved: what a send is counted on, so a repeated mark counts nothing."""
        actions = [TouchModel.status.set(status), TouchModel.updated_at.set(now)]
        if provider_message_id is not None:
            actions.append(TouchModel.provider_message_id.set(provider_message_id))
        if cost is not None:
            actions.append(TouchModel.cost.set(cost))
        message = None if error is None else error[:ERROR_LENGTH]
        if error_code is not None:
            actions += [TouchModel.error_code.set(error_code), TouchModel.error.set(message)]
        if status not in COUNTED:  # held or failed: no longer counts (sent keeps what its reservation set)
            actions += [TouchModel.counted_at.remove(), TouchModel.counted_as.remove()]
        entry = TouchHistoryEntry(at=now, decision="send", status=status, error_code=error_code, error=message)
        return self._apply(contact_id, touch_key, actions, entry, None) == "reserved"

    def _append(
        self, contact_id: str, touch_key: str, actions: Sequence[Action], entry: TouchHistoryEntry,
        condition: Condition | None,
    ) -> bool:
        """Applies `actions` and appends `entry` to the history in one UpdateItem; False when `condition`
        does not hold. Only a full history costs a read and a second write (its oldest entries dropped)."""
        return self._apply(contact_id, touch_key, actions, entry, condition) is not None

    def _apply(
        self, contact_id: str, touch_key: str, actions: Sequence[Action], entry: TouchHistoryEntry,
        condition: Condition | None,
    ) -> str | None:
        """As `_append`; when written, the status the row held before ("" when none), else None."""
        appended = TouchModel.history.set((TouchModel.history | []).append([entry]))
        update = _update_old(contact_id, touch_key, [*actions, appended], _both(condition, _room()))
        trims = 0
        while not update.written:
            held = list(update.current.history or []) if update.current is not None else []
            if update.current is None or len(held) < HISTORY_LIMIT:
                return None  # no row, or the history had room: `condition` is what failed
            if trims == _TRIM_ATTEMPTS:
                raise RuntimeError(f"touch {touch_key!r}: its history kept changing while it was trimmed")
            trims += 1
            trimmed = TouchModel.history.set([*held[len(held) - HISTORY_LIMIT + 1:], entry])
            # The size condition also holds the status as read: every status change appends to the history.
            update = _update_old(contact_id, touch_key, [*actions, trimmed],
                                 _both(condition, size(TouchModel.history) == len(held)))
        return update.before

    def advance_status(self, contact_id: str, touch_key: str, status: str, now: datetime) -> str | None:
        """Moves a sent touch forward (delivered, opened, clicked, bounced...); never backwards. The status it
        moved from, read by the same write (so concurrent feedback cannot both claim a level); None when it
        did not move."""
        lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
        return self._apply(
            contact_id, touch_key, [TouchModel.status.set(status), TouchModel.updated_at.set(now)],
            TouchHistoryEntry(at=now, decision="send", status=status),
            TouchModel.touch_key.exists() & TouchModel.status.is_in(*lower),
        )

    def get(self, contact_id: str, touch_key: str) -> TouchRecord | None:
        try:
            return _record(TouchModel.get(contact_id, touch_key, consistent_read=True))
        except TouchModel.DoesNotExist:
            return None

    def by_provider_message(self, provider_message_id: str) -> SentTouch | None:
        for row in TouchModel.provider_message_index.query(provider_message_id, limit=1):
            return SentTouch(row.contact_id, row.touch_key, row.touch_id, row.chain_id,
                             None if row.step is None else int(row.step), row.variant)
        return None

    def for_contact(self, contact_id: str) -> list[TouchRecord]:
        return [_record(row) for row in TouchModel.query(contact_id)]

    def recent(self, contact_id: str, now: datetime, window: timedelta) -> list[CountedTouch]:
        """The touches that began to count toward the caps within `window` before `now` (the cap windows'
        history): a key range on the sparse counted index, so neither a contact's older touches nor the ones
        that do not count (deferred, skipped, held, failed) are read."""
        since = now - window
        return [
            CountedTouch(row.touch_key, row.counted_at, row.channel, row.category, row.occasion_id, row.counted_as)
            for row in TouchModel.counted_index.query(contact_id, TouchModel.counted_at >= since)
        ]
