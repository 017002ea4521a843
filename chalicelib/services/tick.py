"""The tick: find due enrolments shard by shard, claim each once, and hand them to the step queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.store.enrollments import DueItem


class DueWork(Protocol):
    def due(self, shard: int, now_epoch: int, limit: int) -> Any: ...
    def claim(self, item: DueItem, now_epoch: int) -> str | None: ...


class StepQueue(Protocol):
    def send_many(self, queue: str, bodies: Any) -> int: ...


@dataclass(frozen=True)
class TickResult:
    claimed: int
    lost_races: int
    more_waiting: bool


def tick(
    work: DueWork, steps: StepQueue, shards: int, now: datetime, budget: int = 500,
    out_of_time: Callable[[], bool] = lambda: False,
) -> TickResult:
    """Claims at most `budget` items per shard, and stops between shards when `out_of_time` says so; anything
    left waits for the next tick, still due."""
    now_epoch = int(now.timestamp())
    claimed = lost = 0
    more = False
    for shard in range(shards):
        if out_of_time():
            return TickResult(claimed=claimed, lost_races=lost, more_waiting=True)
        messages = []
        seen = 0
        for item in work.due(shard, now_epoch, budget + 1):
            seen += 1
            if seen > budget:
                more = True
                break
            claim = work.claim(item, now_epoch)
            if claim is None:
                lost += 1
                continue
            messages.append(
                {
                    "kind": "step",
                    "contact_id": item.contact_id,
                    "chain_id": item.chain_id,
                    "step": item.step,
                    "claim": claim,
                    "attempt": 0,
                }
            )
        # A claimed item whose message fails to send falls due again when its lease ends.
        claimed += steps.send_many("steps", messages)
    return TickResult(claimed=claimed, lost_races=lost, more_waiting=more)
