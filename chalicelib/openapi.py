"""The API document: OpenAPI 3.1 for every HTTP route, served by `GET /v1/openapi.json`.

It is built on its first request (never at import: the Lambda's cold start does not pay for it) from two
sources that cannot drift from the code:
- OPERATIONS below, one `Operation` per route: parameters, body and the statuses the view answers. Body
  schemas are composed from the limits the parsers in chalicelib/services enforce (field names, lengths,
  patterns, batch sizes, the event catalogue, the strategy's consent texts and chains), not copied.
- the app's routes (`document(routes=app.routes)`): a route with the Bearer authorizer gets the
  `bearerKey` security scheme, 401 and 403, and the roles `functions.http.require` lets in.

To document a new route, add one `Operation(method, path, ...)` to OPERATIONS, with its body schema built
from the constants its parser reads. tests/integration/test_openapi.py fails while a route of the app has no
entry here (or an entry names no route), and checks that schema-valid bodies are accepted and broken ones
refused with 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.model import Strategy

Schema = dict[str, Any]
Build = Callable[[Strategy], Schema]
JSON = "application/json"
HTML = "text/html"
CSV = "text/csv"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@dataclass(frozen=True)
class Answer:
    """One status of a route: a JSON body (`schema`), an HTML page, both, or nothing."""

    description: str
    schema: Schema | None = None
    page: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> description
    csv: bool = False  # a text/csv body (an audience export)


def error(description: str) -> Answer:
    return Answer(description, ERROR_REF)


BAD_INPUT = error("Bad input: `field` names the JSON path (or query parameter) at fault.")
BUSY = Answer("The store is busy: nothing the client did; retry after Retry-After seconds.", ERROR_REF,
              headers={"Retry-After": "Seconds to wait before the retry."})
UNSUPPORTED = error("The body's Content-Type is not one this route reads.")
LINK_BAD = Answer("The link is bad or tampered with (an HTML page; JSON error for a JSON request).", ERROR_REF,
                  page=True)
LINK_EXPIRED = Answer("The link has expired (an HTML page; JSON error for a JSON request).", ERROR_REF, page=True)


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # "query" or "path"
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Body:
    schema: Build  # the JSON body's schema
    forms: bool = False  # a url-encoded or multipart form is read too
    required: bool = True
    csv: str | None = None  # a text/csv body is read too: what its columns are


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    answers: Mapping[int, Answer]
    params: tuple[Param, ...] = ()
    body: Body | None = None
    strategy_params: Callable[[Strategy], tuple[Param, ...]] | None = None  # parameters the strategy names


# -- schemas built from the validators' own limits ----------------------------------------------------------


def _number() -> Schema:
    """What services.limits.number lets through: finite, within +-MAX_NUMBER, zero or not vanishingly small."""
    from chalicelib.services.limits import MAX_NUMBER, MIN_MAGNITUDE

    return {"anyOf": [
        {"type": "integer", "minimum": -MAX_NUMBER, "maximum": MAX_NUMBER},
        {"type": "number", "minimum": MIN_MAGNITUDE, "maximum": MAX_NUMBER},
        {"type": "number", "minimum": -MAX_NUMBER, "maximum": -MIN_MAGNITUDE},
        {"const": 0},
    ]}


def _text(max_length: int, min_length: int = 0) -> Schema:
    # No NUL: services.limits refuses it in any string a client sends.
    return {"type": "string", "minLength": min_length, "maxLength": max_length, "pattern": "^[^\\u0000]*$"}


def _key() -> Schema:
    from chalicelib.services.limits import Shape

    return {"type": "string", "minLength": 1, "maxLength": Shape().key, "pattern": "^[^\\u0000]*$"}


def _free_value() -> Schema:
    """Free-form JSON as a client's extra properties carry it (documented two levels deep; the edge accepts
    nesting up to its depth limit)."""
    scalar = {"anyOf": [{"type": "null"}, {"type": "boolean"}, _number(), _text(500)]}
    return {"anyOf": [scalar, {"type": "array", "items": scalar, "maxItems": 50},
                      {"type": "object", "propertyNames": _key(), "additionalProperties": scalar,
                       "maxProperties": 50}]}


def _pattern(regex: Any) -> str:
    return f"^{regex.pattern}$"


def _zones() -> Schema:
    return {"$ref": "#/components/schemas/TimeZone"}


def _date() -> Schema:
    # A calendar day in the years a birthday may have (1900-2100); the pattern keeps to days every month has.
    return {"type": "string", "format": "date", "pattern": "^(19|20)\\d\\d-(0[1-9]|1[0-2])-(0[1-9]|1\\d|2[0-8])$"}


def _instant() -> Schema:
    """services.limits.instant: ISO-8601 with a UTC offset, between 1900 and 8999 once in UTC."""
    return {"type": "string", "format": "date-time", "description": "ISO-8601 with a UTC offset, years 1901-8999.",
            "pattern": "^(190[1-9]|19[1-9]\\d|[2-8]\\d{3})-(0[1-9]|1[0-2])-(0[1-9]|1\\d|2[0-8])"
                       "T([01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(\\.\\d{1,6})?(Z|[+-](0\\d|1[0-3]):[0-5]\\d)$"}


def _special_use_domain() -> Schema:
    """An address at a special-use name (RFC 6761: .test, .local, ...), which the email validator refuses."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    # Case-insensitive without the (?i) flag, which ECMA-262 patterns (JSON Schema's) lack.
    names = "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)
                     for name in SPECIAL_USE_DOMAIN_NAMES)
    return {"type": "string", "pattern": f"[@.]({names})\\.?$"}


