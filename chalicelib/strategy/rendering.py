"""Render every template of a strategy the way the senders will, before anything is sent.

Each occasion x channel x locale x variant x field is rendered for a contact with no attributes and for one
with every known attribute, in each situation the occasion is sent in: the double opt-in message, a chain
step (with the minimal and the full payload of each event that starts the chain, as /v1/events accepts
them), or a message outside chains (the STOP reply). A failure is an error at the template's path, naming the
unknown name and the situation; a marketing email must also show both its links once rendered.
"""

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from jinja2 import UndefinedError

from chalicelib.delivery.errors import TemplateRenderError
from chalicelib.delivery.templates import TemplateRenderer, default_renderer, message_context
from chalicelib.domain.events import CONTACT_ATTRIBUTES, EVENTS, chain_context
from chalicelib.domain.model import EmailTemplate, Occasion, PushTemplate, SendStep, SmsTemplate, Strategy, Trigger

# Sample values of the per-contact links; a marketing email's rendered text must contain them.
CONTACT_LINKS = {
    "unsubscribe_url": "https://touchplan.example/v1/unsubscribe?token=sample",
    "preferences_url": "https://touchplan.example/v1/preferences?token=sample",
}
CONFIRM_LINK = {"confirm_url": "https://touchplan.example/v1/confirm?token=sample"}
_NOW = datetime(2026, 1, 1, tzinfo=UTC)  # only offer.expires_on depends on it
_CONTACTS: tuple[tuple[str, Mapping[str, object]], ...] = (
    ("a contact with no attributes", {}), ("a contact with every attribute", CONTACT_ATTRIBUTES),
)


@dataclass(frozen=True)
class _Situation:
    label: str
    variables: Mapping[str, object]
    events: tuple[str, ...] = ()


def template_errors(strategy: Strategy, renderer: TemplateRenderer | None = None) -> list[str]:
    """Every template that fails to render (or a marketing email that loses a link), by path."""
    renderer = renderer or default_renderer()
    errors: list[str] = []
    for occasion in strategy.occasions.values():
        situations = _situations(strategy, occasion.id)
        category = strategy.categories[occasion.category]
        marketing = strategy.purposes[category.purpose].opt_in
        for path, channel, field, source in _fields(occasion):
            must_show = marketing and channel == "email" and field in ("html", "text")
            problem = _first_failure(renderer, occasion, field, source, situations, must_show)
            if problem:
                errors.append(f"{path}: {problem}")
    return errors


def _first_failure(renderer: TemplateRenderer, occasion: Occasion, field: str, source: str,
                   situations: list[_Situation], must_show: bool) -> str | None:
    for situation in situations:
        for who, attributes in _CONTACTS:
            context = message_context(occasion, attributes, situation.variables, _NOW, situation.events)
            try:
                text = renderer.render_field(field, source, context)
            except TemplateRenderError as error:
                return f"{_cause(error)} (rendering {situation.label}, for {who})"
            absent = [name for name, url in CONTACT_LINKS.items() if must_show and url not in text]
            if absent:
                shown = " and ".join(f"{{{{ {name} }}}}" for name in absent)
                return f"a marketing email must show {shown} (rendering {situation.label}, for {who})"
    return None


def _cause(error: TemplateRenderError) -> str:
    cause = error.__cause__
    if isinstance(cause, UndefinedError):
        return str(cause)
    return f"{type(cause).__name__}: {cause}" if cause else str(error)


def _situations(strategy: Strategy, occasion_id: str) -> list[_Situation]:
    found = []
    if occasion_id == strategy.doi.occasion:
        found.append(_Situation("the double opt-in message", CONFIRM_LINK))
    for chain in strategy.chains.values():
        if not any(isinstance(s, SendStep) and s.occasion == occasion_id for s in chain.steps):
            continue
        events = tuple(trigger.event for trigger in chain.start)
        for trigger in chain.start:
            for full in (False, True):
                payload = {**EVENTS[trigger.event].example(full), **_satisfying(trigger)}
                shown = "every property" if full else json.dumps(payload, ensure_ascii=False)
                # As the step worker builds it: site links, the stored event context, the contact's links.
                variables = {**strategy.links, **chain_context(trigger.event, payload), **CONTACT_LINKS}
                found.append(_Situation(f"chain {chain.id} started by {trigger.event} {shown}", variables, events))
    if not found:
        found.append(_Situation("a message outside chains", {**strategy.links, **CONTACT_LINKS}))
    return found


def _satisfying(trigger: Trigger) -> dict[str, object]:
    """Property values the trigger's conditions need, so the example payload would start the chain."""
    values: dict[str, object] = {}
    for test in trigger.when:
        if test.op == "in" and isinstance(test.value, tuple):
            values[test.property] = test.value[0]
        else:
            values[test.property] = test.value
    return values


def _fields(occasion: Occasion) -> Iterator[tuple[str, str, str, str]]:
    """(path, channel, field as the renderer names it, source) of every template text of the occasion."""
    for channel, by_locale in occasion.templates.items():
        for locale, template in by_locale.items():
            base = f"occasions.{occasion.id}.templates.{channel}.{locale}"
            if isinstance(template, EmailTemplate):
                listed = len(template.variants) > 1
                for i, variant in enumerate(template.variants):
                    at = f"{base}.subject[{i}]." if listed else f"{base}."
                    yield f"{at}subject", channel, "subject", variant.subject
                    yield f"{at}preheader", channel, "preheader", variant.preheader
                yield f"{base}.html", channel, "html", template.html
                yield f"{base}.text", channel, "text", template.text
            elif isinstance(template, SmsTemplate):
                yield f"{base}.text", channel, "sms", template.text
            elif isinstance(template, PushTemplate):
                yield f"{base}.title", channel, "title", template.title
                yield f"{base}.body", channel, "body", template.body
