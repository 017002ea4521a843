"""HTML of the operators' console, in ru or en: the sign-in page, occasions and their edit form with a preview,
the checklist, the contact card, stats with inline SVG charts. Server-rendered; a few lines of plain JS only
refresh the preview as one types (the Preview button does the same without JS)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chalicelib.domain.model import Occasion, Strategy
from chalicelib.services.timeline import zone_of

LANGUAGES = ("ru", "en")
TOP_FIELDS = ("title", "priority", "period", "validity")  # what the form edits beside the templates
SAMPLES = ("none", "full")  # the preview's sample contact: no name or attributes, or every attribute
TRIGGERED_GOAL = (0.7, 0.8)  # the seeds' share of triggered sends (DOMAIN.md, "Contact rules")
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")

TEXTS: Mapping[str, Mapping[str, Any]] = {
    "ru": {
        "console": "Консоль touchplan", "sign_in": "Вход", "key": "API-ключ", "sign_in_button": "Войти",
        "sign_in_note": "Ключ выдаёт администратор: touchplan keys create. Сессия длится 8 часов.",
        "bad_key": "Ключ не подошёл: проверьте, что он скопирован целиком и не отозван.",
        "session_needed": "Войдите, чтобы продолжить.", "sign_out": "Выйти",
        "forbidden_title": "Нет доступа", "forbidden": "Вашей роли или точке эта страница недоступна.",
        "not_found_title": "Не найдено", "not_found": "Такой страницы или записи нет.",
        "bad_request_title": "Запрос не понят", "bad_request": "Отправьте форму со страницы консоли ещё раз.",
        "occasions": "Инфоповоды", "checklist": "Чек-лист", "stats": "Статистика", "card": "Карточка клиента",
        "name": "Название", "category": "Категория", "priority": "Приоритет", "period": "Период",
        "validity": "Срок действия", "title": "Название",
        "version": "Версия", "updated": "Изменён", "edit": "Изменить", "open_checklist": "Чек-лист",
        "templates": "Шаблоны", "preview": "Предпросмотр", "save": "Сохранить", "saved": "Сохранено: версия {v}.",
        "sample": "Пример клиента", "sample_none": "без имени и атрибутов", "sample_full": "Анна, все атрибуты",
        "render_error": "Ошибка шаблона", "errors": "Исправьте ошибки ниже.", "point": "Точка",
        "period_day": "День периода", "segment": "Сегмент", "show": "Показать", "next_page": "Следующая страница",
        "contact": "Клиент", "state": "Статус", "mark": "Отметка", "comment": "Комментарий", "channel": "Канал",
        "done": "Да", "not_done": "Нет", "record": "Записать", "actor": "Кто", "at": "Когда",
        "marked": "Отметка записана.", "refused": "Отказано", "no_contacts": "У точки нет клиентов.",
        "states": {"open": "не отмечен", "done": "сделано", "not_done": "не сделано", "refused": "отказано",
                   "sent": "отправлено", "deferred": "отложено", "failed": "ошибка", "recent": "недавно"},
        "profile": "Профиль", "consents": "Согласия", "touches": "Касания", "chains": "Цепочки",
        "suppressions": "Блокировки", "history": "История", "no_name": "(без имени)", "nothing": "нет",
        "chain": "Цепочка", "step": "Шаг", "variant": "Вариант", "from": "С", "to": "По", "all": "все",
        "sent": "Отправлено", "delivered": "Доставлено", "open_rate": "Открытия", "click_rate": "Клики",
        "conversion": "Конверсия", "unsubscribed": "Отписки", "revenue_per_email": "Выручка на письмо",
        "average_check": "Средний чек", "triggered_share": "Доля триггерных отправок",
        "triggered_note": "Триггерных {t}, ручных {m}: {share}. Цель: 70–80%.", "no_stats": "Нет данных за период.",
        "language": "Язык",
    },
    "en": {
        "console": "touchplan console", "sign_in": "Sign in", "key": "API key", "sign_in_button": "Sign in",
        "sign_in_note": "An administrator issues keys: touchplan keys create. A session lasts 8 hours.",
        "bad_key": "That key did not work: check it was copied whole and has not been revoked.",
        "session_needed": "Sign in to go on.", "sign_out": "Sign out",
        "forbidden_title": "Not allowed", "forbidden": "Your role or point may not open this page.",
        "not_found_title": "Not found", "not_found": "There is no such page or record.",
        "bad_request_title": "Not understood", "bad_request": "Please send the form from the console page again.",
        "occasions": "Occasions", "checklist": "Checklist", "stats": "Stats", "card": "Contact card",
        "name": "Name", "category": "Category", "priority": "Priority", "period": "Period",
        "validity": "Validity", "title": "Name",
        "version": "Version", "updated": "Changed", "edit": "Edit", "open_checklist": "Checklist",
        "templates": "Templates", "preview": "Preview", "save": "Save", "saved": "Saved: version {v}.",
        "sample": "Sample contact", "sample_none": "no name, no attributes", "sample_full": "Anna, every attribute",
        "render_error": "Template error", "errors": "Please fix the errors below.", "point": "Point",
        "period_day": "A day of the period", "segment": "Segment", "show": "Show", "next_page": "Next page",
        "contact": "Contact", "state": "State", "mark": "Mark", "comment": "Comment", "channel": "Channel",
        "done": "Yes", "not_done": "No", "record": "Record", "actor": "By", "at": "When",
        "marked": "The mark is recorded.", "refused": "Refused", "no_contacts": "The point has no contacts.",
        "states": {"open": "open", "done": "done", "not_done": "not done", "refused": "refused", "sent": "sent",
                   "deferred": "deferred", "failed": "failed", "recent": "recent"},
        "profile": "Profile", "consents": "Consents", "touches": "Touches", "chains": "Chains",
        "suppressions": "Suppressions", "history": "History", "no_name": "(no name)", "nothing": "none",
        "chain": "Chain", "step": "Step", "variant": "Variant", "from": "From", "to": "To", "all": "all",
        "sent": "Sent", "delivered": "Delivered", "open_rate": "Open rate", "click_rate": "Click rate",
        "conversion": "Conversion", "unsubscribed": "Unsubscribes", "revenue_per_email": "Revenue per email",
        "average_check": "Average check", "triggered_share": "Share of triggered sends",
        "triggered_note": "Triggered {t}, manual {m}: {share}. Goal: 70–80%.", "no_stats": "Nothing counted "
                                                                                          "in the period.",
        "language": "Language",
    },
}
METRICS = ("sent", "delivered", "open_rate", "click_rate", "conversion", "unsubscribed", "revenue_per_email",
           "average_check")
RATES = ("open_rate", "click_rate", "conversion")


@dataclass(frozen=True)
class Screen:
    """What every console page shows around its content: who is signed in, the form token, the language."""

    lang: str
    base: str  # the path prefix before /console (an API Gateway stage), "" locally
    path: str  # this page's path and query, for the language switch
    name: str | None = None
    role: str | None = None
    point_id: str | None = None
    csrf: str | None = None

    @property
    def service_manager(self) -> bool:
        return self.role == "service-manager"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(["html"]), undefined=StrictUndefined, auto_reload=False,
    )
    environment.filters["when"] = _when
    return environment


def _when(value: object, zone: str = "UTC") -> str:
    """An instant in the contact's zone with UTC beside it, as `touchplan explain` shows it."""
    if not value:
        return "-"
    at = datetime.fromisoformat(str(value["utc"] if isinstance(value, Mapping) else value).replace("Z", "+00:00"))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    local = at.astimezone(zone_of(zone))
    if local.utcoffset() == at.astimezone(UTC).utcoffset():
        return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({at.astimezone(UTC):%H:%M} UTC)"


