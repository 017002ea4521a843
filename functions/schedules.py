"""EventBridge schedules: the tick that finds due work."""

from chalice import Blueprint
from chalice.app import CloudWatchEvent

from chalicelib import wiring
from chalicelib.observability import logger, metrics
from chalicelib.services.tick import tick as run_tick
from chalicelib.settings import get_settings

blueprint = Blueprint(__name__)


@blueprint.schedule("rate(1 minute)")
def tick(event: CloudWatchEvent) -> dict[str, object]:
    result = run_tick(wiring.enrollments(), wiring.queues(), get_settings().due_shards, wiring.clock().now())
    metrics.add_metric(name="StepsClaimed", unit="Count", value=result.claimed)
    logger.info("tick", claimed=result.claimed, lost_races=result.lost_races, more_waiting=result.more_waiting)
    return {"claimed": result.claimed, "more_waiting": result.more_waiting}
