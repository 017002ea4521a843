"""The operators' console at /console: sign in with an API key, then occasions, the checklist, the contact card
and stats as HTML pages, behind the same roles as the admin API (services.console_sessions holds the session).

No session, or an expired, tampered or revoked one: the sign-in page with 401. A role or point not allowed, or
a form without its CSRF token: the 403 page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.roles import POINT_MANAGER, SERVICE_MANAGER
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from functions.http import answers_busy, html_response

if TYPE_CHECKING:
    from chalicelib.services.console_sessions import ConsoleSession
    from chalicelib.web.console import Screen

blueprint = Blueprint(__name__)
ANY = ["*/*"]  # forms; anything else gets the 415 of forms.read_form
LANG_COOKIE = "tp_console_lang"
SIGN_IN_COOKIE = "tp_console_signin"
SIGN_IN_SECONDS = 3600
MANAGERS = (SERVICE_MANAGER, POINT_MANAGER)


def _request() -> Any:
    return blueprint.current_request


def _web() -> Any:
    from chalicelib.web import console

    return console


def _cookies() -> dict[str, str]:
    found: dict[str, str] = {}
    for part in (_request().headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        found.setdefault(name, value)
    return found


def _base() -> str:
    """The path before /console as the browser sees it (an API Gateway stage such as /prod), "" locally."""
    full = str((_request().context or {}).get("path") or _request().path)
    return full[:full.find("/console")] if "/console" in full else ""


def _query() -> dict[str, str]:
    return dict(_request().query_params or {})


def _lang() -> tuple[str, bool]:
    """ru or en: ?lang= (remembered), the cookie, then the browser's languages; and whether ?lang= chose it."""
    from chalicelib.web.pages import language

    asked = _query().get("lang")
    if asked in ("ru", "en"):
        return asked, True
    return language(_cookies().get(LANG_COOKIE), _request().headers.get("accept-language")), False


def _cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Max-Age={max_age}; Path={_base()}/console; HttpOnly; Secure; SameSite=Strict"


def _page(body: str, status: int = 200, cookies: tuple[str, ...] = ()) -> Response:
    response = html_response(body, status)
    # Signed-in pages with forms: never inside another site's frame (clickjacking a Yes or a Save).
    response.headers.update({"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"})
    lang, chosen = _lang()
    cookies = (*cookies, _cookie(LANG_COOKIE, lang, 365 * 86400)) if chosen else cookies
    if cookies:
        response.headers["Set-Cookie"] = list(cookies) if len(cookies) > 1 else cookies[0]  # type: ignore[assignment]
        response.headers["Vary"] = "Cookie"
    return response


def _screen(session: ConsoleSession | None = None) -> Screen:
    web = _web()
    query = {k: v for k, v in _query().items() if k != "lang"}
    path = f"{_base()}{_path()}"
    path += f"?{urlencode(query)}" if query else ""
    if session is None:
        return web.Screen(_lang()[0], _base(), path)
    return web.Screen(_lang()[0], _base(), path, session.name, session.role, session.point_id,
                      wiring.console_sessions().csrf(session))


def _path() -> str:
    full = str((_request().context or {}).get("path") or _request().path)
    return full[len(_base()):]


def _sign_in_page(error: str | None = None, status: int = 401, next_path: str | None = None) -> Response:
    """The sign-in form, with the token the sign-in post must send back (a pre-session double submit: another
    site can neither read the cookie nor, with SameSite=Strict, have the browser send it)."""
    import secrets

    screen = _screen()
    t = _web().TEXTS[screen.lang]
    nonce = _cookies().get(SIGN_IN_COOKIE) or ""
    nonce = nonce if 20 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum() \
        else secrets.token_urlsafe(24)
    wanted = _path() if next_path is None else next_path
    body = _web().render("console_sign_in.html", screen, t["sign_in"], error=error, csrf=nonce,
                         next=wanted if wanted.startswith("/console/") and wanted != "/console/sign-in" else "")
    return _page(body, status, (_cookie(SIGN_IN_COOKIE, nonce, SIGN_IN_SECONDS),))