def render(name: str, screen: Screen, title: str, **context: Any) -> str:
    return _environment().get_template(name).render(screen=screen, t=TEXTS[screen.lang], title=title, **context)


def message(screen: Screen, kind: str) -> str:
    """The 403, 404 and bad-request pages."""
    t = TEXTS[screen.lang]
    return render("console_message.html", screen, t[f"{kind}_title"], text=t[kind])


# --- the occasion form: every text of the templates is a field named by its path in the strategy ---------------

def template_fields(definition: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(path under the occasion, text) of every text in its templates: `templates.email.en.subject[1].subject`."""

    def walk(node: object, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, Mapping):
            for key, child in node.items():
                yield from walk(child, f"{path}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(child, f"{path}[{index}]")

    yield from walk(definition.get("templates") or {}, "templates")


def edited(definition: Mapping[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The occasion with the form's values in place of the texts and top fields it shows; the rest unchanged."""
    result = copy.deepcopy(dict(definition))
    for name in TOP_FIELDS:
        if name in form and name in result:
            value: Any = form[name].strip()
            result[name] = int(value) if name == "priority" and value.lstrip("-").isdigit() else value
    for path, _ in list(template_fields(result)):
        if path in form:
            _put(result, path, form[path].replace("\r\n", "\n"))
    return result


def _put(node: Any, path: str, value: str) -> None:
    *parents, last = _steps(path)
    for step in parents:
        node = node[step]
    node[last] = value


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        indexes: list[int] = []
        while (match := _INDEX.match(part)) is not None:
            part, index = match.group(1), int(match.group(2))
            indexes.insert(0, index)
        steps += [part, *indexes]
    return steps


def field_of(occasion_id: str, path: str | None) -> str | None:
    """The form field an error path names: `occasions.<id>.templates.email.en.html` -> `templates.email.en.html`."""
    prefix = f"occasions.{occasion_id}."
    return path[len(prefix):] if path and path.startswith(prefix) else None


@dataclass(frozen=True)
class Preview:
    channel: str
    locale: str
    parts: tuple[tuple[str, str, bool], ...]  # (field, rendered text, is html)
    error: str | None


def previews(strategy: Strategy, occasion: Occasion, definition: Mapping[str, Any], sample: str,
             now: datetime) -> list[Preview]:
    """Every template of the edited `definition` rendered as a chain step would render it for the sample
    contact; a template that fails shows its error instead."""
    from chalicelib.delivery.errors import TemplateRenderError
    from chalicelib.delivery.templates import default_renderer, message_context
    from chalicelib.domain.events import CONTACT_ATTRIBUTES
    from chalicelib.strategy.rendering import CONTACT_LINKS

    attributes = CONTACT_ATTRIBUTES if sample == "full" else {}
    context = message_context(occasion, attributes, {**strategy.links, **CONTACT_LINKS}, now)
    shown = []
    for channel, by_locale in (definition.get("templates") or {}).items():
        for locale, template in (by_locale or {}).items() if isinstance(by_locale, Mapping) else ():
            parts, error = [], None
            for path, source in template_fields({"templates": {"x": {"y": template}}}):
                leaf = str(_steps(path)[-1])
                if leaf == "id":
                    continue
                field = "sms" if channel == "sms" and leaf == "text" else leaf
                try:
                    parts.append((path.removeprefix("templates.x.y."), default_renderer().render_field(
                        field, source, context), field == "html"))
                except TemplateRenderError as exc:
                    cause = exc.__cause__
                    error = f"{path.removeprefix('templates.x.y.')}: {cause or exc}"
                    break
            shown.append(Preview(str(channel), str(locale), tuple(parts), error))
    return shown


# --- stats ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str
    width: float  # percent of the chart's widest bar


def metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """The row's counts as the seeds measure them; a rate over delivered mail (else over sent)."""
    sent, delivered = float(row.get("sent", 0)), float(row.get("delivered", 0))
    base = delivered or sent
    converted, revenue = float(row.get("converted", 0)), float(row.get("revenue", 0))
    return {
        "sent": sent, "delivered": delivered,
        "open_rate": float(row.get("opened", 0)) / base if base else 0.0,
        "click_rate": float(row.get("clicked", 0)) / base if base else 0.0,
        "conversion": converted / base if base else 0.0,
        "unsubscribed": float(row.get("unsubscribed", 0)),
        "revenue_per_email": revenue / sent if sent else 0.0,
        "average_check": revenue / converted if converted else 0.0,
    }


def _shown(metric: str, value: float) -> str:
    if metric in RATES:
        return f"{value:.1%}"
    if metric in ("revenue_per_email", "average_check"):
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def charts(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Bar]]]:
    """One bar chart per metric, a bar per chain x step x variant."""
    measured = [(f"{r['chain']} #{r['step']}{' ' + str(r['variant']) if r.get('variant') else ''}", metrics(r))
                for r in rows]
    drawn = []
    for metric in METRICS:
        top = max((m[metric] for _, m in measured), default=0.0)
        drawn.append((metric, [Bar(label, m[metric], _shown(metric, m[metric]),
                                   100 * m[metric] / top if top else 0.0) for label, m in measured]))
    return drawn


def triggered_share(rows: Sequence[Mapping[str, Any]], manual: int) -> tuple[int, int, float | None]:
    triggered = int(sum(float(r.get("sent", 0)) for r in rows))
    total = triggered + manual
    return triggered, manual, (triggered / total if total else None)

