"""Enrolments: a contact's place in a chain, and the sparse due index the tick reads.

Only waiting enrolments carry `due_shard` and `due_at`, so the tick's query touches due work only. Every
write is conditional on the revision that was read (optimistic locking); the step worker additionally
holds a claim that the tick set, so one due step is worked on by one message.

A claim is a lease: claiming moves `due_at` LEASE seconds ahead instead of removing it, so a step whose
worker died (or whose message was dead-lettered) falls due again and the next tick claims it afresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.chains import Enrollment
from chalicelib.store.models import EnrollmentModel

FLAGS = ("opened", "clicked", "ordered", "survey_answered", "visited")
LEASE = 1800  # seconds: longer than all retries of one step message (60 + 120 + 240 + 480 s of delays)


class EnrollmentConflict(Exception):
    """Someone else wrote the enrolment since it was read: read again and redo the work."""


@dataclass(frozen=True)
class DueItem:
    contact_id: str
    chain_id: str
    step: int
    due_at: int


@dataclass(frozen=True)
class Stored:
    state: Enrollment
    revision: int
    claim: str | None
    context: dict[str, object] | None = None


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
    context: dict[str, object] | None = None,
) -> EnrollmentModel:
    """The row for `state`: on the due index only while running with a due instant."""
    due = state.due_at if state.status == "running" else None
    return EnrollmentModel(
        state.contact_id, state.chain_id, step=state.step, status=state.status,
        reactions={flag: getattr(state, flag) for flag in FLAGS}, entered_at=state.entered_at,
        step_started_at=state.step_started_at, exit_reason=state.exit_reason, ended_at=state.ended_at,
        due_shard=None if due is None else shard_of(state.contact_id, shards),
        due_at=None if due is None else int(due.timestamp()), revision=revision, updated_at=now,
        claim=claim, context=context,
    )


def _stored(row: EnrollmentModel) -> Stored:
    context = row.context.as_dict() if row.context is not None else None
    return Stored(_state(row), int(row.revision or 0), row.claim, context)


class EnrollmentRepository:
    def __init__(self, shards: int) -> None:
        self.shards = shards

    def due(self, shard: int, now_epoch: int, limit: int) -> Iterator[DueItem]:
        for row in EnrollmentModel.due_index.query(
            shard, EnrollmentModel.due_at <= now_epoch, limit=limit, page_size=min(limit, 100)
        ):
            yield DueItem(row.contact_id, row.chain_id, int(row.step), int(row.due_at))

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

    def for_contact(self, contact_id: str) -> dict[str, Stored]:
        return {row.chain_id: _stored(row) for row in EnrollmentModel.query(contact_id, consistent_read=True)}

    def save(
        self, state: Enrollment, expected: Stored | None, now: datetime, *, claim: str | None = None,
        keep_claim: bool = False, context: dict[str, object] | None = None,
    ) -> None:
        """Writes `state` if the row is still as `expected` (None: must not exist).

        Raises EnrollmentConflict otherwise. With `claim` (the step worker), the row must still hold that
        claim, which the write releases; with `keep_claim` (event paths), a step in flight keeps its claim.
        `context` replaces the chain's template context (a new entry); otherwise the stored one is kept.
        """
        row = enrollment_row(
            state, self.shards, now, revision=(expected.revision + 1) if expected else 1,
            claim=expected.claim if keep_claim and expected else None,
            context=context if context is not None else (expected.context if expected else None),
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