def _present(address: str) -> Schema:
    return {"required": [address], "properties": {address: {"type": "string"}}}


def signup(strategy: Strategy) -> Schema:
    """POST /v1/subscriptions, from services.subscriptions: its fields, limits and the strategy's texts."""
    from chalicelib.services import subscriptions as s
    from chalicelib.services.consent import DATA_PROCESSING
    from chalicelib.store.contacts import CHANNEL_IDENTITY

    texts = strategy.consent_texts.values()
    consent = {"oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["channel", "purpose", "text_id"],
         "properties": {"channel": {"const": t.channel}, "purpose": {"const": t.purpose}, "text_id": {"const": t.id}}}
        for t in texts if t.channel in CHANNEL_IDENTITY and t.purpose != DATA_PROCESSING
    ]}
    data_processing = [t.id for t in texts if t.purpose == DATA_PROCESSING]
    attributes = {
        "type": ["object", "null"], "maxProperties": s.MAX_ATTRIBUTES,
        "propertyNames": {"pattern": _pattern(s.ATTRIBUTE_NAME)},
        "properties": {"point_id": {"type": "string", "pattern": _pattern(s.POINT_ID)}, "birthday": _date(),
                       "b2b": {"type": "boolean"}},
        "additionalProperties": {"anyOf": [{"type": "boolean"}, _number(), _text(s.MAX_ATTRIBUTE_TEXT)]},
    }
    # An optional field sent as null counts as left out, as the parser reads it.
    texts_: Schema = {name: {**_text(limit), "type": ["string", "null"]} for name, limit in s.TEXTS.items()}
    properties: Schema = {
        **texts_,
        "email": {**texts_["email"], "format": "email", "not": _special_use_domain()},
        "phone": {**texts_["phone"], "pattern": "^\\+[1-9][0-9]{6,14}$",
                  "description": "A valid number in international format (checked against the numbering plan)."},
        "locale": {**texts_["locale"], "pattern": _pattern(s.LOCALE)},
        "timezone": {"anyOf": [_zones(), {"type": "null"}]},
        "consents": {"type": "array", "minItems": 1, "maxItems": s.MAX_CONSENTS, "items": consent,
                     "uniqueItems": True},
        "data_processing": {"type": "object", "additionalProperties": False, "required": ["text_id"],
                            "properties": {"text_id": {"enum": data_processing}}},
        "attributes": attributes,
        s.HONEYPOT: {"type": ["string", "null"], "maxLength": 0,
                     "description": "Honeypot: leave empty. A filled one gets the usual 202 and nothing is done."},
    }
    needs_address = [
        {"if": {"required": ["consents"], "properties": {"consents": {"contains": {
            "type": "object", "required": ["channel"], "properties": {"channel": {"const": channel}}}}}},
         "then": _present(CHANNEL_IDENTITY[channel])}
        for channel in sorted(CHANNEL_IDENTITY)
    ]
    return {"type": "object", "additionalProperties": False, "required": ["consents", "data_processing"],
            "properties": properties, "anyOf": [_present("email"), _present("phone")],
            "allOf": needs_address}


_PROPERTY_KINDS: Mapping[str, Callable[[], Schema]] = {
    "number": lambda: {"allOf": [_number(), {"minimum": 0}]},
    "count": lambda: {"type": "integer", "minimum": 0, "maximum": 10**15},
    "text": lambda: _text(500, 1),
    "object": lambda: {"type": "object", "propertyNames": _key(), "additionalProperties": _free_value()},
}


def _items() -> Schema:
    from chalicelib.services.ingest import MAX_COURSE_DAYS

    item = {"type": "object", "required": ["sku"], "propertyNames": _key(), "additionalProperties": _free_value(),
            "properties": {"sku": _text(500), "course_days": {"allOf": [_number(), {"maximum": MAX_COURSE_DAYS}]}}}
    return {"type": "array", "maxItems": 500, "items": item}


