"""The campaigns whose enrolments may be due (fanning out or sending), re-read at most every CACHE_SECONDS per
Lambda container: a chain step weighs their enrolments as arbitration rivals in its one batched read, and the
active campaigns' query is paid once a minute per container instead of once a step. A campaign that started
fanning out within the last minute may go unseen by a step for that long (its own steps weigh the chains).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.clock import Clock
from chalicelib.domain.campaigns import Campaign

CACHE_SECONDS = 60


@dataclass
class LiveCampaigns:
    load: Callable[[], Sequence[Campaign]]  # the active campaigns (scheduled ones included)
    clock: Clock
    ttl: timedelta = timedelta(seconds=CACHE_SECONDS)
    _current: tuple[Campaign, ...] = field(default=(), repr=False)
    _read_at: datetime | None = field(default=None, repr=False)

    def __call__(self) -> tuple[Campaign, ...]:
        """The campaigns that have enrolled someone and still send, the earliest sending first."""
        now = self.clock.now()
        if self._read_at is None or now - self._read_at >= self.ttl:
            enrolling = [c for c in self.load() if c.status in ("fanning_out", "sending")]
            self._current = tuple(sorted(enrolling, key=lambda c: (c.first_send_at or now, c.campaign_id)))
            self._read_at = now
        return self._current
