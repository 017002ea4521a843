"""The step worker on moto: a due welcome step is decided, sent once, and the chain moves on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.domain.chains import start
from chalicelib.services.steps import SendHeld, StepWorker
from chalicelib.services.tick import tick
from chalicelib.store.enrollments import LEASE, EnrollmentRepository
from chalicelib.store.models import ContactModel, SuppressionModel, TouchModel
from chalicelib.store.snapshots import load_snapshot, suppress_contact
from cli.outbox import sent_mail
from tests.integration.helpers import NOW, CapturedSteps, due_messages

LINKS = {"unsubscribe_url": "https://touchplan.example.com/v1/unsubscribe?token=t",
         "preferences_url": "https://touchplan.example.com/v1/preferences?token=t"}


def _contact(contact_id: str = "c-1", **consents: str) -> None:
    states = {"email:marketing": "granted", "any:data_processing": "granted", **consents}
    ContactModel(
        contact_id, status="active", email=f"{contact_id}@example.com", timezone="Europe/Moscow", locale="ru-RU",
        created_at=NOW, attributes={"first_name": "Anna"},
        consents={key: {"state": state, "at": NOW.isoformat()} for key, state in states.items()},
    ).save()


def _worker(clock: FixedClock) -> StepWorker:
    return StepWorker(
        strategy=wiring.strategy(), enrollments=wiring.enrollments(), touches=wiring.touches(),
        contacts=wiring.contacts(), snapshots=load_snapshot, outbound=wiring.outbound(), links=lambda _: LINKS,
        clock=clock,
        timers=wiring.timers(), chain_events=wiring.chain_events(), suppress=suppress_contact,
    )


def _enrol(contact_id: str = "c-1", chain_id: str = "welcome") -> None:
    chain = wiring.strategy().chains[chain_id]
    state = start(chain, None, contact_id, NOW)
    assert state is not None
    wiring.enrollments().save(state, None, NOW)


def _due_messages(clock: FixedClock) -> list[dict]:
    return due_messages(clock.now())


def test_a_due_welcome_step_sends_one_email_and_schedules_the_next_in_two_days(aws, clock) -> None:
    _contact()
    _enrol()
    [message] = _due_messages(clock)
    outcome = _worker(clock).handle(message)
    assert (outcome.decision, outcome.touch_status) == ("send", "sent")
    [mail] = sent_mail()
    assert mail.to == ["c-1@example.com"]
    assert mail.headers["List-Unsubscribe"] == f"<{LINKS['unsubscribe_url']}>"
    stored = wiring.enrollments().get("c-1", "welcome")
    assert stored.state.step == 1 and stored.state.due_at == NOW + timedelta(days=2)  # the 2-day wait
    assert stored.claim is None
    [touch] = wiring.touches().for_contact("c-1")
    assert (touch.status, touch.chain_id, touch.step) == ("sent", "welcome", 0)


def test_a_redelivered_step_message_never_sends_twice(aws, clock) -> None:
    _contact()
    _enrol()
    [message] = _due_messages(clock)
    worker = _worker(clock)
    worker.handle(message)
    assert worker.handle(message) is None
    assert len(sent_mail()) == 1


def test_throttling_holds_the_touch_and_the_retry_sends_exactly_one_mail(aws, clock) -> None:
    _contact()
    _enrol()
    [message] = _due_messages(clock)
    worker = _worker(clock)
    ses = worker.outbound.email._client
    with Stubber(ses) as stub:
        stub.add_client_error("send_email", "TooManyRequestsException", http_status_code=429)
        with pytest.raises(SendHeld):
            worker.handle(message)
        stub.assert_no_pending_responses()
    assert [t.status for t in wiring.touches().for_contact("c-1")] == ["held"]
    outcome = worker.handle(message)
    assert outcome.touch_status == "sent"
    assert len(sent_mail()) == 1


def test_quiet_hours_defer_the_step_to_eight_in_the_morning_local(aws, clock) -> None:
    _contact()
    night = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    chain = wiring.strategy().chains["welcome"]
    state = start(chain, None, "c-1", night)
    wiring.enrollments().save(state, None, night)
    clock.at = night
    [message] = _due_messages(clock)
    outcome = _worker(clock).handle(message)
    assert outcome.decision == "defer"
    assert sent_mail() == []
    stored = wiring.enrollments().get("c-1", "welcome")
    assert stored.state.step == 0
    assert stored.state.due_at == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 08:00 Moscow


def test_a_revoked_consent_is_rechecked_at_send_time(aws, clock) -> None:
    _contact()
    _enrol()
    [message] = _due_messages(clock)
    row = ContactModel.get("c-1")
    row.consents = {**row.consents.as_dict(), "email:marketing": {"state": "revoked"}}
    row.save()
    outcome = _worker(clock).handle(message)
    assert outcome.touch_status is None or outcome.touch_status == "skipped"
    assert sent_mail() == []


def test_a_suppressed_address_gets_nothing(aws, clock) -> None:
    _contact()
    SuppressionModel("email:c-1@example.com", reason="hard_bounce", at=NOW).save()
    _enrol()
    [message] = _due_messages(clock)
    _worker(clock).handle(message)
    assert sent_mail() == []
    [touch] = TouchModel.query("c-1")
    assert (touch.status, touch.reason) == ("skipped", "suppressed")


def test_step_messages_are_json_the_queue_accepts(aws, clock) -> None:
    _contact()
    _enrol()
    [message] = _due_messages(clock)
    assert json.loads(json.dumps(message))["kind"] == "step"


def test_a_second_tick_does_not_claim_what_the_first_claimed(aws, clock) -> None:
    _contact()
    _enrol()
    assert len(_due_messages(clock)) == 1
    assert _due_messages(clock) == []


def test_a_step_whose_worker_died_falls_due_again_when_the_lease_ends(aws, clock) -> None:
    _contact()
    _enrol()
    [lost] = _due_messages(clock)
    clock.advance(seconds=LEASE + 1)
    [again] = _due_messages(clock)
    assert again["claim"] != lost["claim"]
    worker = _worker(clock)
    assert worker.handle(lost) is None  # the stale message finds another claim and does nothing
    assert worker.handle(again).touch_status == "sent"
    assert len(sent_mail()) == 1


def test_the_tick_leaves_work_beyond_its_budget_for_the_next_tick(aws) -> None:
    one_shard = EnrollmentRepository(shards=1)
    for n in range(5):
        _contact(f"c-{n}")
        one_shard.save(start(wiring.strategy().chains["welcome"], None, f"c-{n}", NOW), None, NOW)
    captured = CapturedSteps()
    result = tick(one_shard, captured, 1, NOW, budget=3)
    assert (result.claimed, result.more_waiting) == (3, True)
    result = tick(one_shard, captured, 1, NOW, budget=3)
    assert (result.claimed, result.more_waiting) == (2, False)
    assert len({(m["contact_id"], m["chain_id"]) for m in captured.messages}) == 5


def test_an_order_arms_the_leaving_timer_which_starts_reactivation_160_days_later(aws, clock) -> None:
    from chalicelib.services.contact_events import EventWorker
    from chalicelib.store.models import IdentityModel
    from chalicelib.store.profiles import ProfileRepository

    _contact()
    IdentityModel("email:c-1@example.com", contact_id="c-1", created_at=NOW).save()
    order = {"type": "order_placed", "id": "o-1", "contact": {"email": "c-1@example.com"},
             "occurred_at": NOW.isoformat(), "properties": {"amount": 500}}
    EventWorker(wiring.strategy(), ProfileRepository(), wiring.chain_events(), wiring.timers(), clock).handle(
        {"kind": "event", "event": order})
    assert [m["chain_id"] for m in _due_messages(clock)] == ["nps"]  # the order starts the NPS chain at once
    clock.advance(days=160, hours=1)
    due = _due_messages(clock)
    timer = next(m for m in due if m["chain_id"] == "timer:leaving")
    outcome = _worker(clock).handle(timer)
    assert outcome.status == "completed" and "reactivation" in (outcome.reason or "")
    assert wiring.enrollments().get("c-1", "reactivation").state.status == "running"
    assert _worker(clock).handle(timer) is None  # fired once


def test_a_browse_reminder_shows_the_viewed_product_two_hours_later(aws, clock) -> None:
    from chalicelib.domain.rules import in_holdout
    from chalicelib.services.contact_events import EventWorker
    from chalicelib.store.models import IdentityModel
    from chalicelib.store.profiles import ProfileRepository

    contact_id = next(f"c-{n}" for n in range(100) if not in_holdout(f"c-{n}", "abandoned-browse", 0.05))
    _contact(contact_id)
    IdentityModel(f"email:{contact_id}@example.com", contact_id=contact_id, created_at=NOW).save()
    view = {"type": "product_viewed", "id": "v-1", "contact": {"contact_id": contact_id},
            "occurred_at": NOW.isoformat(),
            "properties": {"sku": "A1", "name": "Vitamin D3", "url": "https://shop.example.com/p/A1"}}
    EventWorker(wiring.strategy(), ProfileRepository(), wiring.chain_events(), wiring.timers(), clock).handle(
        {"kind": "event", "event": view})
    clock.advance(hours=2)
    [message] = [m for m in _due_messages(clock) if m["chain_id"] == "abandoned-browse"]
    assert _worker(clock).handle(message).touch_status == "sent"
    [mail] = sent_mail()
    assert "Vitamin D3" in mail.text and "https://shop.example.com/p/A1" in mail.text


def test_the_welcome_promo_shows_the_occasion_offer_unless_the_contact_has_a_personal_one(aws) -> None:
    from chalicelib.services.outbound import Envelope, Recipient

    outbound = wiring.outbound()
    occasion = wiring.strategy().occasions["welcome-promo"]
    envelope = Envelope("t-1", "welcome", 6, "trigger", "marketing", None)
    for attributes, code in (({}, "WELCOME10"), ({"offer": {"promo_code": "ANNA-7"}}, "ANNA-7")):
        outbound.send("email", occasion, Recipient("c-1", "c-1@example.com", None, None, "en", attributes),
                      envelope, LINKS, NOW)
        assert code in sent_mail()[-1].text


def test_when_two_chains_compete_for_one_slot_the_higher_priority_goes_first(aws, clock) -> None:
    _contact()
    _enrol(chain_id="welcome")  # welcome-thanks: priority 60
    _enrol(chain_id="birthday")  # birthday-greeting: priority 65
    messages = {m["chain_id"]: m for m in _due_messages(clock)}
    worker = _worker(clock)
    welcome = worker.handle(messages["welcome"])  # handled first, yet it yields to the birthday greeting
    assert (welcome.decision, welcome.reason) == ("defer", "lower_priority")
    birthday = worker.handle(messages["birthday"])
    assert (birthday.decision, birthday.touch_status) == ("send", "sent")
    assert len(sent_mail()) == 1
    assert wiring.enrollments().get("c-1", "welcome").state.due_at == NOW + timedelta(hours=4)


def test_the_tick_stops_between_shards_when_the_invocation_runs_out_of_time(aws, clock) -> None:
    for n in range(3):
        _contact(f"c-{n}")
        _enrol(f"c-{n}")
    result = tick(wiring.enrollments(), CapturedSteps(), wiring.enrollments().shards, NOW, out_of_time=lambda: True)
    assert (result.claimed, result.more_waiting) == (0, True)
    assert len(_due_messages(clock)) == 3  # all still due for the next tick


def test_the_scheduled_tick_handler_queues_due_steps(aws, clock) -> None:
    from chalice.test import Client

    from app import app

    _contact()
    a_minute_ago = clock.now() - timedelta(minutes=1)
    wiring.enrollments().save(start(wiring.strategy().chains["welcome"], None, "c-1", a_minute_ago), None, NOW)
    with Client(app, stage_name="test") as client:
        answer = client.lambda_.invoke("tick", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert answer.payload["claimed"] >= 1
    sqs = wiring.client("sqs")
    messages = sqs.receive_message(QueueUrl=wiring.queues().url("steps"), MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["contact_id"] for m in messages] == ["c-1"]