def _profile() -> Schema:
    from chalicelib.services import subscriptions as s
    from chalicelib.services.ingest import PROFILE_ATTRIBUTES

    known = {"timezone": _zones(), "locale": _text(35), "b2b": {"type": "boolean"}, "birthday": _date(),
             "point_id": {"type": "string", "pattern": _pattern(s.POINT_ID)}}
    return {"type": "object", "propertyNames": _key(), "additionalProperties": _free_value(),
            "properties": {name: {"anyOf": [known[name], {"type": "null"}]} for name in PROFILE_ATTRIBUTES}}


def event(strategy: Strategy) -> Schema:
    """One event of POST /v1/events, a `oneOf` by type, from the catalogue services.ingest validates against."""
    from chalicelib.domain.events import INGESTED
    from chalicelib.services.ingest import CONTACT_KEYS, ID_PATTERN

    named = {"type": "string", "minLength": 1, "maxLength": 320, "pattern": "^[^\\u0000]*\\S[^\\u0000]*$"}
    phone = {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$",
             "description": "A valid number in international format (checked against the numbering plan)."}
    contact = {"oneOf": [{"type": "object", "additionalProperties": False, "required": [key],
                          "properties": {key: phone if key == "phone" else named}} for key in CONTACT_KEYS]}
    variants = []
    for name, kind in sorted(INGESTED.items()):
        properties: Schema = {}
        needed = [p.name for p in kind.properties if p.required]
        for prop in kind.properties:
            if prop.kind == "items":
                properties[prop.name] = _items()
            elif prop.kind == "attributes":
                properties[prop.name] = _profile()
            else:
                properties[prop.name] = _PROPERTY_KINDS[prop.kind]()
        variants.append({
            "type": "object", "title": name, "additionalProperties": False,
            "required": ["type", "id", "contact", "occurred_at", *(["properties"] if needed else [])],
            "properties": {
                "type": {"const": name}, "id": {"type": "string", "pattern": ID_PATTERN.pattern},
                "contact": contact, "occurred_at": _instant(),
                "properties": {"type": "object", "propertyNames": _key(), "additionalProperties": _free_value(),
                               "properties": properties,
                               "required": needed},
            },
        })
    return {"oneOf": variants}


def manual_mark(strategy: Strategy) -> Schema:
    """POST /v1/admin/contacts/{id}/touches, from services.manual_touches.parse_mark."""
    from chalicelib.domain.manual import MANUAL_CHANNELS
    from chalicelib.services.manual_touches import COMMENT_LENGTH

    return {"type": "object", "additionalProperties": False, "required": ["occasion_id", "channel"], "properties": {
        "occasion_id": {"enum": sorted(strategy.occasions)}, "channel": {"enum": list(MANUAL_CHANNELS)},
        "comment": _text(COMMENT_LENGTH), "done": {"type": "boolean", "default": True},
        "send": {"type": "boolean", "default": False,
                 "description": "Send the occasion's template (email or sms) through the chains' decision path."},
    }}


def occasion_edit(strategy: Strategy) -> Schema:
    """PUT /v1/admin/occasions/{id}, from services.occasions: the version read and the occasion as the strategy
    file writes it (validated as `touchplan strategy check` validates it, templates rendered)."""
    return {"type": "object", "additionalProperties": False, "required": ["version", "occasion"], "properties": {
        "version": {"type": "integer", "minimum": 0, "description": "The version the edit started from."},
        "occasion": {"type": "object", "description": "An occasion in the strategy file's shape (docs/strategy.md)."},
    }}


def catalog_upload(strategy: Strategy) -> Schema:
    """PUT /v1/admin/catalog as JSON, from services.catalog.parse_product."""
    from chalicelib.domain.purchases import TEXT
    from chalicelib.services.catalog import UPLOAD_PRODUCTS

    def text(limit: int) -> Schema:
        return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": "^(?=.*\\S)[^\\u0000-\\u001f]*$"}

    price = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 999_999_999_999},
                       {"type": "string", "pattern": "^\\s*\\d{1,12}(\\.\\d{1,4})?\\s*$"}],
             "description": "A decimal number of at least 0 (a point, not a comma), at most 4 decimals."}
    product = {"type": "object", "additionalProperties": False, "required": ["sku", "name", "url", "category", "price"],
               "properties": {
                   "sku": text(TEXT["sku"]), "name": text(TEXT["name"]),
                   "url": {**text(TEXT["url"]), "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+[^\\s]*$"},
                   "category": {**text(TEXT["category"]),
                                "description": "Matched to interests and bought categories: trimmed, in lower case."},
                   "price": price,
               }}
    return {"type": "object", "additionalProperties": False, "required": ["products"], "properties": {
        "products": {"type": "array", "maxItems": UPLOAD_PRODUCTS, "items": product,
                     "description": "Each sku once."}}}
