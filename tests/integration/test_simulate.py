"""`touchplan simulate` on moto, audited from its two files (and the strategy) alone: no duplicate, no send
without consent, none in quiet hours in the recipient's zone, no cap exceeded; under duplicate delivery too;
and one seed gives one outbox.

Sizes: moto costs about 1 CPU-second per simulated hour of ticks and queue drains, so the runs here are small
(14 contacts x 4 days, hourly ticks); `touchplan simulate` itself takes any size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.model import Strategy
from chalicelib.strategy.loader import load_strategy
from cli.main import main

SIZE = ["--contacts", "14", "--days", "4", "--step-minutes", "60"]


def simulate(out: Path, *extra: str, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    assert main(["simulate", *SIZE, "--seed", str(seed), "--out", str(out), *extra]) == 0
    read = lambda name: [json.loads(line) for line in (out / name).read_text().splitlines()]  # noqa: E731
    return read("outbox.jsonl"), read("base.jsonl")


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("plain")
    outbox, base = simulate(out)
    return out, outbox, base


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
    for message in outbox:
        when, who = at(message["at"]), people[message["contact_id"]]
        if message["category"] == "doi":
            continue
        category = strategy.categories[message["category"]]
        key = (message["contact_id"], message["chain"], message["step"])
        chain = strategy.chains.get(message["chain"] or "")
        if chain is not None:
            reentry = chain.reentry
            apart = timedelta.max if reentry.policy == "never" else (reentry.after or timedelta(0))
            if any(abs(when - earlier) <= apart for earlier in seen[key]):
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


def test_a_simulation_keeps_every_promise_in_its_outbox(plain_run) -> None:
    out, outbox, base = plain_run

    summary = json.loads((out / "summary.json").read_text())
    assert len(base) == 14 and all(row["contact_id"] for row in base)
    assert {m["category"] for m in outbox} >= {"doi", "trigger"}
    assert {m["channel"] for m in outbox} >= {"email", "sms"}
    assert any(row["email"] is None for row in base) and any(row["phone"] is None for row in base)
    assert summary["funnel"]["confirmed"] > 0 and summary["messages"]["total"] == len(outbox)
    assert audit(outbox, base, load_strategy()) == []


def test_the_audit_sees_a_duplicate_a_send_without_consent_and_one_at_night(plain_run) -> None:
    _, outbox, base = plain_run
    welcome = next(m for m in outbox if m["chain"] == "welcome")
    zone = next(row["timezone"] for row in base if row["contact_id"] == welcome["contact_id"])
    night = (at(welcome["at"]).astimezone(ZoneInfo(zone)).replace(hour=23, minute=30)).isoformat()
    stranger = {**welcome, "contact_id": "nobody"}
    bad_base = [*base, {"contact_id": "nobody", "email": None, "phone": None, "timezone": zone, "consents": []}]

    problems = audit([*outbox, welcome, stranger, {**welcome, "step": 99, "at": night}], bad_base, load_strategy())

    assert any(p.startswith("duplicate") for p in problems)
    assert any(p.startswith("no email consent") and "nobody" in p for p in problems)
    assert any(p.startswith("quiet hours") for p in problems)


def test_every_message_is_delivered_twice_and_still_every_promise_holds(tmp_path) -> None:
    outbox, base = simulate(tmp_path, "--faults", "duplicate")

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["faults"] == {"duplicate": True}
    assert audit(outbox, base, load_strategy()) == []
    assert len({m["touch_id"] for m in outbox}) == len(outbox)
    assert all(batches % 2 == 0 for batches in summary["handler_batches"].values())


def sends(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What was sent when to whom. The app's random ids (contact ids, tokens, and the A/B variants that hash
    them) are drawn from the seed too, but a process that ran other tests first can draw them in another order."""
    return sorted((row["at"], row["channel"], row["to"], row["category"], row["chain"], row["step"]) for row in rows)


def people(base: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["email"], c["phone"], c["timezone"], c["consents"]) for c in base]


def test_one_seed_gives_one_outbox(plain_run, tmp_path) -> None:
    outbox, base = simulate(tmp_path)

    assert sends(outbox) == sends(plain_run[1]) and len(outbox) > 0
    assert people(base) == people(plain_run[2])


def test_an_unknown_fault_or_store_is_refused_in_one_line(tmp_path, capsys) -> None:
    assert main(["simulate", *SIZE, "--seed", "1", "--out", str(tmp_path), "--faults", "throttle:0.2"]) == 2
    assert "'throttle:0.2' is not supported" in capsys.readouterr().err


def test_the_memory_store_gives_the_outbox_moto_gives(plain_run, tmp_path) -> None:
    outbox, base = simulate(tmp_path, "--store", "memory")

    assert audit(outbox, base, load_strategy()) == []
    assert sends(outbox) == sends(plain_run[1]) and len(outbox) > 0  # the same sends to the same people
    assert people(base) == people(plain_run[2])
