"""`touchplan explain CONTACT` against a moto server: the real command in its own process, reading what the
app stored: consents with their ledger proof, enrolments with their next due time, every touch with every
decision, reason, rule and error, in the contact's zone and in UTC."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from chalicelib.clock import FixedClock
from chalicelib.store.models import ContactModel, IdentityModel
from cli import stack
from cli.local import free_port
from cli.outbox import sent_mail
from tests.integration.consent.conftest import contact_id_of, link_in, post_signup, run_doi_worker
from tests.integration.feedback.conftest import worker
from tests.integration.helpers import RENDER_ERROR, due_messages, failing_outbound

ROOT = Path(__file__).resolve().parents[2]
# 23:00 on Tuesday in Los Angeles: night, inside email's quiet hours (22:00-08:00).
NIGHT = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
MORNING = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
EMAIL = "night.owl@example.com"


@pytest.fixture
def clock(clock: FixedClock) -> FixedClock:
    clock.at = NIGHT
    return clock


@pytest.fixture
def moto_port(aws: Any) -> Iterator[int]:
    """A moto server over the test's own in-memory AWS (the server and mock_aws share moto's backends)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield port
    server.stop()


def explain(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "TOUCHPLAN_STAGE": "test"}
    return subprocess.run([sys.executable, "-m", "cli.main", "explain", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def night_owl(api: Any, clock: FixedClock) -> str:
    """Signed up with an email, one consent and a zone only (no name, no attributes), confirmed at night;
    the welcome mail is deferred to the morning, where its template fails."""
    response = post_signup(api, {
        "email": EMAIL, "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
        "data_processing": {"text_id": "personal-data-v1"}, "timezone": "America/Los_Angeles",
    })
    assert response.status_code == 202, response.body
    assert run_doi_worker() == 1
    assert api.http.get(link_in(sent_mail()[-1].text)).status_code == 200
    at_night = {m["chain_id"]: worker().handle(m) for m in due_messages(NIGHT)}
    assert at_night["welcome"] is not None and at_night["welcome"].decision == "defer"
    clock.at = MORNING
    step_worker = worker()
    step_worker = dataclasses.replace(step_worker, outbound=failing_outbound(step_worker.outbound))
    in_the_morning = {m["chain_id"]: step_worker.handle(m) for m in due_messages(MORNING)}
    assert in_the_morning["welcome"] is not None and in_the_morning["welcome"].touch_status == "failed"
    return contact_id_of(EMAIL)


def test_explain_prints_the_timeline_for_a_person(night_owl, moto_port) -> None:
    result = explain(moto_port, EMAIL.upper())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Contact {night_owl}  active" in out
    assert "name        (no name)" in out
    assert "zone        America/Los_Angeles" in out
    # The consents and their proof: the request at sign-up, the confirmation by the DOI link.
    assert "email:marketing        granted  2026-11-24 23:00 PST (2026-11-25 07:00 UTC)" in out
    ledger = out.split("Consent ledger (proof)")[1].split("Enrolments")[0]
    assert "requested" in ledger and "confirmed" in ledger and "text marketing-email-v1" in ledger
    assert "sha256 " in ledger and "any:data_processing" in ledger
    # The welcome chain is past its failed first mail, due again in two days (08:00 PST on Friday).
    assert "welcome                running   step 1  next due 2026-11-27 08:00 PST (2026-11-27 16:00 UTC)" in out
    touches = out.split("Touches")[1]
    assert "welcome step 0  email  welcome-thanks  now failed" in touches
    assert ("2026-11-24 23:00 PST (2026-11-25 07:00 UTC)  defer  deferred  reason quiet_hours  rule quiet_hours  "
            "until 2026-11-25 08:00 PST (2026-11-25 16:00 UTC)") in touches
    assert "2026-11-25 08:00 PST (2026-11-25 16:00 UTC)  send   reserved  reason clear  rule all" in touches
    assert f"send   failed    error template_render_failed: {RENDER_ERROR}" in touches
    # The DOI message is a touch too: sent at night, since it answers the customer's own sign-up.
    assert "doi" in touches and "reason double_opt_in" in touches


def test_explain_json_gives_scripts_every_decision_with_both_times(night_owl, moto_port) -> None:
    result = explain(moto_port, night_owl, "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["zone"] == "America/Los_Angeles"
    assert view["contact"]["contact_id"] == night_owl and view["contact"]["attributes"] == {}
    assert {(e["kind"], e["key"]) for e in view["ledger"]} >= {
        ("requested", "email:marketing"), ("confirmed", "email:marketing"), ("confirmed", "any:data_processing")}
    assert all(e["text_sha256"] for e in view["ledger"] if e["kind"] in ("requested", "confirmed"))
    [welcome] = [e for e in view["enrollments"] if e["chain_id"] == "welcome"]
    assert welcome["next_due"] == {"utc": "2026-11-27T16:00:00Z", "local": "2026-11-27T08:00:00-08:00"}
    [touch] = [t for t in view["touches"] if t["chain_id"] == "welcome"]
    assert (touch["status"], touch["error_code"], touch["error"]) == ("failed", "template_render_failed", RENDER_ERROR)
    steps = [(h["decision"], h["status"], h["reason"], h["rule"]) for h in touch["history"]]
    assert steps == [("defer", "deferred", "quiet_hours", "quiet_hours"), ("send", "reserved", "clear", "all"),
                     ("send", "failed", None, None)]
    deferred = touch["history"][0]
    assert deferred["at"] == {"utc": "2026-11-25T07:00:00Z", "local": "2026-11-24T23:00:00-08:00"}
    assert deferred["until"] == {"utc": "2026-11-25T16:00:00Z", "local": "2026-11-25T08:00:00-08:00"}
    assert touch["history"][-1]["error_code"] == "template_render_failed"


def test_explain_finds_a_contact_by_phone_as_typed(aws, moto_port) -> None:
    ContactModel("c-phone", status="active", phone="+79161234567", created_at=NIGHT).save()
    IdentityModel("phone:+79161234567", contact_id="c-phone", created_at=NIGHT).save()
    result = explain(moto_port, "+7 916 123-45-67", "--json")
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert (view["contact"]["contact_id"], view["zone"], view["touches"]) == ("c-phone", "UTC", [])
    unknown = explain(moto_port, "nobody@example.com")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "touchplan explain: nobody@example.com: no contact has this address.\n"
    # An id no row can have is not found, not a storage error ("cannot read stage": DynamoDB refuses the key).
    for impossible in ("", "x" * 3000):
        result = explain(moto_port, impossible)
        assert (result.returncode, result.stderr) == (1, f"touchplan explain: {impossible}: No contact with this id.\n")


def test_explain_says_in_one_line_when_nothing_answers() -> None:
    result = explain(free_port(), "anna@example.com")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("touchplan explain: nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:")


def test_explain_with_no_stack_running_says_so_in_one_line(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "TOUCHPLAN_STAGE")}
    env["TOUCHPLAN_LOCAL_STATE"] = str(tmp_path / "none.json")
    result = subprocess.run([sys.executable, "-m", "cli.main", "explain", "anna@example.com"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line == f"touchplan explain: {stack.NO_STACK}"

