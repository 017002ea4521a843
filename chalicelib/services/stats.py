"""Stats: what chain steps achieve, per chain x step x variant x day, and the same as CloudWatch metrics.

Inside `batched()` (a queue handler's batch of records) the counts are summed per counter row and added once
when the batch ends: every send of a step on a day counts on one row, so a row written once per send would be
the hottest item of a burst, and a batch of ten sends writes it once instead of ten times.

Counts land on the day the outcome happened (sent, opened, ordered...), so a period's row reads "what
happened in it". Only chain touches are counted; DOI and other one-off messages have no step to credit.
A conversion is an order within the strategy's attribution window after a click on a chain touch, or else
after an open; it credits that touch's step and variant with one conversion and the order's amount.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from chalicelib.domain.model import SendStep, Strategy
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.stats import BY_REASON, NO_VARIANT, OUTCOMES, StatsRepository, counter_key
from chalicelib.store.touches import SentTouch, TouchRecord, TouchRepository

Emit = Callable[[str, float, Mapping[str, str]], None]
METRIC_NAMES = {name: name.capitalize() for name in (*OUTCOMES, *BY_REASON)}
# Sends no chain triggered (a manager's, a campaign's), counted apart beside the chains' steps: no chain is
# named "", so this key never meets a step's.
MANUAL_SENDS = counter_key("", "manual", None)


def emit_metric(name: str, value: float, dimensions: Mapping[str, str]) -> None:
    """One EMF line per outcome with its own chain/step/variant dimensions (the shared Metrics object holds
    one set of dimensions per flush, and a batch mixes chains)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    from chalicelib.observability import metrics

    if is_metrics_disabled():  # single_metric flushes regardless; honour POWERTOOLS_METRICS_DISABLED as Metrics does
        return
    unit = MetricUnit.NoUnit if name == "Revenue" else MetricUnit.Count
    with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace,
                       default_dimensions=metrics.default_dimensions) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


@dataclass(frozen=True)
class StatsRow:
    chain: str
    step: int
    variant: str | None
    counts: Mapping[str, float]  # OUTCOMES: sent ... converted, revenue
    skipped: Mapping[str, int]  # reason -> count
    deferred: Mapping[str, int]
    failed: Mapping[str, int]  # error code -> count

    def as_dict(self) -> dict[str, object]:
        counts = {k: (v if k == "revenue" else int(v)) for k, v in self.counts.items()}
        return {
            "chain": self.chain, "step": self.step, "variant": self.variant, **counts,
            "skipped": sum(self.skipped.values()), "skipped_by_reason": dict(self.skipped),
            "deferred": sum(self.deferred.values()), "deferred_by_reason": dict(self.deferred),
            "failed": sum(self.failed.values()), "failed_by_reason": dict(self.failed),
        }