def _message(kind: str, session: ConsoleSession | None, status: int) -> Response:
    return _page(_web().message(_screen(session), kind), status)


def _refused(exc: ClientError, session: ConsoleSession | None) -> Response:
    """A page for what a view refused: 403, 404, or the request itself was bad (a form too large or not a form)."""
    kind = {403: "forbidden", 404: "not_found"}.get(exc.status, "bad_request")
    return _message(kind, session, exc.status)


def _form() -> dict[str, str]:
    from chalicelib.web import forms

    raw = _request().raw_body or b""
    if len(raw) > limits.PUBLIC_BODY * 4:
        raise ClientError("body_too_large", "The form is too large.", None, status=413)
    return dict(forms.read_form(_request().headers.get("content-type"), raw))


def page(*roles: str, form: bool = False) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """The view runs for a live session of one of `roles` (and, for a form, its CSRF token); it gets the session
    as `session` and, for a form, the posted fields as `fields`."""

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Response:
            session = wiring.console_sessions().open(_cookies().get(_session_cookie()))
            if session is None:
                return _sign_in_page(_web().TEXTS[_lang()[0]]["session_needed"])
            try:
                if form:
                    kwargs["fields"] = fields = _form()
                    if not wiring.console_sessions().csrf_ok(session, fields.get("csrf")):
                        return _message("forbidden", session, 403)
                if session.role not in roles:
                    return _message("forbidden", session, 403)
                return view(*args, session=session, **kwargs)
            except ClientError as exc:
                return _refused(exc, session)

        served = answers_busy(guarded)
        served.session_roles = roles  # type: ignore[attr-defined]
        return served

    return decorate


def _session_cookie() -> str:
    from chalicelib.services.console_sessions import COOKIE

    return COOKIE


def _scope(session: ConsoleSession) -> str | None:
    """The point a session is limited to (as functions.admin_api._point); None for a service manager."""
    return (session.point_id or "") if session.role == POINT_MANAGER else None


def _redirect(to: str, cookies: tuple[str, ...] = ()) -> Response:
    response = Response(body="", status_code=303, headers={"Location": f"{_base()}{to}", "Cache-Control": "no-store"})
    if cookies:
        response.headers["Set-Cookie"] = list(cookies) if len(cookies) > 1 else cookies[0]  # type: ignore[assignment]
    return response


@blueprint.route("/console", methods=["GET"])
@answers_busy
def sign_in_page() -> Response:
    if wiring.console_sessions().open(_cookies().get(_session_cookie())) is not None:
        return _redirect("/console/occasions")
    return _sign_in_page(status=200)


@blueprint.route("/console/sign-in", methods=["POST"], content_types=ANY)
@answers_busy
def sign_in() -> Response:
    import hmac

    from chalicelib.services.console_sessions import COOKIE

    try:
        fields = _form()
    except ClientError as exc:
        return _refused(exc, None)
    nonce = _cookies().get(SIGN_IN_COOKIE) or ""
    if not nonce or not hmac.compare_digest(nonce.encode(), fields.get("csrf", "").encode()):
        return _message("forbidden", None, 403)
    opened = wiring.console_sessions().sign_in(fields.get("key", ""))
    wanted = fields.get("next", "")
    if opened is None:
        return _sign_in_page(_web().TEXTS[_lang()[0]]["bad_key"], next_path=wanted)
    to = wanted if wanted.startswith("/console/") and "//" not in wanted else "/console/occasions"
    return _redirect(to, (_cookie(COOKIE, opened[1], int(wiring.console_sessions().ttl.total_seconds())),
                          _cookie(SIGN_IN_COOKIE, "", 0)))