def campaign(strategy: Strategy) -> Schema:
    """POST /v1/admin/campaigns, from chalicelib.domain.campaigns.parse_definition."""
    from chalicelib.domain.campaigns import METRICS, RECURRENCES, SEGMENTS

    share = {"type": "number", "minimum": 0, "maximum": 1}
    day = {"type": "string", "format": "date"}
    return {"type": "object", "additionalProperties": False,
            "required": ["occasion_id", "audience", "channels", "send_at"], "properties": {
        "occasion_id": {"enum": sorted(strategy.occasions)},
        "audience": {"type": "object", "additionalProperties": False, "description": "A segment or a point_id.",
                     "properties": {
            "segment": {"enum": list(SEGMENTS)}, "point_id": {"type": "string", "minLength": 1},
            "interests": {"type": "array", "items": {"type": "string", "minLength": 1},
                          "description": "Any of them (survey interests)."},
            "attributes": {"type": "object", "description": "Every one equal to the contact's attribute."}}},
        "channels": {"type": "array", "minItems": 1, "items": {"enum": sorted(strategy.channels)}},
        "send_at": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["local_time", "date"], "properties": {
                "local_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
                               "description": "The wall time in each recipient's own zone."},
                "date": day}},
            {"type": "object", "additionalProperties": False, "required": ["at"],
             "properties": {"at": {"type": "string", "format": "date-time"}}}]},
        "ab": {"type": "object", "additionalProperties": False,
               "required": ["variants", "test_share", "pick_after", "metric"], "properties": {
            "variants": {"type": "array", "minItems": 2, "uniqueItems": True, "items": {"type": "string"},
                         "description": "Template variant ids of the occasion."},
            "test_share": share, "pick_after": {"type": "string", "description": 'A duration: "4h", "1d".'},
            "metric": {"enum": list(METRICS)}}},
        "holdout_share": {**share, "exclusiveMaximum": 1},
        "recur": {"enum": list(RECURRENCES), "description": "Repeat every week, each occurrence its own touches."},
        "until": {**day, "description": "A recurring campaign's last send day."},
    }}


def events(strategy: Strategy) -> Schema:
    from chalicelib.services.ingest import MAX_BATCH

    one = {"$ref": "#/components/schemas/Event"}
    batch = {"type": "object", "additionalProperties": False, "required": ["events"],
             "properties": {"events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": one}}}
    return {"oneOf": [one, batch]}


def preferences(strategy: Strategy) -> Schema:
    """POST /v1/preferences as JSON (functions.public_api._json_preferences); a form posts `<key>=on`."""
    from chalicelib.services.consent import key_of

    keys = sorted({key_of(c, p) for c in strategy.channels for p in strategy.purposes})
    return {"type": "object", "additionalProperties": False, "properties": {
        "consents": {"type": "object", "propertyNames": {"enum": keys}, "additionalProperties": {"type": "boolean"},
                     "description": "Switches by `<channel>:<purpose>`; one the contact does not have is a 400."},
        "unsubscribe_all": {"type": "boolean"},
    }}


def one_click(strategy: Strategy) -> Schema:
    return {"type": "object", "description": "RFC 8058: `List-Unsubscribe=One-Click`; the token alone decides.",
            "properties": {"List-Unsubscribe": {"const": "One-Click"}}}


# -- responses --------------------------------------------------------------------------------------------

ACCEPTED = {"type": "object", "required": ["status"], "properties": {"status": {"const": "pending_confirmation"}}}
EVENTS_ACCEPTED = {"type": "object", "required": ["accepted", "ids"], "properties": {
    "accepted": {"type": "integer", "minimum": 1}, "ids": {"type": "array", "items": {"type": "string"}}}}
HEALTH = {"type": "object", "required": ["status", "version", "stage"],
          "properties": {"status": {"const": "ok"}, "version": {"type": "string"}, "stage": {"type": "string"}}}
SWITCHES = {"type": "object", "required": ["consents"], "properties": {
    "consents": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "erasure_due": {"type": "string", "format": "date-time"}}}
UNSUBSCRIBED = {"type": "object", "required": ["status"], "properties": {"status": {"const": "unsubscribed"}}}
SUMMARY = {"type": "object", "required": ["contact_id", "status"], "properties": {
    "contact_id": {"type": "string"}, "status": {"type": "string"}, "email": {"type": ["string", "null"]},
    "phone": {"type": ["string", "null"]}, "point_id": {"type": ["string", "null"]},
    "segment": {"type": ["string", "null"]}, "created_at": {"type": "string"}}}
