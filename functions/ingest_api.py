"""Server-to-server events from back ends: orders, carts, views, searches, visits, survey answers."""

from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.roles import INGEST
from functions.auth import bearer_key
from functions.http import json_body, json_response, require

blueprint = Blueprint(__name__)


@blueprint.route("/v1/events", methods=["POST"], authorizer=bearer_key)
@require(blueprint, INGEST)
def ingest_events(principal: Any) -> Any:
    from chalicelib.services.ingest import accept

    return json_response(accept(json_body(blueprint.current_request), wiring.queues()), status=202)