@blueprint.route("/console/sign-out", methods=["POST"], content_types=ANY)
@page(*MANAGERS, form=True)
def sign_out(session: ConsoleSession, fields: Mapping[str, str]) -> Response:
    return _redirect("/console", (_cookie(_session_cookie(), "", 0),))


@blueprint.route("/console/occasions", methods=["GET"])
@page(*MANAGERS)
def occasions(session: ConsoleSession) -> Response:
    screen = _screen(session)
    listed = wiring.occasions().list()["occasions"]
    return _page(_web().render("console_occasions.html", screen, _web().TEXTS[screen.lang]["occasions"],
                               occasions=listed))


def _occasion_page(occasion_id: str, session: ConsoleSession, fields: Mapping[str, str] | None = None,
                   errors: Mapping[str, str] | None = None, problem: str | None = None, saved: str | None = None,
                   status: int = 200) -> Response:
    web = _web()
    current = wiring.occasions().get(occasion_id)
    definition = web.edited(current["occasion"], fields) if fields else current["occasion"]
    version = int(fields["version"]) if fields and not saved and fields.get("version", "").isdigit() \
        else current["version"]
    sample = (fields or {}).get("sample", "none")
    live = wiring.strategy().occasions[occasion_id]
    screen = _screen(session)
    top = [(name, definition[name]) for name in web.TOP_FIELDS if name in definition]
    return _page(web.render(
        "console_occasion.html", screen, current["name"], occasion=current, version=version, top=top,
        fields=list(web.template_fields(definition)), errors=errors or {}, problem=problem, saved=saved,
        sample=sample if sample in web.SAMPLES else "none",
        previews=web.previews(wiring.strategy(), live, definition, sample, wiring.clock().now()),
    ), status)


@blueprint.route("/console/occasions/{occasion_id}", methods=["GET"])
@page(SERVICE_MANAGER)
def occasion(occasion_id: str, session: ConsoleSession) -> Response:
    return _occasion_page(occasion_id, session)


@blueprint.route("/console/occasions/{occasion_id}", methods=["POST"], content_types=ANY)
@page(SERVICE_MANAGER, form=True)
def edit_occasion(occasion_id: str, session: ConsoleSession, fields: Mapping[str, str]) -> Response:
    if fields.get("action") != "save":
        return _occasion_page(occasion_id, session, fields)
    web = _web()
    service = wiring.occasions()
    version = fields.get("version", "")
    body = {"version": int(version) if version.isdigit() else version,
            "occasion": web.edited(service.get(occasion_id)["occasion"], fields)}
    t = web.TEXTS[_lang()[0]]
    try:
        saved = service.put(occasion_id, body, session.name)
    except ClientError as exc:
        if exc.status not in (400, 409):
            raise
        field = str(web.field_of(occasion_id, exc.field) or exc.field)
        shown = {field: exc.message} if field in fields and field not in ("version", "csrf") else {}
        return _occasion_page(occasion_id, session, fields, shown, None if shown else exc.message, status=exc.status)
    return _occasion_page(occasion_id, session, saved=t["saved"].format(v=saved["version"]))


CHECKLIST_QUERY = ("point_id", "period", "segment", "cursor", "limit")


def _checklist_page(occasion_id: str, session: ConsoleSession, query: Mapping[str, str], notice: str | None = None,
                    refusal: str | None = None, status: int = 200) -> Response:
    from chalicelib.domain.manual import MANUAL_CHANNELS

    query = {k: v for k, v in query.items() if k in CHECKLIST_QUERY and v}
    if session.point_id and session.role == POINT_MANAGER:
        query.setdefault("point_id", session.point_id)
    occasion = wiring.strategy().occasions.get(occasion_id)
    if occasion is None:
        raise ClientError("not_found", "No occasion with this id.", None, status=404)
    problem, listed = None, None
    if query.get("point_id"):
        try:
            listed = wiring.checklist().page(occasion_id, query, _scope(session))
        except ClientError as exc:
            if exc.status != 400:
                raise
            problem = exc.message
    next_query = urlencode({**{k: v for k, v in query.items() if k != "cursor"},
                            "cursor": listed["next_cursor"]}) if listed and listed["next_cursor"] else ""
    screen = _screen(session)
    return _page(_web().render(
        "console_checklist.html", screen, _web().TEXTS[screen.lang]["checklist"], occasion_id=occasion_id,
        occasion_name=occasion.title, query=query, page=listed, notice=notice, refusal=refusal, problem=problem,
        next_query=next_query, channels=MANUAL_CHANNELS,
    ), status if problem is None else 400)


