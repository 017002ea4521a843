"""Hostile requests for the fuzz suite and bench/fuzz.py: what an attacker or a broken client can send.

Strategies build request bodies as JSON *text*, so they can carry what `json.dumps` cannot write or a
client's serializer would never emit: nesting a thousand levels deep, Infinity and NaN, lone surrogates.
`Stage` seeds one moto stack with a contact and its links; `Probe` sends one case and checks the
properties every route keeps: no 5xx, every 4xx in the contract's shape (JSON error or the HTML error page),
and whatever is accepted is processed by the real workers without a retry or a dead letter.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from hypothesis import strategies as st

from chalicelib import observability, wiring
from chalicelib.services.records import run_records
from chalicelib.services.tokens import DOI, PREFERENCES, UNSUBSCRIBE, Token, issue, new_token_id
from chalicelib.store.keys import ApiKeyRepository
from chalicelib.store.models import ContactModel, IdentityModel
from functions.queues import EVENTS, STEPS, apply_event, route_step
from tests.integration import helpers

NOW = helpers.NOW  # the shared test clock's start
CONTACT = "c-1"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Deep:
    """A value nested `depth` levels deep, written straight as text (json.dumps would recurse)."""

    depth: int
    kind: str = "object"

    def text(self) -> str:
        if self.kind == "list":
            return "[" * self.depth + "1" + "]" * self.depth
        return '{"a":' * self.depth + "1" + "}" * self.depth


def dump(value: Any) -> str:
    """JSON text of `value`, Deep values and Python's Infinity/NaN tokens included."""
    if isinstance(value, Deep):
        return value.text()
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)


ODD_TEXT = ["", " ", "\x00", "a\x00b", "é", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\ud800", "x\udfffy", "<script>alert(1)</script>",
            "' OR 1=1 --", "../../etc/passwd", "%00", "\u202e", "\ufeff", "🙂" * 50, "\r\n\r\n", "{{ 7*7 }}"]
ODD_NUMBERS = [float("inf"), float("-inf"), float("nan"), 10**400, -(10**40), 1e308, 5e-324, 1e-200, 2**63, -0.0]
ODD_DATES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-11-25\x0010:00:00+03:00",
             "2026-11-25T10:00:00\x00", "2026-02-30T10:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:00:00+24:00",
             "2026-11-25", "1899-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "2026-W48-3T10:00Z",
             "20261125T100000+0300", "2026-11-25T10:00:00.123456789+03:00", "+002026-11-25T10:00:00Z"]

text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(ODD_TEXT),
    st.integers(4_000, 1_200_000).map(lambda n: "x" * n),  # huge
)
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from(ODD_NUMBERS))
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
deep = st.builds(Deep, st.sampled_from([7, 8, 9, 31, 32, 33, 200, 500, 1000, 3000]),
                 st.sampled_from(["object", "list"]))
values = st.one_of(
    st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                     max_size=4), max_leaves=8),
    deep,
)


