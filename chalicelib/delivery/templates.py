"""Template rendering: sandboxed Jinja2, autoescape for HTML only, strict about unknown names.

A message's templates see known names only (`message_context`, listed in docs/strategy.md): a known value
that was not given (a contact without a first name, an event with only its required properties) reads as
empty, so `{{ contact.first_name or "Hello" }}` and `|default` fall back; `None` prints as nothing. A name
nobody declares (`contact.frist_name`) is an error naming it, which the strategy check finds before any send.

Compiling a template (Jinja2's lexer, parser and code generator, then Python's compiler) costs a cold start
about 10 ms for an email's four fields, so `touchplan package` compiles the templates of the strategies it
ships (COMPILED_PATH, for the Python and Jinja2 that built it); any other source is compiled on first use.
"""

from __future__ import annotations

import marshal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2 import ChainableUndefined, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

from chalicelib.delivery.errors import TemplateRenderError
from chalicelib.domain.catalog import Product
from chalicelib.domain.events import CONTACT_ATTRIBUTES, EVENTS, ITEM_FIELDS, OCCASION_FIELDS, OFFER_FIELDS
from chalicelib.domain.model import EmailTemplate, Occasion, SmsTemplate, Strategy
from chalicelib.domain.model import Template as MessageTemplate
from chalicelib.domain.purchases import PURCHASES, categories_for, interests_from, recent_items, recommendations

HTML_FIELDS = frozenset({"html"})
# Written by `touchplan package` into the deployment package only.
COMPILED_PATH = Path(__file__).with_name("templates.marshal")
# Category -> its first products (services.catalog.LiveCatalog.products_in), for the recommendations.
Catalogue = Callable[[Sequence[str]], Mapping[str, Sequence[Product]]]


class Fields:
    """A template object with known fields: one not given reads as empty, an unknown one is an error.

    Not a dict on purpose: `order.items` must read the field, not the dict method."""

    __slots__ = ("_known", "_name", "_values")

    def __init__(self, name: str, values: Mapping[str, object], known: Iterable[str]) -> None:
        self._name = name
        self._values = dict(values)
        self._known = frozenset(known) | frozenset(self._values)

    def __getattr__(self, field: str) -> object:
        if field.startswith("_"):
            raise AttributeError(field)
        try:
            return self[field]
        except KeyError:
            raise AttributeError(field) from None

    def __getitem__(self, field: str) -> object:
        if field in self._values:
            return self._values[field]
        if field in self._known:
            return ChainableUndefined(name=f"{self._name}.{field}")
        raise KeyError(field)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __str__(self) -> str:
        return str(self._values)


