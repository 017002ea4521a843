"""Lifecycle timers (leaving, sleeping/lost, stop list, birthday, refill, erasure) as due rows of the enrolments
table.

One row per contact and timer (`timer:<kind>`, `timer:refill:<sku>`). Arming a timer whose occurrence key
is already stored changes nothing, so recomputing timers after every event never fires one twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.domain.lifecycle import Timer
from chalicelib.store.enrollments import shard_of
from chalicelib.store.models import EnrollmentModel

PREFIX = "timer:"


@dataclass(frozen=True)
class DueTimer:
    contact_id: str
    chain_id: str
    key: str
    event: str
    due_at: datetime
    properties: dict[str, object]
    claim: str | None
    revision: int

    @property
    def kind(self) -> str:
        return self.chain_id.removeprefix(PREFIX).split(":")[0]


def timer_id(timer: Timer) -> str:
    # One row per refill product, per deferred manual send (its touch key) and per ad audience: they never
    # replace each other.
    own = timer.properties.get("sku") or timer.properties.get("touch_key") or timer.properties.get("audience")
    return f"{PREFIX}{timer.kind}" + (f":{own}" if own else "")


def is_timer(chain_id: str) -> bool:
    return chain_id.startswith(PREFIX)


class TimerRepository:
    def __init__(self, shards: int) -> None:
        self.shards = shards

    def arm(self, contact_id: str, timer: Timer, now: datetime) -> bool:
        """Stores the timer unless this occurrence is already stored (pending or fired): one conditional write.

        A new occurrence replaces the old one, even one being fired: that step then finds its claim gone."""
        row = EnrollmentModel(
            contact_id, timer_id(timer), step=0, status="running", entered_at=now, step_started_at=now,
            due_shard=shard_of(contact_id, self.shards), due_at=int(timer.due_at.timestamp()),
            timer_key=timer.key, timer_event=timer.event, timer_properties=dict(timer.properties),
            revision=1, updated_at=now,
        )
        try:
            row.save(condition=EnrollmentModel.timer_key.does_not_exist() | (EnrollmentModel.timer_key != timer.key))
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, contact_id: str, chain_id: str) -> DueTimer | None:
        try:
            row = EnrollmentModel.get(contact_id, chain_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _pending(row)

    def for_contact(self, contact_id: str) -> list[DueTimer]:
        """The contact's pending timers (what is planned for them: birthdays, refills, erasure...)."""
        rows = EnrollmentModel.query(contact_id, EnrollmentModel.chain_id.startswith(PREFIX), consistent_read=True)
        return [timer for row in rows if (timer := _pending(row)) is not None]

    def fired(self, timer: DueTimer, claim: str, now: datetime) -> None:
        """Marks the timer done (off the due index) if this claim still holds it."""
        EnrollmentModel(timer.contact_id, timer.chain_id).update(
            actions=[
                EnrollmentModel.status.set("completed"), EnrollmentModel.due_at.remove(),
                EnrollmentModel.due_shard.remove(), EnrollmentModel.claim.remove(),
                EnrollmentModel.ended_at.set(now), EnrollmentModel.revision.add(1),
            ],
            condition=EnrollmentModel.claim == claim,
        )


def _pending(row: EnrollmentModel) -> DueTimer | None:
    if row.status != "running" or row.due_at is None:
        return None
    properties = row.timer_properties.as_dict() if row.timer_properties is not None else {}
    return DueTimer(
        row.contact_id, row.chain_id, row.timer_key or "", row.timer_event or "",
        datetime.fromtimestamp(int(row.due_at), UTC), properties, row.claim, int(row.revision or 0),
    )