@dataclass
class StatsService:
    strategy: Strategy
    counters: StatsRepository
    touches: TouchRepository
    emit: Emit = field(default=emit_metric)

    _open: threading.local = field(default_factory=threading.local, repr=False)  # this thread's batch, if any

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Counts made inside are added when the block ends, once per counter row. A row whose write fails is
        logged with its counts (they are lost: the records that made them are done) and the others are still
        written."""
        if getattr(self._open, "batch", None) is not None:  # nested: the outer batch writes
            yield
            return
        batch = self._open.batch = _Batch()
        try:
            yield
        finally:
            self._open.batch = None
            batch.write(self.counters)

    def sent(self, touch: TouchRecord, now: datetime) -> None:
        """The step worker's `on_sent` hook, once per send (the mark that moved its touch from reserved)."""
        if touch.chain_id is None:
            self._add(MANUAL_SENDS, now.date(), {"sent": 1})
        else:
            self.count(touch, {"sent": 1}, now)

    def unsubscribed(self, touch: TouchRecord, now: datetime) -> None:
        """The preference centre's `on_unsubscribed` hook: a one-click unsubscribe credited to `touch`."""
        self.count(touch, {"unsubscribed": 1}, now)

    def decided(self, touch: TouchRecord, now: datetime) -> None:
        """The step worker's `on_decided` hook: skipped and deferred sends by reason, failed ones by error code."""
        if touch.chain_id is None or touch.step is None or touch.status not in BY_REASON:
            return
        reason = (touch.error_code if touch.status == "failed" else touch.reason) or "unknown"
        key, day = counter_key(touch.chain_id, touch.step, touch.variant), now.date()
        batch = getattr(self._open, "batch", None)
        if batch is None:
            self.counters.add_decision(key, day, touch.status, reason)
        else:
            batch.decisions[(key, day, touch.status, reason)] += 1
        self.emit(METRIC_NAMES[touch.status], 1, {**_dimensions(touch), "reason": reason})

    def count(self, touch: TouchRecord | SentTouch, counts: Mapping[str, float], at: datetime) -> None:
        if touch.chain_id is None or touch.step is None or not counts:
            return
        self._add(counter_key(touch.chain_id, touch.step, touch.variant), at.date(), counts)
        for name, value in counts.items():
            self.emit(METRIC_NAMES[name], value, _dimensions(touch))

    def _add(self, key: str, day: date, counts: Mapping[str, float]) -> None:
        batch = getattr(self._open, "batch", None)
        if batch is None:
            self.counters.add(key, day, counts)
        else:
            batch.counts.setdefault((key, day), Counter()).update(counts)

    def attribute_order(self, contact_id: str, amount: float, at: datetime) -> TouchRecord | None:
        """Credits an order to the contact's latest clicked chain touch within the attribution window before
        `at`, or else the latest opened one; returns the credited touch. Call once per order."""
        since = at - self.strategy.attribution_window
        reacted = [
            t for t in self.touches.for_contact(contact_id)
            if t.chain_id is not None and t.status in ("clicked", "opened")
            and t.updated_at is not None and since <= t.updated_at <= at
        ]
        for status in ("clicked", "opened"):
            candidates = [t for t in reacted if t.status == status]
            if candidates:
                credited = max(candidates, key=lambda t: t.updated_at or t.created_at)
                self.count(credited, {"converted": 1, "revenue": amount}, at)
                return credited
        return None

    def read(self, chain_id: str, first: date, last: date) -> list[StatsRow]:
        """Rows per step and variant of the chain's send steps (as the strategy names them now), summed over
        `first`..`last` inclusive; steps and variants with nothing counted are left out."""
        chain = self.strategy.chains.get(chain_id)
        if chain is None:
            return []
        rows = []
        for index, step in enumerate(chain.steps):
            if not isinstance(step, SendStep):
                continue
            occasion = self.strategy.occasions.get(step.occasion)
            variants = {v for c in step.channels for v in (occasion.variants(c) if occasion else ())}
            for variant in (None, *sorted(variants)):
                totals = self.counters.totals(counter_key(chain_id, index, variant), first, last)
                if totals is not None:
                    rows.append(StatsRow(chain_id, index, variant, totals.counts, totals.reasons["skipped"],
                                         totals.reasons["deferred"], totals.reasons["failed"]))
        return rows

    def manual_sends(self, first: date, last: date) -> int:
        """Sends no chain triggered over `first`..`last` inclusive (the other side of the triggered share)."""
        totals = self.counters.totals(MANUAL_SENDS, first, last)
        return int(totals.counts["sent"]) if totals else 0


def _dimensions(touch: TouchRecord | SentTouch) -> dict[str, str]:
    return {"chain": str(touch.chain_id), "step": str(touch.step), "variant": touch.variant or NO_VARIANT}


MAX_REPORT_DAYS = 366


def _day(query: Mapping[str, str], name: str, default: date) -> date:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    # Within the instants the API keeps anywhere, so the default `from` (to - 29 days) cannot overflow.
    if day is None or not limits.EARLIEST.date() <= day < limits.LATEST.date():
        raise ClientError("invalid_field", f"{name} must be a date like 2026-11-01 (years 1900-8999).", name)
    return day


def report(service: StatsService, query: Mapping[str, str], today: date) -> dict[str, object]:
    """GET /v1/admin/stats: `chain` (default: every chain), `from`..`to` inclusive (default: the last 30 days)."""
    last = _day(query, "to", today)
    first = _day(query, "from", last - timedelta(days=29))
    if first > last:
        raise ClientError("invalid_field", "from must not be after to.", "from")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise ClientError("invalid_field", f"A report spans at most {MAX_REPORT_DAYS} days.", "from")
    chain = query.get("chain")
    if chain is not None and chain not in service.strategy.chains:
        raise ClientError("unknown_chain", f"There is no chain {chain[:64]!r} in the strategy.", "chain")
    chains = [chain] if chain else sorted(service.strategy.chains)
    rows = [row.as_dict() for chain_id in chains for row in service.read(chain_id, first, last)]
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}


@dataclass
class _Batch:
    counts: dict[tuple[str, date], Counter[str]] = field(default_factory=dict)
    decisions: Counter[tuple[str, date, str, str]] = field(default_factory=Counter)

    def write(self, counters: StatsRepository) -> None:
        for (key, day), counts in self.counts.items():
            try:
                counters.add(key, day, counts)
            except Exception as exc:  # one row's failure must not lose the others
                _lost(key, day, dict(counts), exc)
        for (key, day, decision, reason), count in self.decisions.items():
            try:
                counters.add_decision(key, day, decision, reason, count)
            except Exception as exc:
                _lost(key, day, {f"{decision}:{reason}": count}, exc)


def _lost(key: str, day: date, counts: Mapping[str, float], exc: Exception) -> None:
    from chalicelib.observability import logger

    logger.error("stats counts lost", counter=key, day=day.isoformat(), counts=counts, error=type(exc).__name__,
                 detail=str(exc)[:200])
