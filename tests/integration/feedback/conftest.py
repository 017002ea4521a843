"""Feedback on moto: mail and SMS really sent by the step worker, then answered the way AWS answers.

SES events and inbound SMS are published to the stack's SNS topics (as the local outbox does), SNS fans
them into the queues, and the real Lambda handlers take them from there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.domain.chains import start
from chalicelib.services.steps import StepOutcome, StepWorker
from chalicelib.services.tokens import Links
from chalicelib.store.models import ContactModel, IdentityModel
from cli.dispatcher import sqs_event
from cli.outbox import CapturedMail, sent_mail
from tests.integration.helpers import NOW, due_messages


def add_contact(contact_id: str, *, phone: str | None = None, **consents: str) -> str:
    """An active contact with email marketing (and SMS marketing when `phone` is given), with identities."""
    email = f"{contact_id}@example.com"
    states = {"email:marketing": "granted", "any:data_processing": "granted", **consents}
    if phone:
        states.setdefault("sms:marketing", "granted")
    ContactModel(
        contact_id, status="active", email=email, phone=phone, timezone="Europe/Moscow", locale="ru-RU",
        created_at=NOW, attributes={"first_name": "Anna"},
        consents={key: {"state": state, "at": NOW.isoformat()} for key, state in states.items()},
    ).save()
    IdentityModel(f"email:{email}", contact_id=contact_id, created_at=NOW).save()
    if phone:
        IdentityModel(f"phone:{phone}", contact_id=contact_id, created_at=NOW).save()
    return email


def worker() -> StepWorker:
    """The app's step worker, on the test's clock like every service."""
    # Marketing mail needs an https unsubscribe link; the test stage's base URL is the local http one.
    links = Links(wiring.token_keys(), "https://touchplan.example.com", wiring.clock())
    return dataclasses.replace(wiring.step_worker(), links=links.for_contact)


def enrol(contact_id: str, chain_id: str = "welcome", at: datetime = NOW) -> None:
    state = start(wiring.strategy().chains[chain_id], None, contact_id, at)
    assert state is not None
    wiring.enrollments().save(state, None, at)


def run_due_steps(step_worker: StepWorker | None = None) -> list[StepOutcome | None]:
    """Runs the steps the tick finds due at the test clock's now."""
    step_worker = step_worker or worker()
    return [step_worker.handle(message) for message in due_messages(wiring.clock().now())]


def send_welcome(contact_id: str) -> CapturedMail:
    """Enrols the contact in the welcome chain at the test clock's now and runs its first step: one real mail
    through moto SES."""
    before = {m.message_id for m in sent_mail()}
    enrol(contact_id, at=wiring.clock().now())
    [outcome] = run_due_steps()
    assert outcome is not None and outcome.touch_status == "sent"
    [mail] = [m for m in sent_mail() if m.message_id not in before]
    return mail


def drain(queue: str, handler: Callable[[dict[str, Any], Any], Any]) -> list[Any]:
    """Feeds every message waiting on `queue` to the Lambda `handler`, as the event source mapping does."""
    sqs = wiring.client("sqs")
    url = wiring.queues().url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    results = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return results
        results.append(handler(sqs_event(arn, messages), None))
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ])


@pytest.fixture
def feedback_handlers(aws: Any) -> Any:
    import app  # noqa: F401  registers the blueprints and their middleware, as Lambda does
    from functions import feedback

    return feedback
