"""Bounces and complaints through the real path: SES event -> SNS topic -> feedback queue -> on_feedback."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import wiring
from chalicelib.store.models import ConsentEventModel, ContactModel, SuppressionModel
from cli.outbox import publish_feedback
from tests.integration.feedback.conftest import NOW, add_contact, drain, send_welcome

BOUNCED_AT = NOW + timedelta(seconds=3)


def _ledger(contact_id: str, kind: str) -> list[ConsentEventModel]:
    return [row for row in ConsentEventModel.query(contact_id) if row.kind == kind]


def test_a_permanent_bounce_for_two_recipients_delivered_twice_suppresses_both_with_one_entry_each(
    feedback_handlers,
) -> None:
    add_contact("c-1")
    other = add_contact("c-2")
    mail = send_welcome("c-1")
    for _ in range(2):  # SNS delivers at least once: the same event twice
        record = publish_feedback("bounce-permanent", mail.message_id, recipients=["c-1@example.com", other],
                                  feedback_id="fb-0001", at=BOUNCED_AT)
    results = drain("feedback", feedback_handlers.on_feedback)

    assert sum(r["done"] for r in results) == 2
    for address in ("email:c-1@example.com", "email:c-2@example.com"):
        row = SuppressionModel.get(address)
        assert (row.reason, row.feedback_id) == ("hard_bounce", "fb-0001")
    assert len(_ledger("c-1", "bounced")) == 1
    assert len(_ledger("c-2", "bounced")) == 1
    [entry] = _ledger("c-1", "bounced")
    assert entry.detail["bounce_type"] == "Permanent"
    assert "c-1@example.com" not in str(entry.detail.as_dict())  # the ledger keeps hashes, not addresses
    [touch] = wiring.touches().for_contact("c-1")
    assert touch.status == "bounced"
    assert record["bounce"]["bounceType"] == "Permanent"


def test_a_transient_bounce_suppresses_nothing(feedback_handlers) -> None:
    add_contact("c-1")
    mail = send_welcome("c-1")
    publish_feedback("bounce-transient", mail.message_id)
    drain("feedback", feedback_handlers.on_feedback)

    assert list(SuppressionModel.scan()) == []
    assert _ledger("c-1", "bounced") == []
    [touch] = wiring.touches().for_contact("c-1")
    assert touch.status == "sent"


def test_a_complaint_suppresses_and_revokes_email_marketing_and_the_welcome_chain_stops(feedback_handlers) -> None:
    add_contact("c-1")
    mail = send_welcome("c-1")
    for _ in range(2):
        publish_feedback("complaint", mail.message_id, feedback_id="fb-c-1", at=BOUNCED_AT)
    drain("feedback", feedback_handlers.on_feedback)

    assert SuppressionModel.get("email:c-1@example.com").reason == "complaint"
    consents = ContactModel.get("c-1").consents.as_dict()
    assert consents["email:marketing"]["state"] == "revoked"
    assert consents["email:marketing"]["source"] == "ses-complaint"
    assert len(_ledger("c-1", "complained")) == 1
    [revoked] = _ledger("c-1", "revoked")
    assert (revoked.channel, revoked.purpose, revoked.detail["reference"]) == ("email", "marketing", "fb-c-1")
    assert wiring.enrollments().get("c-1", "welcome").state.status in ("paused", "exited")
    [touch] = wiring.touches().for_contact("c-1")
    assert touch.status == "complained"


def test_an_unreadable_feedback_message_is_dead_lettered_and_a_subscription_confirmation_dropped(
    feedback_handlers,
) -> None:
    sqs = wiring.client("sqs")
    url = wiring.queues().url("feedback")
    sqs.send_message(QueueUrl=url, MessageBody='{"Type": "SubscriptionConfirmation", "TopicArn": "arn:x"}')
    sqs.send_message(QueueUrl=url, MessageBody='{"Type": "Notification", "TopicArn": "arn:x", "Message": "{}"}')
    [result] = drain("feedback", feedback_handlers.on_feedback)

    assert (result["done"], result["dead_lettered"]) == (1, 1)
    dead = sqs.receive_message(QueueUrl=wiring.queues().url("feedback-dlq"))["Messages"]
    assert len(dead) == 1
