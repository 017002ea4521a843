"""SQS consumers of what the world answers: SES feedback (bounce, complaint, delivery, open, click) and inbound
SMS (STOP). Both queues carry SNS envelopes, not our own work messages, so they are read as plain JSON."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import wiring
from chalicelib.observability import logger, metrics, record_bodies
from chalicelib.services.records import Outcome, json_object, run_records
from chalicelib.settings import get_settings

blueprint = Blueprint(__name__)
FEEDBACK = "feedback"
SMS_INBOUND = "sms-inbound"


def handle_feedback(body: dict[str, Any]) -> None:
    from chalicelib.delivery.feedback import FeedbackEvent
    from chalicelib.services.feedback import read_feedback

    feedback = read_feedback(body, FeedbackEvent)
    if feedback is not None:
        outcome = wiring.feedback().handle(feedback)
        logger.info("ses feedback", kind=outcome.kind, touch_id=outcome.touch_id, suppressed=outcome.suppressed,
                    counted=list(outcome.counted))


def handle_inbound_sms(body: dict[str, Any]) -> None:
    from chalicelib.delivery.feedback import InboundSms
    from chalicelib.services.feedback import read_feedback

    sms = read_feedback(body, InboundSms)
    if sms is not None:
        outcome = wiring.inbound_sms().handle(sms)
        logger.info("inbound sms", message_id=sms.message_id, status=outcome.status, contact_id=outcome.contact_id,
                    confirmation=outcome.confirmation)


def _summary(outcome: Outcome) -> dict[str, int]:
    return {"done": outcome.done, "retried": outcome.retried, "dead_lettered": outcome.dead_lettered}


@blueprint.on_sqs_message(queue=get_settings().queue(FEEDBACK), batch_size=10)
def on_feedback(event: SQSEvent) -> dict[str, int]:
    with wiring.stats().batched():  # a batch's deliveries and opens of one step are counted with one write
        outcome = run_records(record_bodies(event), FEEDBACK, handle_feedback, wiring.queues(), logger.warning,
                              parse=json_object)
    metrics.add_metric(name="FeedbackRecordsDone", unit="Count", value=outcome.done)
    return _summary(outcome)


@blueprint.on_sqs_message(queue=get_settings().queue(SMS_INBOUND), batch_size=10)
def on_sms_inbound(event: SQSEvent) -> dict[str, int]:
    outcome = run_records(record_bodies(event), SMS_INBOUND, handle_inbound_sms, wiring.queues(),
                          logger.warning, parse=json_object)
    metrics.add_metric(name="InboundSmsRecordsDone", unit="Count", value=outcome.done)
    return _summary(outcome)