def _set(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` with `path` set to `value` (objects on the way created as needed)."""
    copy = dict(body)
    if len(path) == 1:
        copy[path[0]] = value
        return copy
    inner = copy.get(path[0])
    copy[path[0]] = _set(inner if isinstance(inner, dict) else {}, path[1:], value)
    return copy


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """`base` with up to three of its fields (or new ones) replaced by hostile values, or dropped."""
    body = base
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths) | st.tuples(st.text(max_size=12)))
        if draw(st.integers(0, 9)) == 0 and len(path) == 1:
            body = {k: v for k, v in body.items() if k != path[0]}
        else:
            body = _set(body, path, draw(values))
    return body


# -- POST /v1/events -------------------------------------------------------------------------------------

VALID_EVENTS: dict[str, dict[str, Any]] = {
    "order_placed": {"amount": 1290.5, "items": [{"sku": "A1", "name": "Vitamin D", "course_days": 30}]},
    "cart_updated": {"items": [{"sku": "A1"}]},
    "cart_abandoned": {"items": [{"sku": "A1"}], "cart_id": "cart-1"},
    "product_viewed": {"sku": "A1", "name": "Vitamin D", "url": "https://shop.example.com/a1"},
    "search_performed": {"query": "витамин d", "url": "https://shop.example.com/s?q=d"},
    "favorite_added": {"sku": "A1", "favorites_count": 3},
    "site_visit": {},
    "email_opened": {},
    "email_clicked": {"link": "https://shop.example.com"},
    "survey_completed": {"answers": {"interests": ["vitamins", "sport"], "nps": 9}},
    "profile_updated": {"attributes": {"first_name": "Anna", "timezone": "Asia/Yekaterinburg", "point_id": "msk-01",
                                       "birthday": "1990-05-17"}},
}
CONTACT_REFS = [{"contact_id": CONTACT}, {"email": "anna@example.com"}, {"phone": "+7 916 123-45-67"},
                {"external_id": "shop-1"}, {"email": "nobody@example.com"}]
EVENT_PATHS = [("type",), ("id",), ("contact",), ("contact", "contact_id"), ("contact", "email"), ("occurred_at",),
               ("properties",), ("properties", "amount"), ("properties", "items"), ("properties", "answers"),
               ("properties", "answers", "q1"), ("properties", "attributes"), ("properties", "attributes", "x"),
               ("properties", "attributes", "timezone"), ("properties", "attributes", "point_id"),
               ("properties", "query"), ("properties", "sku"), ("properties", "extra")]


def valid_event(kind: str, event_id: str) -> dict[str, Any]:
    return {"type": kind, "id": event_id, "contact": {"contact_id": CONTACT},
            "occurred_at": "2026-11-25T10:00:00+03:00", "properties": VALID_EVENTS[kind]}


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    base = {**valid_event(draw(st.sampled_from(sorted(VALID_EVENTS))), f"fz-{draw(st.integers(0, 10**9))}"),
            "contact": draw(st.sampled_from(CONTACT_REFS)),
            "occurred_at": draw(st.sampled_from(["2026-11-25T10:00:00+03:00", "2026-11-24T23:59:59Z"])
                                | st.sampled_from(ODD_DATES))}
    return draw(mutated(base, EVENT_PATHS))


event_bodies = st.one_of(
    event().map(dump),
    st.lists(event(), min_size=0, max_size=4).map(lambda events: dump({"events": events})),
    st.builds(lambda kind, n: dump({"events": [valid_event(kind, f"many-{i}") for i in range(n)]}),
              st.sampled_from(sorted(VALID_EVENTS)), st.sampled_from([101, 1000])),
    values.map(dump),
    deep.map(dump),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)


def big_batch(events: int = 100, large: int = 10, size: int = 110_000) -> str:
    """The issue's batch: the last `large` events carry `size` bytes of answers each."""
    batch = [{"type": "site_visit", "id": f"visit-{i}", "contact": {"contact_id": CONTACT},
              "occurred_at": "2026-11-25T10:00:00+03:00"} for i in range(events - large)]
    batch += [{"type": "survey_completed", "id": f"survey-{i}", "contact": {"contact_id": CONTACT},
               "occurred_at": "2026-11-25T10:00:00+03:00",
               "properties": {"answers": {f"q{j}": "x" * 4000 for j in range(size // 4000)}}} for i in range(large)]
    return dump({"events": batch})


# -- POST /v1/subscriptions --------------------------------------------------------------------------------

SIGNUP = {"email": "anna@example.com",
          "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
          "data_processing": {"text_id": "personal-data-v1"}, "source": "site-footer", "locale": "ru-RU",
          "timezone": "Europe/Moscow", "attributes": {"first_name": "Anna", "birthday": "1990-05-17",
                                                      "point_id": "msk-01"}}
SIGNUP_PATHS = [("email",), ("phone",), ("consents",), ("data_processing",), ("data_processing", "text_id"),
                ("source",), ("locale",), ("timezone",), ("attributes",), ("attributes", "first_name"),
                ("attributes", "birthday"), ("attributes", "point_id"), ("attributes", "x"), ("website",),
                ("captcha",)]


@st.composite
def signup(draw: st.DrawFn) -> dict[str, Any]:
    local = draw(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True))
    return draw(mutated({**SIGNUP, "email": f"{local}@example.com"}, SIGNUP_PATHS))


signup_bodies = st.one_of(signup().map(dump), values.map(dump), deep.map(dump),
                          st.binary(max_size=64).map(lambda b: b.decode("latin-1")))

# -- token routes -----------------------------------------------------------------------------------------


@st.composite
def damaged(draw: st.DrawFn, token: str) -> str:
    """A genuine token, cut, extended or with characters replaced (non-ASCII and NUL among them)."""
    how = draw(st.sampled_from(["keep", "cut", "append", "replace", "swap_part", "huge"]))
    if how == "cut":
        return token[: draw(st.integers(0, len(token)))]
    if how == "append":
        return token + draw(st.text(max_size=8) | st.sampled_from(ODD_TEXT[:8]))
    if how == "replace":
        at = draw(st.integers(0, len(token) - 1))
        return token[:at] + draw(st.characters() | st.sampled_from(["é", "\x00", ".", "="])) + token[at + 1:]
    if how == "swap_part":
        parts = token.split(".")
        parts[draw(st.integers(0, 2))] = draw(st.text(max_size=20) | st.sampled_from(["k9", "", "é"]))
        return ".".join(parts)
    if how == "huge":
        return token * 50
    return token


def token_queries(tokens: list[str]) -> st.SearchStrategy[str]:
    """Query strings: damaged tokens percent-encoded, raw junk, repeated and missing parameters."""
    quoted = st.sampled_from(tokens).flatmap(damaged).map(lambda t: "token=" + quote(t.encode("utf-8",
                                                                                            "surrogatepass"), safe=""))
    junk = st.one_of(
        st.sampled_from(["", "token", "token=", "token=%", "token=%ZZ", "token=%C3%28", "token=%00",
                         "token=k1.%C3%A9.x", "token=k1.abc.%C3%A9", "token=a&token=b", "&&&=", "token=%F0%9F%99%82"]),
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#"), max_size=60),
    )
    return st.one_of(quoted, junk, st.tuples(quoted, junk).map("&".join))


headers = st.fixed_dictionaries({}, optional={
    "Accept-Language": st.sampled_from(["en", "ru-RU,ru;q=0.9", "", "zz", "é" * 3, "x" * 5000]),
    "User-Agent": st.sampled_from(["Mozilla/5.0", "", "x" * 10_000, "é"]),
    "Origin": st.sampled_from(["https://www.example.com", "null", "https://evil.example", "é"]),
})
ODD_TYPES = ["text/plain", "text/html", "application/xml", "", "application/json; charset=latin-1", "*/*", "é"]
content_types = st.sampled_from([JSON, FORM, "multipart/form-data; boundary=xyz", "multipart/form-data", *ODD_TYPES])
json_types = st.sampled_from([JSON] * 15 + ODD_TYPES)  # mostly JSON, so most cases reach the validation


@st.composite
def preference_bodies(draw: st.DrawFn) -> tuple[str, str]:
    """(content type, body) for POST /v1/preferences and /v1/unsubscribe."""
    kind = draw(content_types)
    if kind.startswith("multipart"):
        name = draw(st.sampled_from(["email:marketing", "List-Unsubscribe", "action"]) | st.text(max_size=10))
        part = draw(st.sampled_from(["on", "off", "One-Click", "unsubscribe_all"]) | text)
        body = f'--xyz\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{part}\r\n--xyz--\r\n'
        return kind, draw(st.sampled_from([body, body[:20], "--xyz\r\n\r\n", ""]))
    if kind == FORM:
        pairs = draw(st.lists(st.tuples(st.sampled_from(["email:marketing", "sms:marketing", "action", "x:y"])
                                        | st.text(max_size=10), st.sampled_from(["on", "off", "unsubscribe_all"])
                                        | text), max_size=4))
        return kind, "&".join(f"{quote(k.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
                              for k, v in pairs)
    body = draw(st.one_of(
        st.fixed_dictionaries({}, optional={"consents": st.dictionaries(
            st.sampled_from(["email:marketing", "sms:marketing", "push:marketing"]) | st.text(max_size=10),
            st.booleans() | scalars, max_size=3) | values, "unsubscribe_all": st.booleans() | scalars}).map(dump),
        values.map(dump), deep.map(dump)))
    return kind, body


# -- the stage and the probe -----------------------------------------------------------------------------


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The app's INFO lines off: thousands of cases would spend a third of their time logging."""
    app_logger = logging.getLogger(observability.SERVICE)
    level = app_logger.level
    app_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        app_logger.setLevel(level)


@dataclass
class Stage:
    """One contact (c-1: email, phone, shop id, point msk-01, marketing consents given), an ingest key, and
    genuine links for it: preference and unsubscribe tokens, an expired one, one of another scope, and the
    DOI link of a pending sign-up."""

    ingest_key: str
    tokens: dict[str, list[str]]

    @classmethod
    def seed(cls) -> Stage:
        consents = {key: {"state": "granted", "at": NOW.isoformat()}
                    for key in ("email:marketing", "sms:marketing", "any:data_processing")}
        ContactModel(CONTACT, status="active", email="anna@example.com", phone="+79161234567", external_id="shop-1",
                     created_at=NOW, timezone="Europe/Moscow", point_id="msk-01", consents=consents).save()
        for identity in ("email:anna@example.com", "phone:+79161234567", "ext:shop-1"):
            IdentityModel(identity, contact_id=CONTACT, created_at=NOW).save()
        keys = wiring.token_keys()
        until = int((NOW + timedelta(days=30)).timestamp())
        expired = int((NOW - timedelta(days=1)).timestamp())
        links = wiring.links()
        common = [issue(keys, Token(CONTACT, PREFERENCES, expired, new_token_id())),
                  issue(keys, Token("c-unknown", PREFERENCES, until, new_token_id())),
                  issue(keys, Token(CONTACT, DOI, until, new_token_id()))]
        prefs = [_token(links.preferences_url(CONTACT))]
        unsub = [_token(links.unsubscribe_url(CONTACT)), _token(links.unsubscribe_url(CONTACT, "email")),
                 issue(keys, Token(CONTACT, UNSUBSCRIBE, expired, new_token_id()))]
        return cls(ApiKeyRepository().create("ingest", None, None, NOW)[1],
                   {"prefs": prefs + unsub[:1] + common, "unsub": unsub + prefs + common, "doi": common})


def _token(url: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(urlsplit(url).query)["token"][0]


def doi_token(api: Any) -> str:
    """Signs a new address up and reads the DOI link from the mail the worker sends."""
    from cli.outbox import sent_mail

    api.http.post("/v1/subscriptions", headers={"Content-Type": JSON},
                  body=dump({**SIGNUP, "email": "doi@example.com", "phone": "+79161234500"}))
    drain_and_work(STEPS)
    link = re.search(r"https?://\S+", sent_mail()[-1].text)
    assert link, "no DOI mail"
    return _token(link.group(0))


def _drain(queue: str) -> list[str]:
    sqs = wiring.client("sqs")
    url = wiring.queues().url(queue)
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        bodies += [m["Body"] for m in messages]


def drain_and_work(queue: str) -> list[str]:
    """Hands every queued message to the real worker; the failures it reports (none is the goal)."""
    handler = apply_event if queue == EVENTS else route_step
    outcome = run_records(_drain(queue), queue, handler, wiring.queues(), lambda *a, **k: None)
    dead = _drain(f"{queue}-dlq")
    return outcome.errors + [f"dead letter: {json.loads(d).get('error')}" for d in dead]


@dataclass
class Probe:
    """Sends cases and keeps what came back; `problems` lists every broken property."""

    api: Any
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def send(self, route: str, method: str, path: str, body: str = "", headers: dict[str, str] | None = None,
             page: bool = False) -> str | None:
        """The broken property, if any (and it is kept in `problems`)."""
        raw = body.encode("utf-8", "surrogatepass")
        response = self.api.http.request(method, path, headers=headers or {}, body=raw)
        self.counts[route] += 1
        status = response.status_code
        problem = None
        if status >= 500:
            self.counts[f"{route} 5xx"] += 1
            problem = f"{status}"
        elif status >= 400:
            problem = self._error_shape(response, page)
        elif route == "POST /v1/events" or route == "POST /v1/subscriptions":
            failures = drain_and_work(EVENTS if route == "POST /v1/events" else STEPS)
            problem = f"accepted, then failed in the worker: {failures[:3]}" if failures else None
        if problem:
            problem = f"{route} {path[:80]!r} {body[:120]!r}: {problem}"
            self.problems.append(problem)
        return problem

    @staticmethod
    def _error_shape(response: Any, page: bool) -> str | None:
        kind = response.headers.get("Content-Type", response.headers.get("content-type", ""))
        if kind.startswith("text/html"):
            return None if page and b"<html" in response.body else "an HTML error where JSON was due"
        try:
            answer = json.loads(response.body)
        except ValueError:
            return f"{response.status_code} error body is not JSON: {response.body[:80]!r}"
        if not isinstance(answer, dict) or set(answer) != {"error", "message", "field"}:
            return f"{response.status_code} error not in the contract's shape: {answer!r:.120}"
        return None


def wsgi(api: Any) -> Any:
    """The app behind Chalice's test client as a WSGI app, so schemathesis can call it in-process."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = {name[5:].replace("_", "-").title(): value for name, value in environ.items()
                   if name.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        response = api.http.request(environ["REQUEST_METHOD"], environ["RAW_URI"], headers=headers, body=body)
        start_response(f"{response.status_code} -", list(response.headers.items()))
        return [response.body or b""]

    return app


# -- cases drawn from the API document (schemathesis) ------------------------------------------------------

TOKEN_ROUTES = {"/v1/confirm": "doi", "/v1/preferences": "prefs", "/v1/unsubscribe": "unsub"}


def operations(api: Any, tag: str) -> list[Any]:
    """The document's operations with `tag` (public, ingest, admin), as the app serves the document."""
    import schemathesis

    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi(api))
    return [result.ok() for result in schema.get_all_operations()
            if tag in (result.ok().definition.raw.get("tags") or [])]


def documented_cases(operation: Any) -> st.SearchStrategy[Any]:
    """Cases the document calls valid and ones it calls invalid (wrong types, missing fields, odd values)."""
    from schemathesis import GenerationMode

    return st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                     operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))


def check_documented(probe: Probe, stage: Stage, case: Any, data: st.DataObject, headers: dict[str, str]) -> None:
    """Sends one drawn case (a genuine link's token half the time) and checks it as `Probe.send` does, and
    against the document: no 5xx, a documented status and content type, a body of the documented schema
    (every JSON 4xx is then the contract's error shape)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    scope = TOKEN_ROUTES.get(case.path)
    if scope and isinstance(case.query, dict) and data.draw(st.booleans()):
        case.query["token"] = data.draw(st.sampled_from(stage.tokens[scope]))
    route = f"{case.method} {case.path}"
    case.headers = {**(case.headers or {}), **headers}
    response = case.call(app=wsgi(probe.api))
    probe.counts[f"{route} (document)"] += 1
    if response.status_code >= 500:
        probe.counts[f"{route} (document) 5xx"] += 1
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                             response_schema_conformance])
    if response.status_code in (200, 202) and case.method == "POST" and case.path in ("/v1/events",
                                                                                      "/v1/subscriptions"):
        failures = drain_and_work(EVENTS if case.path == "/v1/events" else STEPS)
        assert not failures, f"{route} accepted, then failed in the worker: {failures[:3]}"
