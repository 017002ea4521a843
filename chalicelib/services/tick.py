"""The tick: find due enrolments shard by shard, claim each once, and hand them to the step queue.

Quiet hours release a whole base's deferred sends at 08:00 local, so the tick claims shards in parallel:
`workers` threads each drain their own shards (shard % workers) with their own slice of the budget, a chunk
per shard in turn so no shard waits behind a full one. A claim is a conditional write, so a racing tick only
loses races; claims are queued as soon as they fill one SQS batch (whichever shards they came from: a
request per ten messages, not per shard), the rest before the worker stops, and a worker stops before its
next chunk when `out_of_time` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.store.enrollments import DueItem

WORKERS = 4
# Enough for a 100,000-item burst in four ticks; the invocation's time is what usually stops a tick first.
BUDGET = 40_000
CHUNK = 10  # claims queued together: one SQS batch


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


class _Shard:
    """One shard's due items, read page by page as they are taken (nothing is read before the first take)."""

    def __init__(self, items: Callable[[], Iterable[DueItem]]) -> None:
        self._read = items
        self._items: Iterator[DueItem] | None = None
        self._next: DueItem | None = None

    def take(self, count: int) -> list[DueItem]:
        if self._items is None:
            self._items = iter(self._read())
            self._next = next(self._items, None)
        taken: list[DueItem] = []
        while self._next is not None and len(taken) < count:
            taken.append(self._next)
            self._next = next(self._items, None)
        return taken

    @property
    def waiting(self) -> bool:
        """Whether items may be left; a shard not read yet may hold some."""
        return self._items is None or self._next is not None


def tick(
    work: DueWork, steps: StepQueue, shards: int, now: datetime, budget: int = BUDGET,
    out_of_time: Callable[[], bool] = lambda: False, workers: int | None = None,
) -> TickResult:
    """Claims at most `budget` items in all, each worker at most its slice; anything left waits for the next
    tick, still due. A worker's error is raised once every worker has stopped and queued what it claimed."""
    now_epoch = int(now.timestamp())
    count = max(1, min(workers or WORKERS, shards))
    slices = [budget // count + (1 if w < budget % count else 0) for w in range(count)]
    if count == 1:  # no thread to start for one worker (a simulation ticks thousands of times)
        results = [_drain(work, steps, range(shards), now_epoch, slices[0], out_of_time)]
    else:
        with ThreadPoolExecutor(max_workers=count, thread_name_prefix="tick") as pool:
            futures = [
                pool.submit(_drain, work, steps, range(w, shards, count), now_epoch, slices[w], out_of_time)
                for w in range(count)
            ]
        results = [future.result() for future in futures]
    return TickResult(
        claimed=sum(r.claimed for r in results), lost_races=sum(r.lost_races for r in results),
        more_waiting=any(r.more_waiting for r in results),
    )


def _drain(
    work: DueWork, steps: StepQueue, shards: Iterable[int], now_epoch: int, budget: int,
    out_of_time: Callable[[], bool],
) -> TickResult:
    # Each shard reads at most one item past the budget: enough to tell whether more is waiting.
    pending = [_Shard(partial(work.due, shard, now_epoch, budget + 1)) for shard in shards]
    claimed = lost = 0
    left = budget
    messages: list[dict[str, Any]] = []  # claimed, not queued yet: fewer than one batch
    try:
        while pending:
            for shard in list(pending):
                if left == 0 or out_of_time():
                    claimed += _queue(steps, messages)
                    return TickResult(claimed=claimed, lost_races=lost,
                                      more_waiting=any(s.waiting for s in pending))
                items = shard.take(min(CHUNK, left))
                left -= len(items)
                for item in items:
                    claim = work.claim(item, now_epoch)
                    if claim is None:
                        lost += 1
                        continue
                    messages.append(_step_message(item, claim))
                if len(messages) >= CHUNK:
                    claimed += _queue(steps, messages, whole_batches=True)
                if not shard.waiting:
                    pending.remove(shard)
    except BaseException:
        _queue(steps, messages)  # what was claimed before the error still goes out
        raise
    claimed += _queue(steps, messages)
    return TickResult(claimed=claimed, lost_races=lost, more_waiting=False)


def _queue(steps: StepQueue, messages: list[dict[str, Any]], whole_batches: bool = False) -> int:
    """Queues the claimed messages, or only as many as fill whole batches, keeping the rest (a claimed item
    whose message fails to send falls due again when its lease ends)."""
    count = len(messages) - len(messages) % CHUNK if whole_batches else len(messages)
    if count == 0:
        return 0
    sent = steps.send_many("steps", messages[:count])
    del messages[:count]
    return sent


def _step_message(item: DueItem, claim: str) -> dict[str, Any]:
    return {
        "kind": "step",
        "contact_id": item.contact_id,
        "chain_id": item.chain_id,
        "step": item.step,
        "claim": claim,
        "attempt": 0,
        # The contact's suppression keys as last written: the step reads them with the contact.
        **({"addresses": list(item.addresses)} if item.addresses else {}),
    }
