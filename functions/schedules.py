"""EventBridge schedules: the tick that finds due work."""

from typing import Any

from chalice import Blueprint
from chalice.app import CloudWatchEvent

from chalicelib import wiring
from chalicelib.observability import logger, metrics
from chalicelib.services.tick import tick as run_tick
from chalicelib.settings import get_settings

blueprint = Blueprint(__name__)
# Stop claiming with this much of the invocation left (at most a quarter of it): claimed steps must be queued.
SAFETY_MS = 15_000


@blueprint.schedule("rate(1 minute)")
def tick(event: CloudWatchEvent) -> dict[str, object]:
    context: Any = event.context  # the Lambda context: how much of the invocation is left
    reserve = min(SAFETY_MS, context.get_remaining_time_in_millis() // 4)
    # Campaign fan-out first: the enrolments it makes due now go out with this very tick.
    pages = wiring.campaigns().work(wiring.clock().now(),
                                    out_of_time=lambda: context.get_remaining_time_in_millis() < reserve)
    result = run_tick(
        wiring.enrollments(), wiring.queues(), get_settings().due_shards, wiring.clock().now(),
        out_of_time=lambda: context.get_remaining_time_in_millis() < reserve,
    )
    metrics.add_metric(name="StepsClaimed", unit="Count", value=result.claimed)
    logger.info("tick", claimed=result.claimed, lost_races=result.lost_races, more_waiting=result.more_waiting,
                campaign_pages=pages)
    return {"claimed": result.claimed, "more_waiting": result.more_waiting}
