"""The `occasions` mapping of the strategy every service holds: the file's occasions with a service manager's
stored edits applied (services.occasions), re-read at most every CACHE_SECONDS per Lambda container, so an
edit reaches every container within that time. Kept apart from the admin service so that building the
strategy on a cold start imports no store: the edits are read on first use.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.clock import Clock
from chalicelib.domain.model import Occasion
from chalicelib.domain.strategy import StrategyError, parse_strategy

if TYPE_CHECKING:
    from chalicelib.store.occasions import StoredOccasion

CACHE_SECONDS = 60


def with_edits(document: Mapping[str, Any], edits: Mapping[str, StoredOccasion]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(document))
    occasions = merged.get("occasions")
    if isinstance(occasions, dict):
        for occasion_id, edit in edits.items():
            if occasion_id in occasions:  # an occasion the file no longer has stays gone
                occasions[occasion_id] = copy.deepcopy(dict(edit.definition))
    return merged


@dataclass
class LiveOccasions(Mapping[str, Occasion]):
    """The strategy's occasions with the stored edits applied, re-read at most every CACHE_SECONDS."""

    document: Callable[[], Mapping[str, Any]]  # the strategy file as read; read only once an edit exists
    base: Mapping[str, Occasion]
    load: Callable[[], dict[str, StoredOccasion]]
    clock: Clock
    ttl: timedelta = timedelta(seconds=CACHE_SECONDS)
    _current: Mapping[str, Occasion] | None = field(default=None, repr=False)
    _read_at: datetime | None = field(default=None, repr=False)

    def refresh(self) -> None:
        """Forget the cached edits: the next lookup reads them (this container's own edit shows at once)."""
        self._read_at = None

    def _occasions(self) -> Mapping[str, Occasion]:
        now = self.clock.now()
        if self._current is None or self._read_at is None or now - self._read_at >= self.ttl:
            edits = self.load()
            try:
                self._current = parse_strategy(with_edits(self.document(), edits)).occasions if edits else self.base
            except StrategyError:
                # Every stored edit was valid against the file it was made on; a newer file can disagree with
                # one, and then the file's own occasions stand until the edit is made again.
                self._current = self.base
            self._read_at = now
        return self._current

    def __getitem__(self, occasion_id: str) -> Occasion:
        return self._occasions()[occasion_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._occasions())

    def __len__(self) -> int:
        return len(self._occasions())
