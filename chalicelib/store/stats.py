"""Stats counters: one row per chain x step x variant x day, incremented with ADD (no read, no lost update).

Rows: `counter_key = "<chain>#<step>#<variant or ->"`, `day = "YYYY-MM-DD"` holding the outcome counts, and,
under the same key, `day = "YYYY-MM-DD#<skipped|deferred|failed>#<reason>"` holding that count per reason
(a failure's reason is its error code). Both sort inside one day, so a single range query per counter key
reads a whole period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from chalicelib.store.models import StatsModel

NO_VARIANT = "-"
OUTCOMES = ("sent", "delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "converted", "revenue")
BY_REASON = ("skipped", "deferred", "failed")
_AFTER_DAY = "~"  # sorts after "#": the range's last day includes its reason rows


def counter_key(chain_id: str, step: int | str, variant: str | None) -> str:
    return f"{chain_id}#{step}#{variant or NO_VARIANT}"


@dataclass
class CounterTotals:
    """Counts summed over a period for one counter key."""

    counts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0.0))
    reasons: dict[str, dict[str, int]] = field(default_factory=lambda: {kind: {} for kind in BY_REASON})


class StatsRepository:
    def add(self, key: str, day: date, counts: Mapping[str, float]) -> None:
        """Adds to the day's outcome counts (creating the row on first use)."""
        unknown = set(counts) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"not outcome counters: {sorted(unknown)}")
        StatsModel(key, day.isoformat()).update(
            actions=[getattr(StatsModel, name).add(value) for name, value in counts.items()]
        )

    def add_decision(self, key: str, day: date, decision: str, reason: str, count: int = 1) -> None:
        """Counts skipped or deferred decisions, or failed sends, under their reason."""
        if decision not in BY_REASON:
            raise ValueError(f"not a counted decision: {decision!r}")
        StatsModel(key, f"{day.isoformat()}#{decision}#{reason}").update(
            actions=[getattr(StatsModel, decision).add(count)]
        )

    def totals(self, key: str, first: date, last: date) -> CounterTotals | None:
        """The key's counts summed over `first`..`last` (inclusive); None when nothing was counted."""
        totals: CounterTotals | None = None
        for row in StatsModel.query(key, StatsModel.day.between(first.isoformat(), last.isoformat() + _AFTER_DAY)):
            totals = totals or CounterTotals()
            _, _, rest = row.day.partition("#")
            if rest:
                decision, _, reason = rest.partition("#")
                bucket = totals.reasons[decision]
                bucket[reason] = bucket.get(reason, 0) + int(getattr(row, decision) or 0)
                continue
            for name in OUTCOMES:
                totals.counts[name] += float(getattr(row, name) or 0)
        return totals
