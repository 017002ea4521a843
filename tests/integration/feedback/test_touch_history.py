"""Every decision and failure is visible: a touch keeps its decisions in order on the card, a failed send
shows its error code and message on the card, in the step log line and in stats as `failed` by reason."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.services.steps import StepWorker
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, TouchModel
from chalicelib.store.touches import HISTORY_LIMIT, TouchRecord
from tests.integration.feedback.conftest import NOW, add_contact, enrol, run_due_steps, worker
from tests.integration.helpers import RENDER_ERROR, due_messages, failing_outbound

NIGHT = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)  # 23:30 in Moscow: inside email's quiet hours (22-08)
MORNING = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 08:00 in Moscow


def failing_worker() -> StepWorker:
    step_worker = worker()
    return dataclasses.replace(step_worker, outbound=failing_outbound(step_worker.outbound))


def minimal_contact(contact_id: str) -> None:
    """Email only: no name, no attributes, no phone."""
    ContactModel(
        contact_id, status="active", email=f"{contact_id}@example.com", timezone="Europe/Moscow",
        created_at=NOW, consents={k: {"state": "granted", "at": NOW.isoformat()}
                                  for k in ("email:marketing", "any:data_processing")},
    ).save()


def admin_get(api: Any, path: str) -> dict[str, Any]:
    key = ApiKeyRepository().create("service-manager", None, None, NOW)[1]
    response = api.http.get(path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def history(touch: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(h["decision"], h["status"], h["reason"]) for h in touch["history"]]


def test_a_touch_deferred_for_quiet_hours_then_sent_keeps_both_in_order_on_the_card(api, clock) -> None:
    add_contact("c-1")
    enrol("c-1", at=NIGHT)
    clock.at = NIGHT
    [deferred] = run_due_steps()
    clock.at = MORNING
    [sent] = run_due_steps()
    assert (deferred.decision, sent.touch_status) == ("defer", "sent")

    [touch] = admin_get(api, "/v1/admin/contacts/c-1")["touches"]
    assert (touch["status"], touch["decision"], touch["reason"]) == ("sent", "send", "clear")
    assert (touch["error_code"], touch["error"]) == (None, None)
    assert history(touch) == [("defer", "deferred", "quiet_hours"), ("send", "reserved", "clear"),
                              ("send", "sent", None)]
    first, reserved, done = touch["history"]
    assert first["rule"] == "quiet_hours"
    assert datetime.fromisoformat(first["at"]) == NIGHT
    assert datetime.fromisoformat(first["until"]) == MORNING  # 08:00 Moscow
    assert datetime.fromisoformat(reserved["at"]) == datetime.fromisoformat(done["at"]) == MORNING


def test_a_minimal_contact_gets_the_same_history_with_no_name(api, clock) -> None:
    minimal_contact("c-min")
    enrol("c-min", at=NIGHT)
    clock.at = NIGHT
    run_due_steps()
    [touch] = admin_get(api, "/v1/admin/contacts/c-min")["touches"]
    assert history(touch) == [("defer", "deferred", "quiet_hours")]
    assert datetime.fromisoformat(touch["until"]) == MORNING


def test_a_template_failure_shows_on_the_card_in_the_log_line_and_in_stats(api, monkeypatch, caplog,
                                                                          capsys) -> None:
    import app  # noqa: F401  the blueprints and their middleware, as Lambda loads them
    from functions import queues

    minimal_contact("c-2")
    enrol("c-2")
    broken = failing_worker()
    monkeypatch.setattr(wiring, "step_worker", lambda: broken)
    capsys.readouterr()
    [message] = due_messages(NOW)
    with caplog.at_level("INFO", logger="touchplan"):
        queues.run_step(message)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    [touch] = admin_get(api, "/v1/admin/contacts/c-2")["touches"]
    assert (touch["status"], touch["error_code"], touch["error"]) == ("failed", "template_render_failed", RENDER_ERROR)
    assert history(touch) == [("send", "reserved", "clear"), ("send", "failed", None)]
    assert (touch["history"][-1]["error_code"], touch["history"][-1]["error"]) == ("template_render_failed",
                                                                                  RENDER_ERROR)

    [log] = [vars(r) for r in caplog.records if r.getMessage() == "step"]
    assert (log["contact_id"], log["decision"], log["reason"], log["touch"], log["error_code"]) == (
        "c-2", "send", "clear", "failed", "template_render_failed")
    assert "@" not in json.dumps(log, default=str)  # ids only, never addresses (nor the error's message)
    [metric] = [line for line in metrics if "Failed" in line]
    assert (metric["chain"], metric["step"], metric["reason"], metric["Failed"]) == (
        "welcome", "0", "template_render_failed", [1.0])

    day = NOW.date().isoformat()
    [row] = admin_get(api, f"/v1/admin/stats?chain=welcome&from={day}&to={day}")["rows"]
    assert (row["step"], row["sent"], row["failed"], row["failed_by_reason"]) == (
        0, 0, 1, {"template_render_failed": 1})


def test_a_throttled_send_keeps_the_held_attempt_and_the_retry_clears_the_error(aws) -> None:
    from botocore.stub import Stubber

    add_contact("c-3")
    enrol("c-3")
    step_worker = worker()
    [message] = due_messages(NOW)
    with Stubber(step_worker.outbound.email._client) as stub, pytest.raises(Exception, match="429"):
        stub.add_client_error("send_email", "TooManyRequestsException", http_status_code=429)
        step_worker.handle(message)
    step_worker.handle(message)

    [touch] = wiring.touches().for_contact("c-3")
    assert [(h.status, h.error_code) for h in touch.history] == [
        ("reserved", None), ("held", "toomanyrequests"), ("reserved", None), ("sent", None)]
    assert (touch.status, touch.error_code, touch.error) == ("sent", None, None)


def test_the_history_is_written_with_one_request_per_change_and_capped(aws) -> None:
    touches = wiring.touches()
    client = TouchModel._get_connection().connection.client
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    touch = TouchRecord("c-4", "welcome#1#0", "t-1", "email", "welcome-thanks", "trigger", "deferred", NOW,
                        decision="defer", reason="quiet_hours", rule="quiet_hours", until=NOW + timedelta(hours=9))
    touches.record_decision(touch)
    assert touches.reserve(dataclasses.replace(touch, status="reserved", decision="send", reason="clear"))
    touches.mark("c-4", touch.touch_key, "sent", NOW, provider_message_id="m-1")
    assert calls == ["UpdateItem"] * 3  # as many requests as before the history: one per change, no read
    calls.clear()
    assert touches.advance_status("c-4", touch.touch_key, "opened", NOW) == "sent"
    assert touches.advance_status("c-4", touch.touch_key, "opened", NOW) is None  # a mail opened again
    assert touches.advance_status("c-9", touch.touch_key, "opened", NOW) is None  # no such touch
    assert calls == ["UpdateItem"] * 3  # a refused move tells why with its refusal: no read after it

    for minute in range(HISTORY_LIMIT + 5):
        touches.mark("c-4", touch.touch_key, "held", NOW + timedelta(minutes=minute), error_code="x",
                     error=f"attempt {minute}")
    stored = touches.get("c-4", touch.touch_key)
    assert len(stored.history) == HISTORY_LIMIT
    assert stored.history[-1].error == f"attempt {HISTORY_LIMIT + 4}"  # the newest kept, the oldest dropped
    assert [h.at for h in stored.history] == sorted(h.at for h in stored.history)
