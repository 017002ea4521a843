"""What every HTTP handler shares: the contract's JSON errors and the role check."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalice import Response

from chalicelib.gateway_errors import GATEWAY_ERRORS
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.errors import RETRY_AFTER_SECONDS, is_busy


@dataclass(frozen=True)
class Principal:
    role: str
    point_id: str | None
    key_id: str
    name: str = ""  # the key's label (its id when it has none): the actor of what the caller records


def error(status: int, code: str, message: str, field: str | None = None,
          detail: Mapping[str, Any] | None = None) -> Response:
    return Response(
        body=json.dumps({"error": code, "message": message, "field": field, **(detail or {})}, default=str),
        status_code=status,
        headers={"Content-Type": "application/json"},
    )


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def html_response(body: str, status: int = 200) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def json_body(request: Any, max_bytes: int = limits.EVENTS_BODY) -> Any:
    """The request body as JSON within the edge's limits, or a ClientError naming what is wrong with it."""
    body = limits.read_json(request.raw_body, max_bytes)
    if body is None:
        raise ClientError("invalid_body", "The request body must be a JSON document.", None)
    return body


def busy(headers: dict[str, str] | None = None) -> Response:
    """The store was throttling, racing or out of reach: nothing the client did, and worth one more try."""
    response = error(503, "busy", "The service is busy; try again in a few seconds.")
    response.headers.update({**(headers or {}), "Retry-After": str(RETRY_AFTER_SECONDS)})
    return response


def answers_busy(view: Callable[..., Any], headers: Callable[[], dict[str, str]] = dict) -> Callable[..., Any]:
    """Turns a busy store under `view` into 503 + Retry-After (plus `headers()`, e.g. CORS) instead of a 500."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:  # sorted, not swallowed: anything but a busy store propagates as before
            if is_busy(exc):
                return busy(headers())
            raise

    return guarded


def require(blueprint: Any, *roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Lets the view run only for a key whose role is in `roles`; passes the Principal as `principal`."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            context = (blueprint.current_request.context or {}).get("authorizer") or {}
            role = context.get("role", "anonymous")
            if role == "anonymous":  # a key that is not (or no longer) one: as the gateway answers no key at all
                return error(*GATEWAY_ERRORS["UNAUTHORIZED"])
            if role not in roles:
                return error(403, "forbidden", f"The role {role} may not call this route.")
            principal = Principal(role=role, point_id=context.get("point_id") or None, key_id=context["key_id"],
                                  name=context.get("key_name") or context["key_id"])
            try:
                return answers_busy(view)(*args, principal=principal, **kwargs)
            except ClientError as exc:
                return error(exc.status, exc.code, exc.message, exc.field, exc.detail)

        guarded.required_roles = roles  # type: ignore[attr-defined]
        return guarded

    return decorate
