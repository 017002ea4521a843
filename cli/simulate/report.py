"""What a run leaves in DIR: outbox.jsonl, base.jsonl, summary.json and report.html (formats in the README)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.cost import estimate
from cli.simulate.engine import Options, Run
from cli.simulate.meter import Meter, memory_mb

GRANTS = ("confirmed", "granted")
REVOCATIONS = ("revoked", "bounced", "complained")
REACHED = ("sent", "delivered", "opened", "clicked")


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _statuses(touch: Any) -> set[str]:
    return {touch.status} | {entry.status for entry in touch.history if entry.status}


def outbox_rows(run: Run, doi_occasion: str) -> list[dict[str, Any]]:
    by_message = {t.provider_message_id: t for touches in run.touches.values() for t in touches
                  if t.provider_message_id}
    # A send the worker died after is on no touch's provider id: the crash noted whose touch it was.
    by_id = {t.touch_id: t for touches in run.touches.values() for t in touches}
    by_message |= {message_id: by_id[touch_id] for message_id, (_, touch_id) in run.crashed.items()
                   if touch_id in by_id and message_id not in by_message}
    rows = []
    for message in run.messages:
        touch = by_message.get(message.provider_message_id)
        row: dict[str, Any] = {
            "at": iso(message.at), "channel": message.channel, "to": message.to,
            "contact_id": touch.contact_id if touch else None, "touch_id": touch.touch_id if touch else None,
            "category": ("doi" if touch.occasion_id == doi_occasion else touch.category) if touch else None,
            "chain": touch.chain_id if touch else None, "step": touch.step if touch else None,
        }
        row["subject" if message.channel == "email" else "text"] = (
            message.subject if message.channel == "email" else message.text
        )
        rows.append(row)
    return rows


def consent_intervals(ledger: list[Any]) -> list[dict[str, Any]]:
    """The ledger read as intervals: granted (or confirmed) until revoked, bounced or complained."""
    open_at: dict[tuple[str, str], datetime] = {}
    intervals = []
    for entry in sorted(ledger, key=lambda e: e.at):
        if not entry.channel or not entry.purpose:
            continue
        key = (entry.channel, entry.purpose)
        if entry.kind in GRANTS and key not in open_at:
            open_at[key] = entry.at
        elif entry.kind in REVOCATIONS and key in open_at:
            intervals.append({"channel": key[0], "purpose": key[1], "granted_at": iso(open_at.pop(key)),
                              "revoked_at": iso(entry.at)})
    intervals += [{"channel": c, "purpose": p, "granted_at": iso(at), "revoked_at": None}
                  for (c, p), at in open_at.items()]
    return sorted(intervals, key=lambda i: (i["channel"], i["purpose"], i["granted_at"]))


def base_rows(run: Run) -> list[dict[str, Any]]:
    rows = []
    for person in run.people:
        contact_id = run.contact_ids.get(person.index)
        rows.append({
            "contact_id": contact_id, "email": person.email, "phone": person.phone, "timezone": person.timezone,
            "consents": consent_intervals(run.ledger.get(contact_id, [])) if contact_id else [],
        })
    return rows


def aws_requests(meter: Meter) -> dict[str, Any]:
    """Every AWS request the run made, by service and operation, and by the resource it named."""
    by_operation: dict[str, Counter[str]] = defaultdict(Counter)
    for (service, operation, _), count in meter.calls.items():
        by_operation[service][operation] += count
    return {
        "stage": meter.stage,
        "requests": {service: dict(sorted(ops.items())) for service, ops in sorted(by_operation.items())},
        "by_resource": [{"service": s, "operation": o, "resource": r, "requests": n}
                        for (s, o, r), n in sorted(meter.calls.items())],
        "lambda": {name: {"invocations": n, "billed_seconds": round(meter.seconds[name], 6),
                          "memory_mb": memory_mb(meter.stage, name)}
                   for name, n in sorted(meter.invocations.items())},
    }


def cost(run: Run, outbox: list[dict[str, Any]], strategy: Any) -> dict[str, Any]:
    messages = [(str(r["chain"] or r["category"]), str(r["channel"])) for r in outbox]
    fees = {name: channel.cost for name, channel in strategy.channels.items()}
    return estimate(run.meter.usage, messages, fees, strategy.currency)


def summary(run: Run, options: Options, outbox: list[dict[str, Any]], strategy: Any = None) -> dict[str, Any]:
    by_chain: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    decisions: dict[str, Counter[str]] = defaultdict(Counter)
    funnels: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    reached: dict[str, set[str]] = defaultdict(set)
    for contact_id, touches in run.touches.items():
        for touch in touches:
            chain, step = touch.chain_id or touch.occasion_id, str(touch.step if touch.step is not None else "-")
            decision = touch.decision or touch.status
            by_chain[chain][step][f"{decision}:{touch.reason or '-'}"] += 1
            decisions[decision][touch.reason or "-"] += 1
            for status in _statuses(touch) & set(REACHED):
                funnels[chain][step][status] += 1
                reached[status].add(contact_id)
    confirmed = {cid for cid, ledger in run.ledger.items() if any(e.kind == "confirmed" for e in ledger)}
    return {
        "contacts": options.contacts, "days": options.days, "seed": options.seed, "store": options.store,
        "faults": {**options.faults.describe(), "injected": run.faults_injected},
        "dead_letters": {queue: {"count": len(letters), "records": letters}
                         for queue, letters in sorted(run.dead_letters.items())},
        "stuck": run.stuck,
        "messages": {
            "total": len(outbox),
            "by_channel": dict(Counter(r["channel"] for r in outbox)),
            "by_category": dict(Counter(str(r["category"]) for r in outbox)),
            "by_chain": dict(Counter(str(r["chain"] or r["category"]) for r in outbox)),
        },
        "touches_by_chain": {c: {s: dict(v) for s, v in sorted(st.items())} for c, st in sorted(by_chain.items())},
        "decisions": {d: dict(reasons) for d, reasons in sorted(decisions.items())},
        "funnel": {
            "signed_up": len(run.contact_ids),
            "confirmed": len(confirmed),
            **{f"contacts_{status}": len(reached[status]) for status in REACHED},
            "orders": run.world.get("orders", 0),
        },
        "chain_funnels": {c: {s: dict(v) for s, v in sorted(steps.items())} for c, steps in sorted(funnels.items())},
        "world": dict(sorted(run.world.items())),
        "handler_batches": dict(sorted(run.deliveries.items())),
        "failed_batches": run.failed_batches,
        "segments": [{"day": day, **counts} for day, counts in run.segments],
        **({"aws": aws_requests(run.meter), "cost": cost(run, outbox, strategy)}
           if run.meter is not None and strategy is not None else {}),
    }


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))


def write(run: Run, options: Options, out: Path, doi_occasion: str, strategy: Any = None) -> dict[str, Any]:
    """Writes the files; report.html (and its charts) only where `strategy` is given and matplotlib is there."""
    out.mkdir(parents=True, exist_ok=True)
    outbox = outbox_rows(run, doi_occasion)
    _jsonl(out / "outbox.jsonl", outbox)
    base = base_rows(run)
    _jsonl(out / "base.jsonl", base)
    result = summary(run, options, outbox, strategy)
    (out / "summary.json").write_text(json.dumps(result, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    if strategy is not None and charts_available():
        from cli.simulate.charts import write_report

        write_report(out, result, outbox, base, strategy)
    return result


def charts_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None