FOUND = {"type": "object", "required": ["contacts"], "properties": {"contacts": {"type": "array", "items": SUMMARY}}}
CARD = {"type": "object", "required": ["contact", "consent_history", "enrollments", "timers", "touches",
                                       "suppressions"],
        "properties": {"contact": {"type": "object"}, "consent_history": {"type": "array"},
                       "enrollments": {"type": "array"}, "timers": {"type": "array"}, "touches": {"type": "array"},
                       "suppressions": {"type": "array"}}}
STATS = {"type": "object", "required": ["from", "to", "rows"], "properties": {
    "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
    "rows": {"type": "array", "items": {"type": "object"}}}}

TOKEN = Param("token", "query", {"type": "string"}, "The signed link token from the message.", required=True)
CONTACT_ID = Param("contact_id", "path", {"type": "string"}, required=True)
OCCASION_ID = Param("occasion_id", "path", {"type": "string"}, required=True)
NOT_FOUND = error("No such contact (or not of the caller's point: the answer does not tell which).")
CAMPAIGN_ID = Param("campaign_id", "path", {"type": "string"}, required=True)
CAMPAIGN = {"type": "object", "required": ["campaign_id", "status", "counts"], "properties": {
    "campaign_id": {"type": "string"},
    "status": {"enum": ["scheduled", "fanning_out", "sending", "done", "cancelled"]},
    "counts": {"type": "object", "description": "audience = holdout + waiting + enrolled; enrolled = sent + "
                                                "skipped + failed + pending; skipped and deferred by reason."},
    "winner": {"type": ["object", "null"]}}}
NO_CAMPAIGN = error("No such campaign.")


def _stats_params(strategy: Strategy) -> tuple[Param, ...]:
    day = {"type": "string", "format": "date"}
    return (Param("chain", "query", {"enum": sorted(strategy.chains)}, "One chain (default: every chain)."),
            Param("from", "query", day, "First day (default: 29 days before `to`)."),
            Param("to", "query", day, "Last day, inclusive (default: today)."))


# The operators' console: HTML pages and forms behind a session cookie (POST /console/sign-in exchanges an API key
# for it), not the Bearer key. Without a live session every page is the sign-in page with 401; a role or point
# not allowed, or a form without its CSRF token, the 403 page. Same roles as the admin routes.
CONSOLE_PAGE = {200: Answer("The page.", page=True), 401: Answer("No live session: the sign-in page.", page=True),
                403: Answer("The session's role or point may not open it (or the form's CSRF token is wrong).",
                            page=True),
                404: Answer("No such occasion or contact.", page=True), 503: BUSY}
