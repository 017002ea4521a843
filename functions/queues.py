"""SQS consumers: `on_step` routes the steps queue's messages by `kind`; `on_event` applies ingested events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import wiring
from chalicelib.observability import logger, metrics, record_bodies
from chalicelib.services.records import PermanentRecordError, run_records
from chalicelib.settings import get_settings

blueprint = Blueprint(__name__)
STEPS = "steps"
EVENTS = "events"


def send_doi(body: dict[str, Any]) -> None:
    from chalicelib.services.doi import DoiJob

    job = DoiJob.from_body(body)
    outcome = wiring.double_opt_in().send(job)
    logger.info("doi message", contact_id=job.contact_id, channel=job.channel, outcome=outcome)


def run_step(body: dict[str, Any]) -> None:
    outcome = wiring.step_worker().handle(body)
    if outcome is not None:
        # Ids and codes only: the error message may quote the contact's data, the touch keeps it.
        logger.info("step", contact_id=body["contact_id"], chain_id=body["chain_id"], status=outcome.status,
                    decision=outcome.decision, reason=outcome.reason, touch=outcome.touch_status,
                    error_code=outcome.error_code)


# One entry per message kind on the steps queue.
STEP_KINDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "doi": send_doi,
    "step": run_step,
}


def route_step(body: dict[str, Any]) -> None:
    handler = STEP_KINDS.get(body["kind"])
    if handler is None:
        raise PermanentRecordError(f"unknown kind {body['kind']!r} on the steps queue")
    handler(body)


@blueprint.on_sqs_message(queue=get_settings().queue(STEPS), batch_size=10)
def on_step(event: SQSEvent) -> dict[str, int]:
    with wiring.stats().batched():  # a batch's sends of one step are counted with one write
        outcome = run_records(record_bodies(event), STEPS, route_step, wiring.queues(), logger.warning)
    metrics.add_metric(name="StepRecordsDone", unit="Count", value=outcome.done)
    return {"done": outcome.done, "retried": outcome.retried, "dead_lettered": outcome.dead_lettered}


def well_formed(body: dict[str, Any]) -> dict[str, Any]:
    """The queued event held to the ingest edge's rules again: one queued before a rule existed (or written by
    hand) and that can never apply is dead-lettered at once with the reason, not retried five times."""
    from chalicelib.services.errors import ClientError
    from chalicelib.services.ingest import parse_event

    try:
        event = parse_event(body.get("event"), "")
    except ClientError as exc:
        raise PermanentRecordError(f"{exc.code}: {exc.message}") from exc
    return {**body, "event": asdict(event)}


def apply_event(body: dict[str, Any]) -> None:
    body = well_formed(body)
    outcome = wiring.event_worker().handle(body)
    logger.info("event", event_id=body["event"]["id"], type=body["event"]["type"], status=outcome.status,
                contact_id=outcome.contact_id, chains=list(outcome.chains))
    metrics.add_metric(name=f"Events{outcome.status.capitalize()}", unit="Count", value=1)


@blueprint.on_sqs_message(queue=get_settings().queue(EVENTS), batch_size=10)
def on_event(event: SQSEvent) -> dict[str, int]:
    with wiring.stats().batched():
        outcome = run_records(record_bodies(event), EVENTS, apply_event, wiring.queues(), logger.warning)
    return {"done": outcome.done, "retried": outcome.retried, "dead_lettered": outcome.dead_lettered}