class _Unknown(StrictUndefined):
    """A name no one declared: any use fails, with a message naming it (and what is known there)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner, name = self._undefined_obj, self._undefined_name
        if isinstance(owner, Fields):
            return f"{owner._name}.{name} is unknown (known: {', '.join(sorted(owner._known))})"
        if owner is missing and not self._undefined_hint:
            return f"{name} is unknown here"
        return str(super()._undefined_message)


def _printed(value: object) -> object:
    return "" if value is None else value


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=autoescape,
        undefined=_Unknown,
        finalize=_printed,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def _items(value: object) -> list[object]:
    """Order items (or recommendations) with their known fields; anything but a list reads as none."""
    if not isinstance(value, list):
        return []
    return [Fields("item", item, ITEM_FIELDS) if isinstance(item, Mapping) else item for item in value]


def _interests(value: object) -> list[str]:
    """Interests as a list of topics; older contacts hold the raw survey answers instead."""
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else interests_from(value)


class _Recommended(Sequence[object]):
    """The recommendations, picked when a template first reads them: a message that shows none reads no
    catalogue."""

    def __init__(self, pick: Callable[[], list[object]]) -> None:
        self._pick = pick
        self._picked: list[object] | None = None

    def _items(self) -> list[object]:
        if self._picked is None:
            self._picked = _items(self._pick())
        return self._picked

    def __getitem__(self, index: Any) -> Any:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __str__(self) -> str:
        return str(self._items())


def message_context(
    occasion: Occasion, attributes: Mapping[str, object], variables: Mapping[str, object], now: datetime,
    events: Iterable[str] = (), catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """What a message's templates see: the contact's attributes, the occasion and its offer (a personal
    `offer` attribute wins), the recommendations (from `catalogue` too, when given), the sender's `variables`
    (links, the chain's stored event context), and for a chain started by `events` those events' properties,
    each known one present."""
    personal = attributes.get("offer")
    offer = {**(occasion.offer.for_send(now) if occasion.offer else {}),
             **(personal if isinstance(personal, Mapping) else {})}
    purchases = attributes.get(PURCHASES)
    interests = _interests(attributes.get("interests"))
    given = attributes.get("recommendations")

    def pick() -> list[object]:
        if isinstance(given, list) and given:
            return given
        wanted = categories_for(purchases, interests)
        found = catalogue(wanted) if catalogue is not None and wanted else {}
        return list(recommendations(purchases, now, interests, found))

    picked = _Recommended(pick)
    context: dict[str, Any] = {"recommendations": picked, **variables}
    shown: dict[str, set[str]] = {}
    lists: dict[str, set[str]] = {}
    for event in (EVENTS[name] for name in events if name in EVENTS):
        for prop in event.all_properties:
            if prop.name not in context:
                context[prop.name] = ChainableUndefined(name=prop.name)
            elif prop.kind == "items":
                context[prop.name] = _items(context[prop.name])
        if event.shown_as:
            shown.setdefault(event.shown_as, set()).update(event.shown_fields)
            lists.setdefault(event.shown_as, set()).update(p.name for p in event.all_properties if p.kind == "items")
    for name, fields in shown.items():
        raw = variables.get(name)
        values = raw if isinstance(raw, Mapping) else {}
        context[name] = Fields(name, {k: _items(v) if k in lists[name] else v for k, v in values.items()}, fields)
    context.update(
        contact=Fields("contact", {**attributes, "interests": interests,
                                   "purchases": _items(purchases), "recent_items": _items(recent_items(purchases)),
                                   "recommendations": picked},
                       CONTACT_ATTRIBUTES),
        occasion=Fields("occasion", {"id": occasion.id, "title": occasion.title}, OCCASION_FIELDS),
        offer=Fields("offer", offer, OFFER_FIELDS),
    )
    return context


class TemplateRenderer:
    """Renders a touch's fields (subject, preheader, html, text, sms...) from template sources.

    Compiled templates are cached per (escaping, source), so a warm Lambda compiles each template once.
    """

    def __init__(self, cache_size: int = 512) -> None:
        self._html_env = _environment(autoescape=True)
        self._text_env = _environment(autoescape=False)
        self._compile = lru_cache(maxsize=cache_size)(self._compile_uncached)

    def _compile_uncached(self, autoescape: bool, source: str) -> Template:
        env = self._html_env if autoescape else self._text_env
        code = _compiled().get((autoescape, source))
        if code is None:
            return env.from_string(source)
        return env.template_class.from_code(env, code, env.make_globals(None), None)  # what from_string does

    def render(self, template_source_by_field: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
        """Render every field; the first failure raises ``TemplateRenderError`` naming that field."""
        rendered: dict[str, str] = {}
        for field, source in template_source_by_field.items():
            rendered[field] = self.render_field(field, source, context)
        return rendered

    def render_field(self, field: str, source: str, context: Mapping[str, Any]) -> str:
        try:
            template = self._compile(field in HTML_FIELDS, source)
            return template.render(**context)
        # Templates are operator-edited content: any failure inside one stops this touch, not the batch.
        except Exception as exc:
            raise TemplateRenderError(field, f"{type(exc).__name__}: {exc}") from exc


def _fields(template: MessageTemplate) -> list[tuple[str, str]]:
    """(field, source) of every field a template renders (services.outbound), for COMPILED_PATH."""
    if isinstance(template, EmailTemplate):
        return [*((field, source) for variant in template.variants
                  for field, source in (("subject", variant.subject), ("preheader", variant.preheader))),
                ("html", template.html), ("text", template.text)]
    if isinstance(template, SmsTemplate):
        return [("sms", template.text)]
    return [("title", template.title), ("body", template.body)]


def compiled_templates(strategies: Iterable[Strategy]) -> bytes:
    """COMPILED_PATH's contents: the code of every template of these strategies' occasions, compiled as
    `TemplateRenderer` compiles it, for this Python and Jinja2."""
    environments = {True: _environment(autoescape=True), False: _environment(autoescape=False)}
    codes: dict[tuple[bool, str], CodeType] = {}
    for strategy in strategies:
        for occasion in strategy.occasions.values():
            for template in (t for by_locale in occasion.templates.values() for t in by_locale.values()):
                for field, source in _fields(template):
                    escaped = field in HTML_FIELDS
                    codes[(escaped, source)] = environments[escaped].compile(source)
    return marshal.dumps(((sys.version, jinja2.__version__), codes))


@cache
def _compiled() -> dict[tuple[bool, str], CodeType]:
    try:
        # The package's own file, trusted as its .pyc files are.
        built_by, codes = marshal.loads(COMPILED_PATH.read_bytes())  # noqa: S302
    except FileNotFoundError:
        return {}
    return codes if built_by == (sys.version, jinja2.__version__) else {}


@lru_cache(maxsize=1)
def default_renderer() -> TemplateRenderer:
    """One compiled-template cache per warm container: the start-up check warms it for the senders."""
    return TemplateRenderer()


def render(template_source_by_field: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    return default_renderer().render(template_source_by_field, context)


def _normalise_locale(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def pick_locale(available: Iterable[str], wanted: str | None, default: str = "en") -> str | None:
    """Best available locale: exact (``ru-RU``), then language (``ru``), then ``default``.

    Matching ignores case and ``_`` vs ``-``; the value returned is spelled as in ``available``.
    Returns ``None`` when neither the wanted language nor the default is available.
    """
    by_norm: dict[str, str] = {}
    for tag in available:
        by_norm.setdefault(_normalise_locale(tag), tag)
    candidates: list[str] = []
    if wanted:
        norm = _normalise_locale(wanted)
        candidates.append(norm)
        language = norm.split("-", 1)[0]
        candidates.append(language)
    candidates.append(_normalise_locale(default))
    for candidate in candidates:
        if candidate in by_norm:
            return by_norm[candidate]
    return None