CONSOLE_FORM = {**CONSOLE_PAGE, 415: UNSUPPORTED}
CONSOLE = (
    Operation("GET", "/console", "The console's sign-in page (signed in: on to the occasions)", "console",
              {200: Answer("The sign-in form.", page=True), 303: Answer("Signed in already: the occasions."),
               503: BUSY}),
    Operation("POST", "/console/sign-in", "Sign in with an API key (form field `key`)", "console",
              {303: Answer("Signed in: the session cookie (HttpOnly, Secure, SameSite=Strict, Path=/console, 8 h).",
                           headers={"Set-Cookie": "tp_console=<signed session>"}),
               401: Answer("Not a valid key: the sign-in page again.", page=True), 415: UNSUPPORTED, 503: BUSY}),
    Operation("POST", "/console/sign-out", "Sign out (clears the cookie)", "console",
              {303: Answer("Signed out: the sign-in page."), **{k: v for k, v in CONSOLE_FORM.items() if k != 200}}),
    Operation("GET", "/console/occasions", "Occasions", "console", CONSOLE_PAGE),
    Operation("GET", "/console/occasions/{occasion_id}", "Edit an occasion, with a preview (service manager)",
              "console", CONSOLE_PAGE, params=(OCCASION_ID,)),
    Operation("POST", "/console/occasions/{occasion_id}", "Preview (action=preview) or save (action=save) an edit",
              "console", {**CONSOLE_FORM, 400: Answer("The edit is not valid: errors beside their fields.", page=True),
                          409: Answer("Someone saved another version meanwhile.", page=True)},
              params=(OCCASION_ID,)),
    Operation("GET", "/console/occasions/{occasion_id}/checklist", "The checklist of a point", "console",
              {**CONSOLE_PAGE, 400: Answer("A bad filter, named on the page.", page=True)},
              params=(OCCASION_ID, Param("point_id", "query", {"type": "string"}),
                      Param("period", "query", {"type": "string", "format": "date"}),
                      Param("segment", "query", {"type": "string"}), Param("cursor", "query", {"type": "string"}))),
    Operation("POST", "/console/occasions/{occasion_id}/checklist", "Mark one row: yes/no and a comment", "console",
              {**CONSOLE_FORM, 201: Answer("Marked: the checklist again.", page=True),
               202: Answer("A send deferred: the checklist again.", page=True),
               400: Answer("A bad field, named on the page.", page=True),
               409: Answer("Refused (marked before, consent, a cap): the refusal on the page.", page=True)},
              params=(OCCASION_ID,)),
    Operation("GET", "/console/contacts/{contact_id}", "The contact card and timeline", "console", CONSOLE_PAGE,
              params=(CONTACT_ID,)),
    Operation("GET", "/console/stats", "Stats with charts, and the triggered share (service manager)", "console",
              {**CONSOLE_PAGE, 400: Answer("A bad date, named on the page.", page=True)},
              params=(Param("chain", "query", {"type": "string"}),
                      Param("from", "query", {"type": "string", "format": "date"}),
                      Param("to", "query", {"type": "string", "format": "date"}))),
)


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/v1/health", "Liveness, version and stage", "public", {200: Answer("Up.", HEALTH)}),
    Operation("GET", "/v1/openapi.json", "This document", "public",
              {200: Answer("OpenAPI 3.1.", {"type": "object"})}),
    Operation("POST", "/v1/subscriptions", "Sign up (double opt-in)", "public",
              {202: Answer("The same answer for new, known, unsubscribed and suppressed addresses.", ACCEPTED),
               400: BAD_INPUT, 415: UNSUPPORTED, 503: BUSY},
              body=Body(signup)),
    Operation("OPTIONS", "/v1/subscriptions", "CORS preflight", "public", {204: Answer("Preflight answer.")}),
    Operation("GET", "/v1/confirm", "Confirm a sign-up (DOI link)", "public",
              {200: Answer("Confirmed, or already confirmed.", page=True),
               400: Answer("Bad or tampered link.", page=True), 410: Answer("Expired link.", page=True),
               503: BUSY},
              params=(TOKEN,)),
    Operation("GET", "/v1/preferences", "The preference centre", "public",
              {200: Answer("Every channel x purpose switch.", page=True),
               400: Answer("Bad or tampered link.", page=True), 410: Answer("Expired link.", page=True),
               503: BUSY},
              params=(TOKEN,)),
    Operation("POST", "/v1/preferences", "Change preferences (form or JSON)", "public",
              {200: Answer("The switches now (JSON for JSON, else the page).", SWITCHES, page=True),
               400: LINK_BAD, 410: LINK_EXPIRED, 415: UNSUPPORTED, 503: BUSY},
              params=(TOKEN,), body=Body(preferences, forms=True, required=False)),
    Operation("GET", "/v1/unsubscribe", "The unsubscribe confirm page (changes nothing)", "public",
              {200: Answer("Asks to confirm.", page=True), 400: Answer("Bad or tampered link.", page=True),
               410: Answer("Expired link.", page=True), 503: BUSY},
              params=(TOKEN,)),
    Operation("POST", "/v1/unsubscribe", "RFC 8058 one-click unsubscribe", "public",
              {200: Answer("Unsubscribed at once (JSON for JSON, else a page); never a redirect.", UNSUBSCRIBED,
                           page=True),
               400: LINK_BAD, 410: LINK_EXPIRED, 415: UNSUPPORTED, 503: BUSY},
              params=(TOKEN,), body=Body(one_click, forms=True, required=False)),
    Operation("POST", "/v1/events", "Ingest one event or a batch", "ingest",
              {202: Answer("Queued; a repeated id is accepted and ignored.", EVENTS_ACCEPTED), 400: BAD_INPUT,
               415: UNSUPPORTED, 503: BUSY},
              body=Body(events)),
    Operation("GET", "/v1/admin/contacts", "Find contacts by exactly one of email, phone, point_id", "admin",
              {200: Answer("At most 100 contacts, of the caller's point only.", FOUND), 400: BAD_INPUT, 503: BUSY},
              params=(Param("email", "query", {"type": "string"}), Param("phone", "query", {"type": "string"}),
                      Param("point_id", "query", {"type": "string"}, "A point manager may name only their own."))),
    Operation("GET", "/v1/admin/contacts/{contact_id}", "The contact card", "admin",
              {200: Answer("Profile, consents with proof, touches with decisions, chains.", CARD), 404: NOT_FOUND,
               503: BUSY},
              params=(CONTACT_ID,)),
    Operation("DELETE", "/v1/admin/contacts/{contact_id}", "Erase a contact (GDPR)", "admin",
              {200: Answer("Erased: a tombstone and the consent-withdrawal proof are kept.", {"type": "object"}),
               404: NOT_FOUND, 503: BUSY},
              params=(CONTACT_ID,)),
    Operation("GET", "/v1/admin/contacts/{contact_id}/export", "Everything held on a contact (GDPR)", "admin",
              {200: Answer("The same view as the card.", CARD), 404: NOT_FOUND, 503: BUSY},
              params=(CONTACT_ID,)),
    Operation("GET", "/v1/admin/stats", "Per chain, step and variant: sent ... converted, skipped by reason",
              "admin", {200: Answer("One row per chain x step x variant.", STATS), 400: BAD_INPUT, 503: BUSY},
              strategy_params=_stats_params),
    Operation("GET", "/v1/admin/occasions", "Every occasion, with its stored edits", "admin",
              {200: Answer("The occasions.", {"type": "object"}), 503: BUSY}),
    Operation("GET", "/v1/admin/occasions/{occasion_id}", "One occasion and its versions", "admin",
              {200: Answer("The occasion, who changed it and when.", {"type": "object"}),
               404: error("No such occasion."), 503: BUSY},
              params=(OCCASION_ID,)),
    Operation("PUT", "/v1/admin/occasions/{occasion_id}", "Edit an occasion (service manager)", "admin",
              {200: Answer("Stored as the next version; sends use it without a redeploy.", {"type": "object"}),
               400: BAD_INPUT, 404: error("No such occasion."),
               409: error("Someone saved another version since the one this edit started from."), 503: BUSY},
              params=(OCCASION_ID,), body=Body(occasion_edit)),
    Operation("GET", "/v1/admin/occasions/{occasion_id}/checklist", "Who of a point got the occasion this period",
              "admin",
              {200: Answer("A page of the point's contacts: done, not done, refused (with the reason), open.",
                           {"type": "object"}),
               400: BAD_INPUT, 404: error("No such occasion."), 503: BUSY},
              params=(OCCASION_ID,
                      Param("point_id", "query", {"type": "string"}, "A point manager may name only their own."),
                      Param("period", "query", {"type": "string", "format": "date"}, "A day inside the period."),
                      Param("segment", "query", {"type": "string"}, "Only contacts of this lifecycle segment."),
                      Param("cursor", "query", {"type": "string"}, "The previous page's next_cursor."),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}))),
    Operation("POST", "/v1/admin/contacts/{contact_id}/touches", "Mark a manual touch (or send the occasion)",
              "admin",
              {201: Answer("Marked.", {"type": "object"}),
               202: Answer("The send was deferred (quiet hours): it goes out at deferred_until.", {"type": "object"}),
               400: BAD_INPUT, 404: NOT_FOUND,
               409: error("Marked before within the occasion's period (the standing mark is given), or refused by "
                          "consent or a cap (the rule is named)."),
               503: BUSY},
              params=(CONTACT_ID,), body=Body(manual_mark)),
    Operation("PUT", "/v1/admin/catalog", "Upload products (service manager): upsert by sku, or replace all", "admin",
              {200: Answer("Stored: counts of the products created, updated, unchanged and removed.",
                           {"type": "object"}),
               400: BAD_INPUT, 409: error("Another upload is being written, or was written meanwhile."),
               415: UNSUPPORTED, 503: BUSY},
              params=(Param("replace", "query", {"enum": ["true", "false"], "default": "false"},
                            "true: products the upload does not list are removed."),),
              body=Body(catalog_upload, csv="A header row naming sku, name, url, category and price in any order, "
                                          "then a product per line (comma or semicolon separated, UTF-8).")),
    Operation("GET", "/v1/admin/audiences/{name}/export",
              "An ad audience as Customer Match / Custom Audiences CSV (service manager)", "admin",
              {200: Answer("`email_sha256,phone_sha256`: one row per current member with an identifier they "
                           "consented to marketing on (SHA-256 hex of the trimmed, lower-cased email and of the "
                           "E.164 phone); a page of up to `limit` members.", csv=True,
                           headers={"X-Next-Cursor": "The next page's cursor; absent on the last page."}),
               400: BAD_INPUT, 404: error("No audience of this name (no hook joins it and it has no members)."),
               503: BUSY},
              params=(Param("name", "path", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
                            required=True),
                      Param("cursor", "query", {"type": "string"}, "The previous page's X-Next-Cursor."),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 5000},
                            "Members per page (default 1000)."),
                      Param("platform", "query", {"type": "string", "enum": ["google", "meta"]},
                            "How the phone is hashed: E.164 with + (google, the default) or digits only (meta)."))),
    *CONSOLE,
    Operation("POST", "/v1/admin/campaigns", "Schedule a campaign (service manager)", "admin",
              {201: Answer("Scheduled: fanned out from a day before its first send.", CAMPAIGN), 400: BAD_INPUT,
               503: BUSY},
              body=Body(campaign)),
    Operation("GET", "/v1/admin/campaigns", "Campaigns, newest first, page by page (service manager)", "admin",
              {200: Answer("A page of at most `limit` campaigns and the next page's cursor (null on the last).",
                           {"type": "object", "required": ["campaigns", "next_cursor"], "properties": {
                               "campaigns": {"type": "array", "items": {"type": "object"}},
                               "next_cursor": {"type": ["string", "null"]}}}),
               400: BAD_INPUT, 503: BUSY},
              params=(Param("cursor", "query", {"type": "string"}, "The previous page's next_cursor."),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100}))),
    Operation("GET", "/v1/admin/campaigns/{campaign_id}", "A campaign: status and counts (service manager)",
              "admin", {200: Answer("The campaign.", CAMPAIGN), 404: NO_CAMPAIGN, 503: BUSY},
              params=(CAMPAIGN_ID,)),
    Operation("POST", "/v1/admin/campaigns/{campaign_id}/cancel", "Cancel a campaign (service manager)", "admin",
              {200: Answer("Cancelled: nothing further is sent.", CAMPAIGN), 404: NO_CAMPAIGN,
               409: error("The campaign is done or cancelled already."), 503: BUSY},
              params=(CAMPAIGN_ID,)),
)


