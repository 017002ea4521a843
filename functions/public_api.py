"""Website-facing routes: health, the API document, subscribe, confirm, preferences, unsubscribe."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.services.tokens import ExpiredToken, InvalidToken
from chalicelib.settings import get_settings
from chalicelib.web import forms
from chalicelib.web.cors import cors_headers, preflight_headers
from functions.http import answers_busy, html_response, json_response

if TYPE_CHECKING:
    from chalicelib.services.consent import Origin

blueprint = Blueprint(__name__)

# Every type a browser form, a mail client's one-click POST or a script sends; the view answers 415 itself,
# in the contract's error shape, for anything else (Chalice's own 415 has another body).
ANY = ["*/*"]
SAME_PAGE = ""  # a form without action posts back to the page's own URL, token and API stage prefix included
ACCEPTED = {"status": "pending_confirmation"}
TOKEN_PAGE_STATUS = {"confirmed": 200, "already_confirmed": 200, "expired": 410, "invalid": 400}


def _request() -> Any:
    return blueprint.current_request


def _pages() -> Any:
    # Pages pull in Jinja2 and the preference services: loaded by the views that render, not at cold start.
    from chalicelib.web import pages

    return pages


def _origin() -> Origin:
    from chalicelib.services.consent import Origin

    request = _request()
    identity = (request.context or {}).get("identity") or {}
    return Origin(None, identity.get("sourceIp"), request.headers.get("user-agent"))


def _token() -> str | None:
    return (_request().query_params or {}).get("token")


def _cors() -> dict[str, str]:
    return cors_headers(_request().headers.get("origin"), get_settings().cors_origins)


def _answers_busy(view: Callable[..., Any]) -> Callable[..., Any]:
    return answers_busy(view, _cors)  # a site's script can read the 503 and retry


def _raw() -> bytes:
    raw = _request().raw_body or b""
    raw = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(raw) > limits.PUBLIC_BODY:
        raise ClientError("body_too_large", f"The request body is larger than {limits.PUBLIC_BODY // 1024} KB.",
                          None)
    return raw


def _wants_json() -> bool:
    return forms.media_type(_request().headers.get("content-type")) in (forms.JSON, "text/plain")


def _json_error(exc: ClientError) -> Response:
    body = {"error": exc.code, "message": exc.message, "field": exc.field}
    return json_response(body, status=exc.status, headers=_cors())


def _link_page(outcome: str, locale: str | None = None) -> Response:
    lang = _pages().language(locale, _request().headers.get("accept-language"))
    return html_response(_pages().message_page(outcome, lang), status=TOKEN_PAGE_STATUS[outcome])


def _token_error(exc: Exception, as_json: bool = False) -> Response:
    """A bad or expired link: a page for a person (in the contact's language, else the browser's), JSON for
    a script that posted JSON."""
    if isinstance(exc, ExpiredToken):
        if as_json:
            return _json_error(ClientError("token_expired", "This link has expired.", "token", 410))
        return _link_page("expired", wiring.preference_centre().locale_of(exc.token))
    if as_json:
        return _json_error(ClientError("invalid_token", "This link is not valid.", "token"))
    return _link_page("invalid")


@blueprint.route("/v1/health", methods=["GET"])
def health() -> object:
    settings = get_settings()
    return json_response({"status": "ok", "version": settings.version, "stage": settings.stage})


@blueprint.route("/v1/openapi.json", methods=["GET"])
def api_document() -> Response:
    return Response(body=_api_document(), status_code=200,
                    headers={"Content-Type": "application/json", "Cache-Control": "public, max-age=3600"})


@cache
def _api_document() -> str:
    # Built on the first request, not at import: cold start never pays for it.
    from chalicelib import openapi

    document = openapi.document(wiring.strategy(), get_settings().version, blueprint.current_app.routes)
    return json.dumps(document, separators=(",", ":"))


@blueprint.route("/v1/subscriptions", methods=["POST"], content_types=ANY)
@_answers_busy
def subscribe() -> Response:
    try:
        if not _wants_json():
            raise ClientError("unsupported_media_type", "Send the sign-up as JSON.", None, status=415)
        from chalicelib.services.subscriptions import parse_subscription

        subscription = parse_subscription(limits.read_json(_raw(), limits.PUBLIC_BODY), wiring.strategy())
        wiring.subscriptions().subscribe(subscription, _origin())
    except ClientError as exc:
        return _json_error(exc)
    return json_response(ACCEPTED, status=202, headers=_cors())


@blueprint.route("/v1/subscriptions", methods=["OPTIONS"])
def subscribe_preflight() -> Response:
    origin = _request().headers.get("origin")
    headers: dict[str, str | list[str]] = {**preflight_headers(origin, get_settings().cors_origins, "POST, OPTIONS")}
    return Response(body="", status_code=204, headers=headers)


@blueprint.route("/v1/confirm", methods=["GET"])
@_answers_busy
def confirm() -> Response:
    result = wiring.double_opt_in().confirm(_token(), _origin())
    lang = _pages().language(result.locale, _request().headers.get("accept-language"))
    return html_response(_pages().message_page(result.outcome, lang, result.preferences_url),
                         status=TOKEN_PAGE_STATUS[result.outcome])


@blueprint.route("/v1/preferences", methods=["GET"])
@_answers_busy
def preferences() -> Response:
    try:
        view = wiring.preference_centre().view(_token())
    except (InvalidToken, ExpiredToken) as exc:
        return _token_error(exc)  # a link opened in a browser: always a page
    return html_response(_pages().preferences_page(view, SAME_PAGE))


@blueprint.route("/v1/preferences", methods=["POST"], content_types=ANY)
@_answers_busy
def change_preferences() -> Response:
    centre = wiring.preference_centre()
    try:
        if _wants_json():
            body = limits.read_json(_raw(), limits.PUBLIC_BODY)
            everything_off, wanted = _json_preferences(body)
        else:
            pairs = forms.read_form(_request().headers.get("content-type"), _raw())
            everything_off = ("action", "unsubscribe_all") in pairs
            wanted = {name: value == "on" for name, value in pairs if ":" in name}
        if everything_off:
            view = centre.everything_off(_token(), _origin())
        else:
            view = centre.apply(_token(), wanted, _origin())
    except (InvalidToken, ExpiredToken) as exc:
        return _token_error(exc, _wants_json())
    except ClientError as exc:
        return _json_error(exc) if _wants_json() or exc.status == 415 else _link_page("invalid")
    if _wants_json():
        answer: dict[str, object] = {"consents": {s.key: s.on for s in view.switches}}
        if view.erasure_due is not None:
            answer["erasure_due"] = view.erasure_due.isoformat()
        return json_response(answer, headers=_cors())
    return html_response(_pages().preferences_page(view, SAME_PAGE, saved=True))


def _json_preferences(body: Any) -> tuple[bool, dict[str, bool]]:
    if body is None:
        return False, {}  # an empty body changes nothing and shows the switches
    if not isinstance(body, dict) or set(body) - {"consents", "unsubscribe_all"}:
        raise ClientError("invalid_body", 'Send {"consents": {"email:marketing": false, ...}} '
                          'or {"unsubscribe_all": true}.', None)
    consents = body.get("consents", {})
    if not isinstance(consents, dict):
        raise ClientError("invalid_field", "consents must map switches to true or false.", "consents")
    for key, on in consents.items():
        if not isinstance(on, bool):
            raise ClientError("invalid_field", "Each switch is true or false.", f"consents.{key}")
    return body.get("unsubscribe_all") is True, dict(consents)


@blueprint.route("/v1/unsubscribe", methods=["GET"])
@_answers_busy
def unsubscribe_confirm_page() -> Response:
    try:
        view = wiring.preference_centre().check_unsubscribe(_token())
    except (InvalidToken, ExpiredToken) as exc:
        return _token_error(exc)
    return html_response(_pages().unsubscribe_page(view, SAME_PAGE))


@blueprint.route("/v1/unsubscribe", methods=["POST"], content_types=ANY)
@_answers_busy
def unsubscribe() -> Response:
    """RFC 8058 one-click: whatever the body says, a valid token unsubscribes; 200, never a redirect."""
    try:
        if not _wants_json():
            forms.read_form(_request().headers.get("content-type"), _raw())
        view = wiring.preference_centre().unsubscribe(_token(), _origin())
    except (InvalidToken, ExpiredToken) as exc:
        return _token_error(exc, _wants_json())
    except ClientError as exc:
        return _json_error(exc)
    if _wants_json():
        return json_response({"status": "unsubscribed"}, headers=_cors())
    return html_response(_pages().message_page("unsubscribed", view.locale, view.preferences_url))
