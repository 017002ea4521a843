"""The audit of a simulation from its two files (and the strategy) alone, shared by every simulate test: no
duplicate, no send without consent at send time, none in quiet hours in the recipient's zone, no cap
exceeded, and every message traced to a contact's touch (a send the worker died after included)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Strategy
from cli.main import main

Rows = list[dict[str, Any]]


def simulate(out: Path, size: list[str], *extra: str, seed: int = 7) -> tuple[Rows, Rows]:
    """Runs `touchplan simulate` and reads back outbox.jsonl and base.jsonl."""
    assert main(["simulate", *size, "--seed", str(seed), "--out", str(out), *extra]) == 0
    return read(out, "outbox.jsonl"), read(out, "base.jsonl")


def read(out: Path, name: str) -> Rows:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


def sends(rows: Rows) -> list[tuple[Any, ...]]:
    """What was sent when to whom. The app's random ids (contact ids, tokens, and the A/B variants that hash
    them) are drawn from the seed too, but a process that ran other tests first can draw them in another order."""
    return sorted((row["at"], row["channel"], row["to"], row["category"], row["chain"], row["step"]) for row in rows)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    return start <= local or local < end if start > end else start <= local < end


def audit(outbox: list[dict[str, Any]], base: list[dict[str, Any]], strategy: Strategy) -> list[str]:
    """Every breach of the strategy's promises this outbox shows, in words."""
    people = {row["contact_id"]: row for row in base}
    problems = []
    seen: dict[tuple[str, str, int], list[datetime]] = defaultdict(list)
    sends: dict[str, list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
    touches: set[str] = set()
    for message in outbox:
        if message["contact_id"] not in people:
            problems.append(f"unattributed: {message['channel']} to {message['to']} at {message['at']}")
            continue
        if message["touch_id"] in touches:
            problems.append(f"duplicate: touch {message['touch_id']} sent again at {message['at']}")
        touches.add(message["touch_id"])
        when, who = at(message["at"]), people[message["contact_id"]]
        if message["category"] == "doi":
            continue
        category = strategy.categories[message["category"]]
        key = (message["contact_id"], message["chain"], message["step"])
        chain = strategy.chains.get(message["chain"] or "")
        if chain is not None:
            reentry = chain.reentry
            apart = timedelta.max if reentry.policy == "never" else (reentry.after or timedelta(0))
            # A re-entry may start `after` the last one: sends that far apart belong to two entries.
            if any(abs(when - earlier) < apart for earlier in seen[key]):
                problems.append(f"duplicate: {key} at {message['at']}")
            seen[key].append(when)
        if strategy.purposes[category.purpose].opt_in:
            granted = [c for c in who["consents"] if c["channel"] == message["channel"]
                       and c["purpose"] == category.purpose and at(c["granted_at"]) <= when
                       and (c["revoked_at"] is None or when < at(c["revoked_at"]))]
            if not granted:
                problems.append(f"no {message['channel']} consent at {message['at']} for {message['contact_id']}")
        quiet = strategy.channels[message["channel"]].quiet_hours
        # A message outside any chain answers the customer's own action (an SMS STOP): quiet hours do not apply.
        if quiet is not None and category.quiet_hours and message["chain"] is not None:
            local = when.astimezone(ZoneInfo(who["timezone"])).time()
            if in_quiet_hours(local, quiet.start, quiet.end):
                problems.append(f"quiet hours: {message['channel']} at {local} in {who['timezone']}")
        sends[message["contact_id"]].append((when, message))
    for contact_id, theirs in sends.items():
        for cap in strategy.caps:
            times = sorted(w for w, m in theirs if m["category"] in cap.categories and m["channel"] in cap.channels)
            for i, when in enumerate(times):
                inside = [t for t in times[: i + 1] if when - t < cap.per]
                if len(inside) > cap.max:
                    problems.append(f"cap {cap.id}: {len(inside)} > {cap.max} for {contact_id} by {when}")
    return problems
