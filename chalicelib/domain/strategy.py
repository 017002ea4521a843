"""Validate a strategy document (the dict a YAML/JSON reader produced) into a typed Strategy.

Every problem is collected with its exact path (`chains.welcome.steps[2].wait: expected a duration like
"2d"`), so one run lists them all; nothing here raises anything but StrategyError. Each problem is reported
once: a missing section or a declared id that is itself invalid is not reported again where it is used.
"""

import re
from collections.abc import Callable, Mapping
from datetime import time, timedelta
from typing import Literal, TypeVar, cast

from chalicelib.domain.audiences import is_audience_hook, valid_name
from chalicelib.domain.durations import parse_duration
from chalicelib.domain.events import EVENTS
from chalicelib.domain.model import (
    CHANNEL_KINDS,
    DEFAULT_PERIOD,
    ERASURE_AFTER,
    PERSONAL_CHANNELS,
    REACTIONS,
    WEEKDAYS,
    Arbitration,
    B2BWindow,
    BranchStep,
    Cap,
    Category,
    Chain,
    Channel,
    Condition,
    ConsentText,
    DailyWindow,
    DoiRules,
    EmailTemplate,
    ExitStep,
    HookStep,
    Lifecycle,
    Occasion,
    Offer,
    PropertyTest,
    Purpose,
    PushTemplate,
    Reach,
    Reentry,
    SendStep,
    SmsTemplate,
    Step,
    Strategy,
    SubjectVariant,
    Template,
    Trigger,
    WaitStep,
    quiet_hours,
)
from chalicelib.domain.zones import zone

T = TypeVar("T")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_END = "end"
_NEXT = "next"
_LINKS = ("unsubscribe_url", "preferences_url")
_SECTIONS = ("version", "locales", "channels", "purposes", "categories", "lifecycle", "consent_texts", "occasions",
             "chains", "doi", "attribution")


class _Missing:
    """A section the document leaves out: reported once as required, then read as empty everywhere."""


_MISSING = _Missing()


