"""Server-to-server events from back ends: orders, carts, views, searches, visits, survey answers."""

from typing import Any

from chalice.app import Blueprint

from chalicelib import wiring
from chalicelib.roles import INGEST
from chalicelib.services.errors import ClientError
from chalicelib.web import forms
from functions.auth import bearer_key
from functions.http import json_body, json_response, require

blueprint = Blueprint(__name__)


# Any type reaches the view, which answers 415 in the contract's shape (Chalice's own 415 has another body).
@blueprint.route("/v1/events", methods=["POST"], authorizer=bearer_key, content_types=["*/*"])
@require(blueprint, INGEST)
def ingest_events(principal: Any) -> Any:
    from chalicelib.services.ingest import accept

    request = blueprint.current_request
    if forms.media_type(request.headers.get("content-type")) != forms.JSON:
        raise ClientError("unsupported_media_type", "Send events as application/json.", None, status=415)
    return json_response(accept(json_body(request), wiring.queues()), status=202)
