"""Enrolments: a contact's place in a chain, and the sparse due index the tick reads."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.store.models import EnrollmentModel


@dataclass(frozen=True)
class DueItem:
    contact_id: str
    chain_id: str
    step: int
    due_at: int


def shard_of(contact_id: str, shards: int) -> int:
    # A stable spread of contacts over shards; hash() is salted per process, so use a checksum.
    return sum(contact_id.encode()) % shards


class EnrollmentRepository:
    def due(self, shard: int, now_epoch: int, limit: int) -> Iterator[DueItem]:
        for row in EnrollmentModel.due_index.query(
            shard, EnrollmentModel.due_at <= now_epoch, limit=limit, page_size=min(limit, 100)
        ):
            yield DueItem(row.contact_id, row.chain_id, int(row.step), int(row.due_at))

    def claim(self, item: DueItem) -> str | None:
        """Takes the item off the due index if it is still due at the same instant; None if another took it."""
        claim = secrets.token_hex(8)
        row = EnrollmentModel(item.contact_id, item.chain_id)
        try:
            row.update(
                actions=[
                    EnrollmentModel.due_shard.remove(),
                    EnrollmentModel.due_at.remove(),
                    EnrollmentModel.claim.set(claim),
                ],
                condition=(EnrollmentModel.due_at == item.due_at) & (EnrollmentModel.step == item.step),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return None
            raise
        return claim

