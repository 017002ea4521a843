"""The errors API Gateway answers before any function runs, in the contract's shape (DESIGN.md §4)."""

from __future__ import annotations

import json
from typing import Any

# What API Gateway answers itself, before any function runs, in the contract's error shape: a request without an
# Authorization header on a route behind the authorizer (the authorizer is never called for it), and a method
# and path no route has. Deployed as the REST API's gateway responses (`touchplan package`); the local gateway
# answers the same (cli/gateway.py). A module of its own: `touchplan package` reads it without importing the app.
GATEWAY_ERRORS: dict[str, tuple[int, str, str]] = {
    "UNAUTHORIZED": (401, "unauthorized", "A valid API key is required: Authorization: Bearer <key>."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "No route has this method and path "
                                                       "(GET /v1/openapi.json lists them)."),
}


def gateway_error_body(kind: str) -> str:
    _, code, message = GATEWAY_ERRORS[kind]
    return json.dumps({"error": code, "message": message, "field": None})


def gateway_responses() -> dict[str, Any]:
    """GATEWAY_ERRORS as the SAM `GatewayResponses` of the REST API (a body with no `$`: no template at work)."""
    return {kind: {"StatusCode": status, "ResponseTemplates": {"application/json": gateway_error_body(kind)},
                   "ResponseParameters": {"Headers": {"Content-Type": "'application/json'"}}}
            for kind, (status, _, _) in GATEWAY_ERRORS.items()}
