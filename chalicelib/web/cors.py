"""CORS for the public routes: the request's Origin is echoed only when it is one of the configured sites."""

from __future__ import annotations

from collections.abc import Sequence


def cors_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    # Vary on every answer, allowed or not: a shared cache must never serve one site's answer to another.
    headers = {"Vary": "Origin"}
    if origin and origin in allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_headers(origin: str | None, allowed: Sequence[str], methods: str) -> dict[str, str]:
    headers = cors_headers(origin, allowed)
    if "Access-Control-Allow-Origin" in headers:
        headers.update({
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        })
    return headers