class StrategyError(ValueError):
    """A strategy that cannot be used; `.errors` lists every problem as `path: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Reader:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self._reported: set[str] = set()
        self._broken: dict[str, set[str] | None] = {}  # what -> ids declared but invalid; None: all of them

    def error(self, path: str, message: str) -> None:
        # One error per path: a missing key is "required", not also "expected text, got nothing" when read.
        if path not in self._reported:
            self._reported.add(path)
            self.errors.append(f"{path}: {message}")

    def declared(self, what: str, value: object, valid: Mapping[str, object]) -> None:
        """Ids of `value` that are declared but failed their own validation: their users stay quiet."""
        self._broken[what] = {k for k in value if k not in valid} if isinstance(value, dict) else None

    def mapping(self, value: object, path: str, required: tuple[str, ...] = (),
                optional: tuple[str, ...] = ()) -> dict[str, object] | None:
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {_kind(value)}")
            return None
        known = set(required) | set(optional)
        for key in value:
            if not isinstance(key, str):
                self.error(path, f"keys must be text, got {_kind(key)} {key!r}")
            elif known and key not in known:
                self.error(f"{path}.{key}", f"unknown key (expected one of: {', '.join(sorted(known))})")
        for key in required:
            if key not in value:
                self.error(f"{path}.{key}", "required")
        return cast(dict[str, object], value)

    def entries(self, value: object, path: str) -> list[tuple[str, str, object]]:
        """(id, path, value) of a mapping keyed by ids."""
        table = self.mapping(value, path)
        if table is None:
            return []
        found = []
        for key, item in table.items():
            if isinstance(key, str):
                if not _ID.fullmatch(key):
                    self.error(f"{path}.{key}", "ids are lower-case letters, digits, '-' and '_'")
                found.append((key, f"{path}.{key}", item))
        return found

    def items(self, value: object, path: str) -> list[tuple[str, object]]:
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_kind(value)}")
            return []
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]

    def text(self, value: object, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.error(path, f"expected non-empty text, got {_kind(value)}")
            return None
        return value

    def integer(self, value: object, path: str, minimum: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"expected a whole number, got {_kind(value)}")
            return None
        if value < minimum:
            self.error(path, f"expected a number >= {minimum}, got {value}")
            return None
        return value

    def number(self, value: object, path: str, low: float = 0.0, high: float | None = None) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"expected a number, got {_kind(value)}")
            return None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            self.error(path, f"expected a number {bound}, got {value}")
            return None
        return float(value)

    def flag(self, value: object, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"expected true or false, got {_kind(value)}")
            return None
        return value

    def duration(self, value: object, path: str, positive: bool = True) -> timedelta | None:
        span = parse_duration(value) if isinstance(value, str) else None
        if span is None or (positive and span <= timedelta()):
            self.error(path, f'expected a duration like "2d", "12h" or "90m", got {_show(value)}')
            return None
        return span

    def clock(self, value: object, path: str) -> time | None:
        match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            hint = " (quote it: YAML reads 21:00 as a number)" if isinstance(value, int) else ""
            self.error(path, f'expected a time of day like "21:00"{hint}, got {_show(value)}')
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str | None:
        if not isinstance(value, str) or value not in options:
            self.error(path, f"expected one of {', '.join(options)}, got {_show(value)}")
            return None
        return value

    def ref(self, value: object, path: str, known: Mapping[str, object], what: str) -> str | None:
        broken = self._broken.get(what, set())
        if broken is None or (isinstance(value, str) and value in broken):
            return None  # its own error is already listed
        if not isinstance(value, str) or value not in known:
            listed = ", ".join(sorted(known)) or "none declared"
            self.error(path, f"unknown {what} {_show(value)} (known: {listed})")
            return None
        return value

    def refs(self, value: object, path: str, known: Mapping[str, object], what: str) -> frozenset[str]:
        if isinstance(value, str):
            value = [value]
        return frozenset(r for p, v in self.items(value, path) if (r := self.ref(v, p, known, what)))


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str | int | float) else _kind(value)


def _required(parts: list[T | None]) -> list[T] | None:
    """The parts when none is missing (its error is already recorded), else None."""
    return None if any(p is None for p in parts) else [p for p in parts if p is not None]


def parse_strategy(data: object) -> Strategy:
    """The typed Strategy for `data`, or StrategyError listing every problem with its path."""
    r = _Reader()
    given = r.mapping(data, "strategy", required=_SECTIONS,
                      optional=("currency", "caps", "b2b", "arbitration", "time_zones", "links", "consent"))
    if given is None:
        raise StrategyError(r.errors)
    root = {**dict.fromkeys(_SECTIONS, _MISSING), **given}
    version = None if root["version"] is _MISSING else r.integer(root["version"], "strategy.version", minimum=1)
    locales = tuple(t for p, v in r.items(root["locales"], "locales") if (t := r.text(v, p)))
    currency = r.text(root.get("currency", "RUB"), "currency")
    channels = _channels(r, root["channels"])
    r.declared("channel", root["channels"], channels)
    purposes = _purposes(r, root["purposes"])
    r.declared("purpose", root["purposes"], purposes)
    categories = _categories(r, root["categories"], purposes)
    r.declared("category", root["categories"], categories)
    caps = tuple(c for p, v in r.items(root.get("caps", []), "caps")
                 if (c := _cap(r, v, p, categories, channels)))
    b2b = _b2b(r, root["b2b"], categories) if "b2b" in root else None
    arbitration = _arbitration(r, root["arbitration"], categories) if "arbitration" in root else None
    zones = _zones(r, root.get("time_zones", {"fallback": []}))
    lifecycle = _lifecycle(r, root["lifecycle"])
    consent_texts = _consent_texts(r, root["consent_texts"], purposes, channels, locales)
    occasions = _occasions(r, root["occasions"], categories, channels, locales, purposes)
    r.declared("occasion", root["occasions"], occasions)
    chains = _chains(r, root["chains"], occasions, channels, categories, purposes)
    attribution = r.mapping(root["attribution"], "attribution", required=("window",))
    window = r.duration(attribution.get("window"), "attribution.window") if attribution else None
    doi = _doi(r, root["doi"], occasions)
    links = _links(r, root.get("links", {}))
    erasure_after = _erasure_after(r, root.get("consent", {}))
    if r.errors or not (version and currency and lifecycle and window and doi):
        raise StrategyError(r.errors or ["strategy: incomplete"])
    return Strategy(
        version=version, locales=locales, currency=currency, channels=channels, purposes=purposes,
        categories=categories, caps=caps, b2b=b2b, arbitration=arbitration, fallback_zones=zones,
        lifecycle=lifecycle, consent_texts=consent_texts, occasions=occasions, chains=chains,
        attribution_window=window, doi=doi, links=links, erasure_after=erasure_after,
    )


def _erasure_after(r: _Reader, value: object) -> timedelta:
    spec = r.mapping(value, "consent", optional=("erasure_after",))
    if spec is None or "erasure_after" not in spec:
        return ERASURE_AFTER
    return r.duration(spec["erasure_after"], "consent.erasure_after") or ERASURE_AFTER


def _links(r: _Reader, value: object) -> dict[str, str]:
    found = {}
    for name, path, item in r.entries(value, "links"):
        url = r.text(item, path)
        if not name.endswith("_url"):
            r.error(path, "a link name ends in _url (templates use it as {{ name }})")
        elif url is not None and not url.startswith(("https://", "http://")):
            r.error(path, f"expected an http(s) URL, got {_show(item)}")
        elif url is not None:
            found[name] = url
    return found


def _offer(r: _Reader, value: object, path: str) -> Offer | None:
    spec = r.mapping(value, path, optional=("promo_code", "discount", "valid_for"))
    if spec is None:
        return None
    code = r.text(spec["promo_code"], f"{path}.promo_code") if "promo_code" in spec else None
    discount = r.text(spec["discount"], f"{path}.discount") if "discount" in spec else None
    valid_for = r.duration(spec["valid_for"], f"{path}.valid_for") if "valid_for" in spec else None
    return Offer(code, discount, valid_for)


def _channels(r: _Reader, value: object) -> dict[str, Channel]:
    found = {}
    for cid, path, item in r.entries(value, "channels"):
        if cid not in CHANNEL_KINDS:
            r.error(path, f"unsupported channel (supported: {', '.join(CHANNEL_KINDS)})")
        spec = r.mapping(item, path, required=("cost",), optional=("quiet_hours",))
        if spec is None:
            continue
        cost = r.number(spec.get("cost"), f"{path}.cost")
        quiet = None
        if spec.get("quiet_hours") is not None:
            hours = r.mapping(spec["quiet_hours"], f"{path}.quiet_hours", required=("start", "end"))
            if hours is not None:
                start = r.clock(hours.get("start"), f"{path}.quiet_hours.start")
                end = r.clock(hours.get("end"), f"{path}.quiet_hours.end")
                if start and end and start == end:
                    r.error(f"{path}.quiet_hours", "start and end must differ (leave quiet_hours out)")
                elif start and end:
                    quiet = quiet_hours(start, end)
        if cost is not None:
            found[cid] = Channel(id=cid, cost=cost, quiet_hours=quiet)
    return found


def _purposes(r: _Reader, value: object) -> dict[str, Purpose]:
    found = {}
    for pid, path, item in r.entries(value, "purposes"):
        spec = r.mapping(item, path, required=("consent",))
        if spec is not None and (basis := r.choice(spec.get("consent"), f"{path}.consent",
                                                   ("opt_in", "opt_out"))):
            found[pid] = Purpose(id=pid, opt_in=basis == "opt_in")
    for needed in ("marketing", "service", "data_processing"):
        if isinstance(value, dict) and needed not in found and needed not in value:
            r.error(f"purposes.{needed}", "required")
    return found


def _categories(r: _Reader, value: object, purposes: Mapping[str, Purpose]) -> dict[str, Category]:
    found = {}
    for cid, path, item in r.entries(value, "categories"):
        spec = r.mapping(item, path, required=("priority", "purpose"), optional=("quiet_hours",))
        if spec is None:
            continue
        priority = r.integer(spec.get("priority"), f"{path}.priority")
        purpose = r.ref(spec.get("purpose"), f"{path}.purpose", purposes, "purpose")
        quiet = r.flag(spec.get("quiet_hours", True), f"{path}.quiet_hours")
        if priority is not None and purpose and quiet is not None:
            found[cid] = Category(id=cid, priority=priority, purpose=purpose, quiet_hours=quiet)
    return found


def _cap(r: _Reader, value: object, path: str, categories: Mapping[str, Category],
         channels: Mapping[str, Channel]) -> Cap | None:
    spec = r.mapping(value, path, required=("id", "categories", "max", "per"), optional=("channels",))
    if spec is None:
        return None
    cid = r.text(spec.get("id"), f"{path}.id")
    cats = r.refs(spec.get("categories"), f"{path}.categories", categories, "category")
    # A cap may also count the touches managers record by hand (phone, meeting...), as seeds' manual caps do.
    countable = {**channels, **dict.fromkeys(PERSONAL_CHANNELS, None)}
    chans = r.refs(spec.get("channels", list(channels)), f"{path}.channels", countable, "channel")
    most = r.integer(spec.get("max"), f"{path}.max", minimum=1)
    per = r.duration(spec.get("per"), f"{path}.per")
    if cid and cats and chans and most and per:
        return Cap(id=cid, categories=cats, channels=chans, max=most, per=per)
    return None


def _days(r: _Reader, value: object, path: str) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(d) for p, v in r.items(value, path) if (d := r.choice(v, p, WEEKDAYS)))


def _b2b(r: _Reader, value: object, categories: Mapping[str, Category]) -> B2BWindow | None:
    spec = r.mapping(value, "b2b", required=("days", "start", "end", "categories"))
    if spec is None:
        return None
    days = _days(r, spec.get("days"), "b2b.days")
    start = r.clock(spec.get("start"), "b2b.start")
    end = r.clock(spec.get("end"), "b2b.end")
    cats = r.refs(spec.get("categories"), "b2b.categories", categories, "category")
    if start and end and start >= end:
        r.error("b2b.end", "must be later than b2b.start (working hours within one day)")
        return None
    if not days and isinstance(spec.get("days"), list):
        r.error("b2b.days", "name at least one weekday")
    if days and start and end:
        return B2BWindow(window=DailyWindow(open=start, close=end, days=days), categories=cats)
    return None


def _arbitration(r: _Reader, value: object, categories: Mapping[str, Category]) -> Arbitration | None:
    spec = r.mapping(value, "arbitration", required=("slot", "categories"))
    if spec is None:
        return None
    slot = r.duration(spec.get("slot"), "arbitration.slot")
    cats = r.refs(spec.get("categories"), "arbitration.categories", categories, "category")
    return Arbitration(slot=slot, categories=cats) if slot else None


def _zones(r: _Reader, value: object) -> tuple[str, ...]:
    spec = r.mapping(value, "time_zones", optional=("fallback",))
    if spec is None:
        return ()
    zones = []
    for path, item in r.items(spec.get("fallback", []), "time_zones.fallback"):
        if isinstance(item, str) and zone(item) is not None:  # one file read a name, not a walk of tzdata
            zones.append(item)
        else:
            r.error(path, f"expected an IANA time zone like \"Europe/Moscow\", got {_show(item)}")
    return tuple(zones)


def _lifecycle(r: _Reader, value: object) -> Lifecycle | None:
    names = ("active_within", "active_min_orders", "leaving_after", "dormant_after", "stop_list_after",
             "birthday_at", "refill_lead")
    spec = r.mapping(value, "lifecycle", required=names)
    if spec is None:
        return None
    spans = {n: r.duration(spec.get(n), f"lifecycle.{n}")
             for n in ("active_within", "leaving_after", "dormant_after", "stop_list_after", "refill_lead")}
    orders = r.integer(spec.get("active_min_orders"), "lifecycle.active_min_orders", minimum=1)
    birthday_at = r.clock(spec.get("birthday_at"), "lifecycle.birthday_at")
    leaving, dormant = spans["leaving_after"], spans["dormant_after"]
    if leaving and dormant and dormant <= leaving:
        r.error("lifecycle.dormant_after", "must be longer than lifecycle.leaving_after")
    parts = _required([spans["active_within"], leaving, dormant, spans["stop_list_after"],
                       spans["refill_lead"]])
    if parts is None or orders is None or birthday_at is None:
        return None
    active_within, leaving_after, dormant_after, stop_list_after, refill_lead = parts
    return Lifecycle(active_within=active_within, active_min_orders=orders, leaving_after=leaving_after,
                     dormant_after=dormant_after, stop_list_after=stop_list_after, birthday_at=birthday_at,
                     refill_lead=refill_lead)


def _by_locale(r: _Reader, value: object, path: str, locales: tuple[str, ...],
               read: Callable[[object, str], T | None]) -> dict[str, T]:
    found = {}
    spec = r.mapping(value, path, optional=locales)
    if spec is None:
        return {}
    for locale in locales:
        if locale not in spec:
            r.error(f"{path}.{locale}", "required (every locale of `locales` needs its text)")
        elif (item := read(spec[locale], f"{path}.{locale}")) is not None:
            found[locale] = item
    return found


def _consent_texts(r: _Reader, value: object, purposes: Mapping[str, Purpose],
                   channels: Mapping[str, Channel], locales: tuple[str, ...]) -> dict[str, ConsentText]:
    found = {}
    for tid, path, item in r.entries(value, "consent_texts"):
        spec = r.mapping(item, path, required=("purpose", "text"), optional=("channel",))
        if spec is None:
            continue
        purpose = r.ref(spec.get("purpose"), f"{path}.purpose", purposes, "purpose")
        channel = None
        if spec.get("channel") is not None:
            channel = r.ref(spec["channel"], f"{path}.channel", channels, "channel")
        elif purpose and purpose != "data_processing":
            r.error(f"{path}.channel", "required for a communication consent")
        text = _by_locale(r, spec.get("text"), f"{path}.text", locales, r.text)
        if purpose and len(text) == len(locales):
            found[tid] = ConsentText(id=tid, purpose=purpose, channel=channel, text=text)
    return found


def _email(r: _Reader, value: object, path: str) -> EmailTemplate | None:
    spec = r.mapping(value, path, required=("subject", "html", "text"), optional=("preheader",))
    if spec is None:
        return None
    subject = spec.get("subject")
    variants: list[SubjectVariant] = []
    if isinstance(subject, list):
        for vpath, item in r.items(subject, f"{path}.subject"):
            vspec = r.mapping(item, vpath, required=("id", "subject", "preheader"))
            if vspec is not None:
                keys = ("id", "subject", "preheader")
                parts = _required([r.text(vspec.get(k), f"{vpath}.{k}") for k in keys])
                if parts:
                    variants.append(SubjectVariant(*parts))
        ids = [v.id for v in variants]
        if len(set(ids)) != len(ids):
            r.error(f"{path}.subject", "variant ids must be unique")
        if not subject:
            r.error(f"{path}.subject", "name at least one variant")
    elif (line := r.text(subject, f"{path}.subject")) is not None:
        variants.append(SubjectVariant("A", line, str(spec.get("preheader", ""))))
    html = r.text(spec.get("html"), f"{path}.html")
    text = r.text(spec.get("text"), f"{path}.text")
    if html and text and variants:
        return EmailTemplate(variants=tuple(variants), html=html, text=text)
    return None


def _sms(r: _Reader, value: object, path: str) -> SmsTemplate | None:
    spec = r.mapping(value, path, required=("text",))
    text = r.text(spec.get("text"), f"{path}.text") if spec else None
    return SmsTemplate(text) if text else None


def _push(r: _Reader, value: object, path: str) -> PushTemplate | None:
    spec = r.mapping(value, path, required=("title", "body"))
    if spec is None:
        return None
    parts = _required([r.text(spec.get("title"), f"{path}.title"), r.text(spec.get("body"), f"{path}.body")])
    return PushTemplate(*parts) if parts else None


_TEMPLATE_READERS: dict[str, Callable[[_Reader, object, str], Template | None]] = {
    "email": _email, "sms": _sms, "push": _push,
}


def _occasions(r: _Reader, value: object, categories: Mapping[str, Category], channels: Mapping[str, Channel],
               locales: tuple[str, ...], purposes: Mapping[str, Purpose]) -> dict[str, Occasion]:
    found = {}
    for oid, path, item in r.entries(value, "occasions"):
        spec = r.mapping(item, path, required=("title", "category", "validity", "templates"),
                         optional=("priority", "quiet_hours", "offer", "period"))
        if spec is None:
            continue
        title = r.text(spec.get("title"), f"{path}.title")
        category_id = r.ref(spec.get("category"), f"{path}.category", categories, "category")
        category = categories.get(category_id or "")
        priority = (r.integer(spec["priority"], f"{path}.priority") if "priority" in spec
                    else category.priority if category else None)
        validity = r.duration(spec.get("validity"), f"{path}.validity")
        period = r.duration(spec["period"], f"{path}.period") if "period" in spec else DEFAULT_PERIOD
        inherited = category.quiet_hours if category else True
        quiet = r.flag(spec.get("quiet_hours", inherited), f"{path}.quiet_hours")
        templates: dict[str, dict[str, Template]] = {}
        for channel, tpath, tvalue in r.entries(spec.get("templates"), f"{path}.templates"):
            if r.ref(channel, tpath, channels, "channel") is None:
                continue
            reader = _TEMPLATE_READERS[channel]

            def read(v: object, p: str, reader: Callable[[_Reader, object, str], Template | None] = reader
                     ) -> Template | None:
                return reader(r, v, p)

            templates[channel] = _by_locale(r, tvalue, tpath, locales, read)
            _check_variants_agree(r, templates[channel], tpath)
            marketing = category is not None and purposes.get(category.purpose, Purpose("", False)).opt_in
            if channel == "email" and marketing:
                for locale, template in templates[channel].items():
                    if isinstance(template, EmailTemplate):
                        _check_links(r, template, f"{tpath}.{locale}")
        if isinstance(spec.get("templates"), dict) and not spec["templates"]:
            r.error(f"{path}.templates", "name at least one channel")
        offer = _offer(r, spec["offer"], f"{path}.offer") if "offer" in spec else None
        if title and category and priority is not None and validity and period and quiet is not None:
            found[oid] = Occasion(id=oid, title=title, category=category.id, priority=priority,
                                  validity=validity, quiet_hours=quiet, templates=templates, offer=offer,
                                  period=period)
    return found


def _check_links(r: _Reader, template: EmailTemplate, path: str) -> None:
    """A marketing email lets the reader leave and change their mind: both links, in both parts."""
    for part, source in (("html", template.html), ("text", template.text)):
        absent = [name for name in _LINKS if name not in source]
        if absent:
            shown = " and ".join(f"{{{{ {name} }}}}" for name in absent)
            r.error(f"{path}.{part}", f"a marketing email must link {shown}")


def _check_variants_agree(r: _Reader, by_locale: Mapping[str, Template], path: str) -> None:
    seen = {loc: tuple(v.id for v in t.variants)
            for loc, t in by_locale.items() if isinstance(t, EmailTemplate)}
    if len(set(seen.values())) > 1:
        r.error(f"{path}", "every locale must name the same subject variants")


def _condition(r: _Reader, value: object, path: str) -> Condition | None:
    if isinstance(value, str):
        reaction = r.choice(value, path, REACTIONS)
        return Condition(reactions=frozenset({reaction})) if reaction else None
    if isinstance(value, list):
        reactions = frozenset(n for p, v in r.items(value, path) if (n := r.choice(v, p, REACTIONS)))
        return Condition(reactions=reactions) if reactions and len(reactions) == len(value) else None
    spec = r.mapping(value, path, required=("attribute",), optional=("equals", "present"))
    if spec is None:
        return None
    attribute = r.text(spec.get("attribute"), f"{path}.attribute")
    if ("equals" in spec) == ("present" in spec):
        r.error(path, "give exactly one of `equals` or `present`")
        return None
    present = r.flag(spec["present"], f"{path}.present") if "present" in spec else None
    return Condition(attribute=attribute, equals=spec.get("equals"), present=present) if attribute else None


_STEP_KINDS = ("wait", "send", "branch", "exit", "hook")


def _steps(r: _Reader, value: object, path: str, occasions: Mapping[str, Occasion],
           channels: Mapping[str, Channel]) -> list[Step]:
    listed = r.items(value, path)
    if isinstance(value, list) and not value:
        r.error(path, "a chain needs at least one step")
    ids = []
    for i, (_, item) in enumerate(listed):
        sid = item.get("id") if isinstance(item, dict) else None
        ids.append(sid if isinstance(sid, str) else f"step-{i}")
    for i, sid in enumerate(ids):
        if ids.index(sid) != i:
            r.error(f"{listed[i][0]}.id", f"duplicate step id {sid!r}")

    def target(raw: object, tpath: str, index: int) -> int | None:
        if raw == _NEXT:
            return index + 1
        if raw == _END:
            return len(listed)
        if isinstance(raw, str) and raw in ids:
            if ids.index(raw) <= index:
                r.error(tpath, f"may only jump forward, {raw!r} is not after this step")
                return None
            return ids.index(raw)
        r.error(tpath, f"expected a step id, \"next\" or \"end\", got {_show(raw)}")
        return None

    steps: list[Step] = []
    for i, (spath, item) in enumerate(listed):
        spec = r.mapping(item, spath)
        if spec is None:
            continue
        kinds = [k for k in _STEP_KINDS if k in spec]
        if len(kinds) != 1:
            r.error(spath, f"expected exactly one of {', '.join(_STEP_KINDS)}")
            continue
        kind, sid = kinds[0], ids[i]
        step = _step(r, kind, spec, spath, sid, i, occasions, channels, target)
        if step is not None:
            steps.append(step)
    return steps


def _step(r: _Reader, kind: str, spec: dict[str, object], path: str, sid: str, index: int,
          occasions: Mapping[str, Occasion], channels: Mapping[str, Channel],
          target: Callable[[object, str, int], int | None]) -> Step | None:
    extra = {"wait": (), "send": ("channels", "sms"), "branch": ("within", "then", "else"),
             "exit": (), "hook": ("for",)}[kind]
    r.mapping(spec, path, required=(kind,), optional=("id", *extra))
    if kind == "wait":
        span = r.duration(spec["wait"], f"{path}.wait")
        return WaitStep(sid, span) if span else None
    if kind == "send":
        occasion_id = r.ref(spec["send"], f"{path}.send", occasions, "occasion")
        occasion = occasions.get(occasion_id or "")
        names = spec.get("channels", list(occasion.templates) if occasion else [])
        picked = tuple(c for p, v in r.items(names, f"{path}.channels")
                       if (c := r.ref(v, p, channels, "channel")))
        for channel in picked:
            if occasion and channel not in occasion.templates:
                r.error(f"{path}.channels", f"occasion {occasion.id!r} has no {channel} template")
        sms = r.choice(spec.get("sms", "never"), f"{path}.sms", ("never", "allowed", "on_no_reaction"))
        if occasion and picked and sms:
            gate = cast(Literal["never", "allowed", "on_no_reaction"], sms)
            return SendStep(sid, occasion.id, picked, gate)
        return None
    if kind == "branch":
        condition = _condition(r, spec["branch"], f"{path}.branch")
        within = r.duration(spec["within"], f"{path}.within") if "within" in spec else None
        then = target(spec.get("then", _NEXT), f"{path}.then", index)
        otherwise = target(spec.get("else", _NEXT), f"{path}.else", index)
        if condition and then is not None and otherwise is not None:
            return BranchStep(sid, condition, within, then, otherwise)
        return None
    if kind == "exit":
        raw = spec["exit"]
        if raw in (None, {}, True):
            return ExitStep(sid, None)
        exit_spec = r.mapping(raw, f"{path}.exit", required=("if",))
        condition = _condition(r, exit_spec.get("if"), f"{path}.exit.if") if exit_spec else None
        return ExitStep(sid, condition) if condition else None
    hook = r.text(spec["hook"], f"{path}.hook")
    duration = r.duration(spec["for"], f"{path}.for") if "for" in spec else None
    if hook and is_audience_hook(hook):
        # Any hook but the stop list names the ad audience it joins; a membership always ends.
        if not valid_name(hook):
            r.error(f"{path}.hook", f"an audience name is lower-case letters, digits, - and _, got {_show(hook)}")
        if "for" not in spec:
            r.error(f"{path}.for", 'an audience hook needs how long the contact stays in it, like "14d"')
    return HookStep(sid, hook, duration) if hook else None


def _trigger(r: _Reader, value: object, path: str) -> Trigger | None:
    spec = r.mapping(value, path, required=("event",), optional=("when",))
    if spec is None:
        return None
    event = r.ref(spec.get("event"), f"{path}.event", EVENTS, "event")
    tests = []
    for prop, tpath, raw in r.entries(spec.get("when", {}), f"{path}.when"):
        known = EVENTS[event].all_properties if event else ()
        if event and prop not in {p.name for p in known}:
            listed = ", ".join(p.name for p in known) or "none"
            r.error(tpath, f"{event} has no property {prop!r} (it has: {listed})")
            continue
        test = r.mapping(raw, tpath, optional=("at_least", "in", "equals"))
        if test is None or len(test) != 1:
            if test is not None:
                r.error(tpath, "give exactly one of at_least, in, equals")
            continue
        op, operand = next(iter(test.items()))
        if op == "at_least" and r.number(operand, f"{tpath}.at_least") is None:
            continue
        if op == "in":
            if not isinstance(operand, list) or not operand:
                r.error(f"{tpath}.in", "expected a non-empty list")
                continue
            operand = tuple(operand)
        tests.append(PropertyTest(prop, cast(Literal["at_least", "in", "equals"], op), operand))
    return Trigger(event, tuple(tests)) if event else None


def _reentry(r: _Reader, spec: dict[str, object], path: str) -> Reentry | None:
    raw = spec.get("reentry", "never")
    restart = r.flag(spec.get("restart", False), f"{path}.restart")
    if raw in ("never", "always"):
        return Reentry("never" if raw == "never" else "always", None, bool(restart))
    after = parse_duration(raw) if isinstance(raw, str) else None
    if after is None or after <= timedelta():
        r.error(f"{path}.reentry", f'expected "never", "always" or a duration like "30d", got {_show(raw)}')
        return None
    return Reentry("after", after, bool(restart))


def _chains(r: _Reader, value: object, occasions: Mapping[str, Occasion], channels: Mapping[str, Channel],
            categories: Mapping[str, Category], purposes: Mapping[str, Purpose]) -> dict[str, Chain]:
    found = {}
    for cid, path, item in r.entries(value, "chains"):
        spec = r.mapping(item, path, required=("title", "start", "steps"),
                         optional=("exit_on", "reentry", "restart", "on_consent_revoked", "holdout"))
        if spec is None:
            continue
        title = r.text(spec.get("title"), f"{path}.title")
        raw_start = spec.get("start")
        start = tuple(t for p, v in r.items(raw_start if isinstance(raw_start, list) else [raw_start],
                                              f"{path}.start") if (t := _trigger(r, v, p)))
        exit_on = frozenset(e for p, v in r.items(spec.get("exit_on", []), f"{path}.exit_on")
                            if (e := r.ref(v, p, EVENTS, "event")))
        reentry = _reentry(r, spec, path)
        revoked = r.choice(spec.get("on_consent_revoked", "exit"), f"{path}.on_consent_revoked",
                           ("pause", "exit"))
        holdout = r.number(spec.get("holdout", 0), f"{path}.holdout", high=0.5)
        steps = _steps(r, spec.get("steps"), f"{path}.steps", occasions, channels)
        reach = tuple(sorted({
            Reach(channel, categories[occasions[s.occasion].category].purpose,
                  purposes[categories[occasions[s.occasion].category].purpose].opt_in)
            for s in steps if isinstance(s, SendStep) for channel in s.channels
        }, key=lambda x: (x.channel, x.purpose)))
        if title and start and reentry and revoked and holdout is not None:
            found[cid] = Chain(id=cid, title=title, start=start, exit_on=exit_on, reentry=reentry,
                               on_consent_revoked=cast(Literal["pause", "exit"], revoked), holdout=holdout,
                               steps=tuple(steps), reach=reach)
    return found


def _doi(r: _Reader, value: object, occasions: Mapping[str, Occasion]) -> DoiRules | None:
    spec = r.mapping(value, "doi", required=("occasion", "token_ttl", "caps"))
    if spec is None:
        return None
    occasion = r.ref(spec.get("occasion"), "doi.occasion", occasions, "occasion")
    ttl = r.duration(spec.get("token_ttl"), "doi.token_ttl")
    caps = []
    for path, item in r.items(spec.get("caps"), "doi.caps"):
        cap = r.mapping(item, path, required=("max", "per"))
        if cap is not None:
            most = r.integer(cap.get("max"), f"{path}.max", minimum=1)
            per = r.duration(cap.get("per"), f"{path}.per")
            if most and per:
                caps.append((most, per))
    return DoiRules(occasion, ttl, tuple(caps)) if occasion and ttl else None
