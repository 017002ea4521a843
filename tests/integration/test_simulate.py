"""`touchplan simulate` on moto, audited from its two files (and the strategy) alone (tests/integration/
simulation_audit.py); one seed gives one outbox, and the memory store gives the outbox moto gives. The fault
runs are in test_simulate_faults.py, on the memory store.

Sizes: moto costs about 1 CPU-second per simulated hour of ticks and queue drains, so the runs here are small
(14 contacts x 4 days, hourly ticks); `touchplan simulate` itself takes any size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.strategy.loader import load_strategy
from cli.main import main
from tests.integration import simulation_audit
from tests.integration.simulation_audit import at, audit, sends

SIZE = ["--contacts", "14", "--days", "4", "--step-minutes", "60"]


def simulate(out: Path, *extra: str, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return simulation_audit.simulate(out, SIZE, *extra, seed=seed)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("plain")
    outbox, base = simulate(out, "--store", "moto")
    return out, outbox, base


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


def people(base: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(c["email"], c["phone"], c["timezone"], c["consents"]) for c in base]


def test_one_seed_gives_one_outbox(plain_run, tmp_path) -> None:
    outbox, base = simulate(tmp_path, "--store", "moto")

    assert sends(outbox) == sends(plain_run[1]) and len(outbox) > 0
    assert people(base) == people(plain_run[2])


@pytest.mark.parametrize(("spec", "says"), [
    ("flood", "'flood' is not supported"), ("throttle:2", "above 0 and below 1"), ("throttle", "share of calls"),
    ("poison:0", "number of records"), ("duplicate:2", "takes no value"),
])
def test_an_unknown_or_malformed_fault_is_refused_in_one_line(tmp_path, capsys, spec, says) -> None:
    assert main(["simulate", *SIZE, "--seed", "1", "--out", str(tmp_path), "--faults", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


# Enough days for the chains to send: everyone signs up on the first day, the welcome chain follows. About 150
# CPU-seconds, nearly all of it moto's (its response serialiser and per-item copies); `make test` runs `slow` too.
DIFFERENTIAL = ["--contacts", "200", "--days", "3", "--step-minutes", "60"]


@pytest.mark.slow
def test_the_same_seed_on_200_contacts_gives_the_same_outbox_from_both_stores(tmp_path) -> None:
    on_moto, moto_base = simulation_audit.simulate(tmp_path / "moto", DIFFERENTIAL, "--store", "moto", seed=7)
    outbox, base = simulation_audit.simulate(tmp_path / "memory", DIFFERENTIAL, seed=7)  # memory: the default

    assert len(base) == 200 and audit(outbox, base, load_strategy()) == []
    assert {m["category"] for m in outbox} > {"doi"}  # chain messages, not only the confirmation requests
    assert sends(outbox) == sends(on_moto)  # the same sends to the same people at the same times
    assert people(base) == people(moto_base)


def test_every_phone_of_a_large_synthetic_base_is_one_the_subscribe_route_accepts() -> None:
    import phonenumbers

    from cli.simulate.base import synthetic_base
    from cli.simulate.engine import START

    phones = [p.phone for seed in range(5) for p in synthetic_base(500, seed, START, 30) if p.phone]
    assert len(phones) > 1000
    assert [p for p in phones if not phonenumbers.is_valid_number(phonenumbers.parse(p))] == []