@blueprint.route("/console/occasions/{occasion_id}/checklist", methods=["GET"])
@page(*MANAGERS)
def checklist(occasion_id: str, session: ConsoleSession) -> Response:
    return _checklist_page(occasion_id, session, _query())


@blueprint.route("/console/occasions/{occasion_id}/checklist", methods=["POST"], content_types=ANY)
@page(*MANAGERS, form=True)
def mark(occasion_id: str, session: ConsoleSession, fields: Mapping[str, str]) -> Response:
    """One row's yes/no and comment, marked exactly as POST /v1/admin/contacts/{id}/touches marks it."""
    body: dict[str, Any] = {"occasion_id": occasion_id, "channel": fields.get("channel", ""),
                            "done": fields.get("done") != "no"}
    if fields.get("comment", "").strip():
        body["comment"] = fields["comment"]
    t = _web().TEXTS[_lang()[0]]
    try:
        status, _ = wiring.manual_touches().mark(fields.get("contact_id", ""), body, _scope(session), session.name)
    except ClientError as exc:
        if exc.status not in (400, 409):
            raise
        return _checklist_page(occasion_id, session, fields, refusal=exc.message, status=exc.status)
    return _checklist_page(occasion_id, session, fields, notice=t["marked"], status=status)


@blueprint.route("/console/contacts/{contact_id}", methods=["GET"])
@page(*MANAGERS)
def contact_card(contact_id: str, session: ConsoleSession) -> Response:
    from chalicelib.services.timeline import timeline

    contact = wiring.contacts().get(contact_id)
    if contact is None or contact.status == "erased":
        raise ClientError("not_found", "No contact with this id.", None, status=404)
    scope = _scope(session)
    if scope is not None and contact.point_id != scope:
        raise ClientError("forbidden", "Another point's contact.", None, status=403)
    view = timeline(wiring.erasure().export(contact_id, scope))
    screen = _screen(session)
    return _page(_web().render("console_card.html", screen, _web().TEXTS[screen.lang]["card"], view=view))


@blueprint.route("/console/stats", methods=["GET"])
@page(SERVICE_MANAGER)
def stats(session: ConsoleSession) -> Response:
    from datetime import date

    from chalicelib.services.stats import report

    web = _web()
    query = {k: v for k, v in _query().items() if k in ("chain", "from", "to") and v}
    service = wiring.stats()
    answer, share, problem = None, None, None
    try:
        answer = report(service, query, wiring.clock().now().date())
        every = answer if "chain" not in query else report(service, {k: v for k, v in query.items()
                                                                     if k != "chain"}, wiring.clock().now().date())
        first, last = date.fromisoformat(str(answer["from"])), date.fromisoformat(str(answer["to"]))
        manual = service.manual_sends(first, last) + wiring.campaigns().sent_between(first, last)
        share = web.triggered_share(every["rows"], manual)
    except ClientError as exc:
        problem = exc.message
    screen = _screen(session)
    return _page(web.render(
        "console_stats.html", screen, web.TEXTS[screen.lang]["stats"], query=query, report=answer, share=share,
        charts=web.charts(answer["rows"]) if answer else [], chains=sorted(wiring.strategy().chains),
        problem=problem,
    ), 400 if problem else 200)
