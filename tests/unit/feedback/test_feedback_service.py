"""The feedback use case on in-memory fakes: what each SES event changes, and that a repeat changes nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest

from chalicelib.clock import FixedClock
from chalicelib.delivery.feedback import FeedbackEvent, InboundSms, parse_feedback
from chalicelib.services.feedback import FeedbackService, feedback_event_id, read_feedback
from chalicelib.services.records import PermanentRecordError, json_object, run_records
from chalicelib.store.touches import STATUS_RANK, TouchRecord

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
SENT = TouchRecord("c-1", "welcome#1#0", "t-1", "email", "welcome-thanks", "trigger", "sent", AT,
                   chain_id="welcome", step=0, provider_message_id="m-1")


@dataclass
class Touches:
    rows: dict[str, TouchRecord] = field(default_factory=lambda: {SENT.touch_key: SENT})

    def by_provider_message(self, message_id: str) -> TouchRecord | None:
        return next((t for t in self.rows.values() if t.provider_message_id == message_id), None)

    def for_contact(self, contact_id: str) -> list[TouchRecord]:
        return [t for t in self.rows.values() if t.contact_id == contact_id]

    def advance_status(self, contact_id: str, touch_key: str, status: str, now: datetime) -> str | None:
        row = self.rows[touch_key]
        if STATUS_RANK.get(row.status, 99) >= STATUS_RANK[status]:
            return None
        self.rows[touch_key] = replace(row, status=status, updated_at=now)
        return row.status

    def mark(self, contact_id: str, touch_key: str, status: str, now: datetime, **_: object) -> None:
        self.rows[touch_key] = replace(self.rows[touch_key], status=status)


@dataclass
class Records:
    suppressed: dict[str, str] = field(default_factory=dict)
    ledger: dict[tuple[str, str], str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=lambda: {"email:c-1@example.com": "c-1"})

    def suppress(self, address: str, reason: str, at: datetime, source: str, feedback_id: str | None) -> bool:
        if address in self.suppressed:
            return False
        self.suppressed[address] = reason
        return True

    def append(self, contact_id: str, event) -> bool:
        key = (contact_id, event.key)
        if key in self.ledger:
            return False
        self.ledger[key] = event.kind
        return True

    def owner(self, identity: str) -> str | None:
        return self.owners.get(identity)


@dataclass
class Stats:
    counted: list[tuple[str, dict]] = field(default_factory=list)

    def count(self, touch: TouchRecord, counts: dict, at: datetime) -> None:
        self.counted.append((touch.touch_id, dict(counts)))


@dataclass
class Chains:
    applied: list[tuple[str, str, dict]] = field(default_factory=list)

    def apply(self, contact_id: str, event_type: str, occurred_at, now, properties=None) -> list[str]:
        self.applied.append((contact_id, event_type, dict(properties or {})))
        return []


def _service() -> tuple[FeedbackService, Touches, Records, Stats, Chains, list]:
    withdrawn: list[tuple] = []
    touches, records, stats, chains = Touches(), Records(), Stats(), Chains()
    service = FeedbackService(touches, records, stats, chains,  # type: ignore[arg-type]
                              lambda *args: withdrawn.append(args) or True, FixedClock(AT))
    return service, touches, records, stats, chains, withdrawn


def _event(kind: str, **changes: object) -> FeedbackEvent:
    base = FeedbackEvent(kind=kind, permanent=False, recipients=("c-1@example.com",), provider_message_id="m-1",  # type: ignore[arg-type]
                         feedback_id=f"m-1:{kind}", touch_id="t-1", contact_id="c-1", chain="welcome", step="0", at=AT)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_click_before_its_delivery_counts_delivered_opened_and_clicked_once() -> None:
    service, touches, _, stats, chains, _ = _service()
    outcomes = [service.handle(_event(kind)) for kind in ("click", "delivery", "open", "click")]

    assert [o.counted for o in outcomes] == [("delivered", "opened", "clicked"), (), (), ()]
    assert stats.counted == [("t-1", {"delivered": 1, "opened": 1, "clicked": 1})]
    assert [(e, p) for _, e, p in chains.applied] == [
        ("email_clicked", {"chain_id": "welcome"}), ("email_opened", {"chain_id": "welcome"}),
        ("email_clicked", {"chain_id": "welcome"}),
    ]
    assert touches.rows[SENT.touch_key].status == "clicked"


def test_a_bounce_after_an_open_counts_the_bounce_only() -> None:
    service, _, records, stats, _, _ = _service()
    service.handle(_event("open"))
    outcome = service.handle(_event("bounce", permanent=True, bounce_type="Permanent", feedback_id="fb-1"))

    assert outcome.counted == ("bounced",)
    assert stats.counted[-1] == ("t-1", {"bounced": 1})
    assert records.suppressed == {"email:c-1@example.com": "hard_bounce"}
    assert list(records.ledger.values()) == ["bounced"]


def test_a_complaint_withdraws_email_marketing_with_the_feedback_id_as_proof() -> None:
    service, _, records, _, _, withdrawn = _service()
    service.handle(_event("complaint", permanent=True, feedback_id="fb-9"))

    assert withdrawn == [("c-1", "email", "ses-complaint", "fb-9", AT)]
    assert records.suppressed == {"email:c-1@example.com": "complaint"}


def test_a_transient_bounce_and_feedback_for_an_unknown_message_change_nothing() -> None:
    service, touches, records, stats, chains, _ = _service()
    assert service.handle(_event("bounce", bounce_type="Transient")).kind == "transient_bounce"
    service.handle(_event("open", provider_message_id="someone-elses", touch_id=None, contact_id=None))

    assert (records.suppressed, stats.counted, chains.applied) == ({}, [], [])
    assert touches.rows[SENT.touch_key].status == "sent"


def test_an_unknown_recipient_of_a_multi_recipient_bounce_is_suppressed_without_a_ledger_entry() -> None:
    service, _, records, _, _, _ = _service()
    outcome = service.handle(_event("bounce", permanent=True, feedback_id="fb-2",
                                    recipients=("c-1@example.com", "stranger@example.org")))

    assert set(records.suppressed) == {"email:c-1@example.com", "email:stranger@example.org"}
    assert (outcome.suppressed, outcome.ledger_entries) == (2, 1)


def test_the_ledger_id_of_a_feedback_item_is_the_same_on_every_delivery_and_per_recipient() -> None:
    assert feedback_event_id("fb-1", "Anna@Example.com ") == feedback_event_id("fb-1", "anna@example.com")
    assert feedback_event_id("fb-1", "a@example.com") != feedback_event_id("fb-1", "b@example.com")
    assert feedback_event_id("fb-1", "a@example.com") != feedback_event_id("fb-2", "a@example.com")


def _envelope(message: dict) -> dict:
    return {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:123456789012:test-x",
            "Message": json.dumps(message)}


def test_reading_queue_bodies_drops_confirmations_and_dead_letters_the_unreadable_and_the_misrouted() -> None:
    sms = {"originationNumber": "+79161234567", "destinationNumber": "+447700900000", "messageBody": "STOP",
           "inboundMessageId": "in-1"}
    assert read_feedback({"Type": "SubscriptionConfirmation", "TopicArn": "arn:x"}, FeedbackEvent) is None
    assert isinstance(read_feedback(_envelope(sms), InboundSms), InboundSms)
    with pytest.raises(PermanentRecordError):
        read_feedback(_envelope({"hello": "world"}), FeedbackEvent)
    with pytest.raises(PermanentRecordError, match="expected FeedbackEvent"):
        read_feedback(_envelope(sms), FeedbackEvent)
    assert isinstance(parse_feedback(_envelope(sms)), InboundSms)


def test_feedback_queues_take_any_json_object_while_work_queues_still_need_a_kind() -> None:
    seen: list[dict] = []
    dead: list[tuple[str, dict]] = []

    class Requeue:
        def send(self, queue: str, body: dict, delay_seconds: int = 0) -> None:
            dead.append((queue, body))

    bodies = [json.dumps(_envelope({"eventType": "Open"})), "[1, 2]"]
    outcome = run_records(bodies, "feedback", seen.append, Requeue(), lambda *a, **k: None, parse=json_object)
    assert (outcome.done, outcome.dead_lettered, len(seen)) == (1, 1, 1)
    assert dead[0][0] == "feedback-dlq"
    outcome = run_records(bodies[:1], "steps", seen.append, Requeue(), lambda *a, **k: None)
    assert outcome.dead_lettered == 1  # no `kind`: not one of our work messages


def test_a_rejected_message_marks_its_touch_failed_and_counts_nothing() -> None:
    service, touches, records, stats, _, _ = _service()
    service.handle(_event("reject"))

    assert touches.rows[SENT.touch_key].status == "failed"
    assert (records.suppressed, stats.counted) == ({}, [])