# -- the document -----------------------------------------------------------------------------------------


def _content(answer: Answer) -> Schema:
    content: Schema = {}
    if answer.schema is not None:
        content[JSON] = {"schema": answer.schema}
    if answer.page:
        content[HTML] = {"schema": {"type": "string"}}
    if answer.csv:
        content[CSV] = {"schema": {"type": "string"}}
    return content


def _response(answer: Answer) -> Schema:
    response: Schema = {"description": answer.description}
    if content := _content(answer):
        response["content"] = content
    if answer.headers:
        response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                               for name, text in answer.headers.items()}
    return response


def _operation(op: Operation, strategy: Strategy, roles: tuple[str, ...] | None) -> Schema:
    answers = dict(op.answers)
    described = op.summary
    entry: Schema = {"operationId": f"{op.method.lower()}{op.path.replace('/', '_').replace('{', '').replace('}', '')}",
                     "summary": op.summary, "tags": [op.tag]}
    if roles is not None:
        answers[401] = error("No key, or not a valid one.")
        answers[403] = error("The key's role (or point) may not do this.")
        entry["security"] = [{"bearerKey": []}]
        entry["x-roles"] = list(roles)
        described += f". Roles: {', '.join(roles)}."
    entry["description"] = described
    params = op.params + (op.strategy_params(strategy) if op.strategy_params else ())
    if params:
        entry["parameters"] = [{"name": p.name, "in": p.where, "required": p.required or p.where == "path",
                                "schema": p.schema, **({"description": p.description} if p.description else {})}
                               for p in params]
    if op.body is not None:
        schema = op.body.schema(strategy)
        content: Schema = {JSON: {"schema": schema}}
        if op.body.forms:
            form = {"type": "object", "additionalProperties": {"type": "string"}}
            content[FORM] = {"schema": form}
            content[MULTIPART] = {"schema": form}
        if op.body.csv:
            content["text/csv"] = {"schema": {"type": "string", "description": op.body.csv}}
        entry["requestBody"] = {"required": op.body.required, "content": content}
    entry["responses"] = {str(status): _response(answers[status]) for status in sorted(answers)}
    return entry


