"""SQS consumers. `on_step` takes the work messages of the steps queue and routes each by its `kind`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib import wiring
from chalicelib.observability import logger, metrics
from chalicelib.services.doi import DoiJob
from chalicelib.services.records import PermanentRecordError, run_records
from chalicelib.settings import get_settings

blueprint = Blueprint(__name__)
STEPS = "steps"


def send_doi(body: dict[str, Any]) -> None:
    job = DoiJob.from_body(body)
    outcome = wiring.double_opt_in().send(job)
    logger.info("doi message", contact_id=job.contact_id, channel=job.channel, outcome=outcome)


# One entry per message kind on the steps queue.
STEP_KINDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "doi": send_doi,
}


def route_step(body: dict[str, Any]) -> None:
    handler = STEP_KINDS.get(body["kind"])
    if handler is None:
        raise PermanentRecordError(f"unknown kind {body['kind']!r} on the steps queue")
    handler(body)


@blueprint.on_sqs_message(queue=get_settings().queue(STEPS), batch_size=10)
def on_step(event: SQSEvent) -> dict[str, int]:
    outcome = run_records((record.body for record in event), STEPS, route_step, wiring.queues(), logger.warning)
    metrics.add_metric(name="StepRecordsDone", unit="Count", value=outcome.done)
    return {"done": outcome.done, "retried": outcome.retried, "dead_lettered": outcome.dead_lettered}
