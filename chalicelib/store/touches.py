"""Touches: every contact with a customer, and the reservation that makes a send happen at most once.

A send reserves its touch row (keyed by the send's idempotency key) with a conditional write *before* the
provider call and marks it sent after. A retry finds the reservation and never calls the provider again;
only a row whose last attempt provably did not reach the provider (`held`: throttled or circuit open) may be
reserved again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.store.models import TouchModel

RESERVABLE_AGAIN = ("deferred", "held")
# Later feedback must never move a touch backwards (an open arriving after a click stays clicked).
STATUS_RANK = {
    "reserved": 1, "held": 1, "sent": 2, "delivered": 3, "opened": 4, "clicked": 5,
    "bounced": 6, "complained": 7,
}


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
    provider_message_id: str | None = None
    actor: str | None = None
    comment: str | None = None
    updated_at: datetime | None = None


def _record(row: TouchModel) -> TouchRecord:
    return TouchRecord(
        contact_id=row.contact_id, touch_key=row.touch_key, touch_id=row.touch_id, channel=row.channel,
        occasion_id=row.occasion_id, category=row.category, status=row.status, created_at=row.created_at,
        chain_id=row.chain_id, step=None if row.step is None else int(row.step), variant=row.variant,
        decision=row.decision, reason=row.reason, rule=row.rule, provider_message_id=row.provider_message_id,
        actor=row.actor, comment=row.comment, updated_at=row.updated_at,
    )


def _conditional_failure(exc: PutError | UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


class TouchRepository:
    def reserve(self, touch: TouchRecord) -> bool:
        """True when this call holds the send; False when the touch was reserved or sent before."""
        row = TouchModel(
            touch.contact_id, touch.touch_key, touch_id=touch.touch_id, channel=touch.channel,
            occasion_id=touch.occasion_id, category=touch.category, chain_id=touch.chain_id, step=touch.step,
            variant=touch.variant, status="reserved", decision="send", reason=touch.reason, rule=touch.rule,
            created_at=touch.created_at, updated_at=touch.created_at, actor=touch.actor, comment=touch.comment,
        )
        try:
            row.save(
                condition=TouchModel.touch_key.does_not_exist() | TouchModel.status.is_in(*RESERVABLE_AGAIN)
            )
        except PutError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def record_decision(self, touch: TouchRecord) -> None:
        """Stores a touch that was not sent (deferred or skipped) with its reason; never over a sent one."""
        row = TouchModel(
            touch.contact_id, touch.touch_key, touch_id=touch.touch_id, channel=touch.channel,
            occasion_id=touch.occasion_id, category=touch.category, chain_id=touch.chain_id, step=touch.step,
            variant=touch.variant, status=touch.status, decision=touch.decision, reason=touch.reason,
            rule=touch.rule, created_at=touch.created_at, updated_at=touch.created_at,
        )
        try:
            row.save(
                condition=TouchModel.touch_key.does_not_exist() | TouchModel.status.is_in(*RESERVABLE_AGAIN)
            )
        except PutError as exc:
            if not _conditional_failure(exc):
                raise

    def mark(
        self, contact_id: str, touch_key: str, status: str, now: datetime, *,
        provider_message_id: str | None = None, cost: float | None = None, error: str | None = None,
    ) -> None:
        actions = [TouchModel.status.set(status), TouchModel.updated_at.set(now)]
        if provider_message_id is not None:
            actions.append(TouchModel.provider_message_id.set(provider_message_id))
        if cost is not None:
            actions.append(TouchModel.cost.set(cost))
        if error is not None:
            actions.append(TouchModel.error.set(error[:500]))
        TouchModel(contact_id, touch_key).update(actions=actions)

    def advance_status(self, contact_id: str, touch_key: str, status: str, now: datetime) -> bool:
        """Moves a sent touch forward (delivered, opened, clicked, bounced...); never backwards."""
        lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
        try:
            TouchModel(contact_id, touch_key).update(
                actions=[TouchModel.status.set(status), TouchModel.updated_at.set(now)],
                condition=TouchModel.touch_key.exists() & TouchModel.status.is_in(*lower),
            )
        except UpdateError as exc:
            if _conditional_failure(exc):
                return False
            raise
        return True

    def get(self, contact_id: str, touch_key: str) -> TouchRecord | None:
        try:
            return _record(TouchModel.get(contact_id, touch_key, consistent_read=True))
        except TouchModel.DoesNotExist:
            return None

    def by_provider_message(self, provider_message_id: str) -> TouchRecord | None:
        for row in TouchModel.provider_message_index.query(provider_message_id, limit=1):
            return _record(row)
        return None

    def for_contact(self, contact_id: str) -> list[TouchRecord]:
        return [_record(row) for row in TouchModel.query(contact_id)]

    def recent(self, contact_id: str, now: datetime, window: timedelta) -> list[TouchRecord]:
        """Touches created within `window` before `now` (the cap windows' history)."""
        since = now - window
        return [_record(row) for row in TouchModel.query(contact_id, filter_condition=TouchModel.created_at >= since)]