def _roles(routes: Mapping[str, Mapping[str, Any]] | None, op: Operation) -> tuple[str, ...] | None:
    """The roles a guarded route lets in (None: public), as the app registers it."""
    entry = (routes or {}).get(op.path, {}).get(op.method)
    if entry is None or entry.authorizer is None:
        return None
    return tuple(getattr(entry.view_function, "required_roles", ()))


def document(strategy: Strategy, version: str, routes: Mapping[str, Mapping[str, Any]] | None = None) -> Schema:
    """The OpenAPI 3.1 document; `routes` is the Chalice app's route table (roles and security come from it)."""
    from zoneinfo import available_timezones

    paths: Schema = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, strategy, _roles(routes, op))
    error_schema = {"type": "object", "additionalProperties": False, "required": ["error", "message", "field"],
                    "properties": {"error": {"type": "string", "description": "A machine code."},
                                   "message": {"type": "string", "description": "A sentence for a person."},
                                   "field": {"type": ["string", "null"],
                                             "description": "The JSON path or parameter at fault."}}}
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {"title": "touchplan", "version": version,
                 "description": "Customer contact strategy engine: sign-up with double opt-in, preference centre, "
                                "events, and the admin API. Every error is `{error, message, field}`."},
        "paths": paths,
        "components": {
            "schemas": {"Error": error_schema, "Event": event(strategy),
                        "TimeZone": {"type": "string", "enum": sorted(available_timezones())}},
            "securitySchemes": {"bearerKey": {"type": "http", "scheme": "bearer",
                                              "description": "An API key (`touchplan keys create --role ...`): "
                                                             "roles ingest, service-manager, point-manager."}},
        },
    }
