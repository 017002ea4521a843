"""HTML for the link pages, in the contact's language (ru, en). No JavaScript: plain forms work everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from chalicelib.services.preferences import PreferencesView, Switch

TEXTS: Mapping[str, Mapping[str, Any]] = {
    "ru": {
        "confirmed_title": "Подписка подтверждена",
        "confirmed": "Спасибо! Подписка подтверждена. Настройки рассылок можно изменить в любой момент.",
        "already_title": "Подписка уже подтверждена",
        "already": "Эта ссылка уже использована: подписка подтверждена раньше. Ничего делать не нужно.",
        "expired_title": "Ссылка устарела",
        "expired": "Срок действия ссылки истёк. Подпишитесь ещё раз, и мы пришлём новую.",
        "invalid_title": "Ссылка недействительна",
        "invalid": "Ссылка повреждена или недействительна. Проверьте, что она скопирована целиком.",
        "manage": "Настройки рассылок",
        "preferences_title": "Настройки рассылок",
        "email_label": "Почта",
        "phone_label": "Телефон",
        "channels": {"email": "Электронная почта", "sms": "SMS", "push": "Push-уведомления",
                     "any": "Персональные данные"},
        "purposes": {"marketing": "Акции и предложения", "service": "Сервисные уведомления",
                     "data_processing": "Согласие на обработку персональных данных"},
        "data_processing_note": "Если снять эту отметку, все рассылки отключатся, а ваши данные будут удалены "
                                "через {days}.",
        "erasure_due": "Согласие на обработку персональных данных отозвано. Ваши данные будут удалены {date}.",
        "days": ("день", "дня", "дней"),
        "save": "Сохранить",
        "everything_off": "Отписаться от всего",
        "saved": "Сохранено. Изменения действуют сразу.",
        "effective": "Изменения вступают в силу сразу после сохранения.",
        "unsubscribe_title": "Отписка от рассылок",
        "unsubscribe_question": "Отписаться от рекламных рассылок?",
        "unsubscribe_button": "Отписаться",
        "unsubscribed_title": "Вы отписались",
        "unsubscribed": "Вы больше не будете получать рекламные сообщения. Вернуть подписку можно в настройках.",
    },
    "en": {
        "confirmed_title": "Subscription confirmed",
        "confirmed": "Thank you! Your subscription is confirmed. You can change what you receive at any time.",
        "already_title": "Already confirmed",
        "already": "This link was used before: your subscription is already confirmed. Nothing else to do.",
        "expired_title": "This link has expired",
        "expired": "This link is no longer valid. Subscribe again and we will send you a new one.",
        "invalid_title": "This link is not valid",
        "invalid": "This link is damaged or not valid. Please check that it was copied completely.",
        "manage": "Manage your subscriptions",
        "preferences_title": "Your subscriptions",
        "email_label": "Email",
        "phone_label": "Phone",
        "channels": {"email": "Email", "sms": "Text messages (SMS)", "push": "Push notifications",
                     "any": "Personal data"},
        "purposes": {"marketing": "Offers and news", "service": "Service notices",
                     "data_processing": "Consent to the processing of my personal data"},
        "data_processing_note": "If you untick this, every subscription stops and your data is erased after "
                                "{days}.",
        "erasure_due": "You withdrew your consent to the processing of personal data. Your data will be erased "
                       "on {date}.",
        "days": ("day", "days", "days"),
        "save": "Save",
        "everything_off": "Unsubscribe from everything",
        "saved": "Saved. Changes take effect immediately.",
        "effective": "Changes take effect as soon as you save them.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_question": "Stop receiving marketing messages?",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "You are unsubscribed",
        "unsubscribed": "You will not receive marketing messages any more. You can opt back in in your settings.",
    },
}
OUTCOMES = {"confirmed": "confirmed", "already_confirmed": "already", "expired": "expired", "invalid": "invalid"}


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=select_autoescape(["html"]), undefined=StrictUndefined, auto_reload=False,
    )


def language(locale: str | None, accept_language: str | None = None) -> str:
    """ru or en: the contact's locale first, then the browser's languages by preference, then Russian."""
    for wanted in (locale, *_preferred(accept_language or "")):
        lang = (wanted or "").strip().lower()[:2]
        if lang in TEXTS:
            return lang
    return "ru"


def _preferred(accept_language: str) -> list[str]:
    """`de-DE,en;q=0.8` -> ["de-DE", "en"]: highest weight first, ties in the order given."""
    weighted = []
    for position, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        weighted.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted) if tag]


def _days(lang: str, days: int) -> str:
    one, few, many = TEXTS[lang]["days"]
    if lang == "ru":
        word = one if days % 10 == 1 and days % 100 != 11 else (
            few if 2 <= days % 10 <= 4 and not 12 <= days % 100 <= 14 else many)
    else:
        word = one if days == 1 else many
    return f"{days} {word}"


def _render(name: str, lang: str, **context: Any) -> str:
    return _environment().get_template(name).render(lang=lang, t=TEXTS[lang], **context)


def message_page(outcome: str, lang: str, preferences_url: str | None = None) -> str:
    """confirmed, already_confirmed, expired, invalid, or unsubscribed."""
    name = OUTCOMES.get(outcome, outcome)
    t = TEXTS[lang]
    return _render("message.html", lang, title=t[f"{name}_title"], text=t[name], preferences_url=preferences_url)


def preferences_page(view: PreferencesView, action: str, saved: bool = False) -> str:
    groups: dict[str, list[Switch]] = {}
    for switch in view.switches:
        groups.setdefault(switch.channel, []).append(switch)
    t = TEXTS[view.locale]
    due = t["erasure_due"].format(date=view.erasure_due.date().isoformat()) if view.erasure_due else None
    note = t["data_processing_note"].format(days=_days(view.locale, max(1, view.erasure_after.days)))
    return _render("preferences.html", view.locale, view=view, groups=list(groups.items()), action=action,
                   saved=saved, title=t["preferences_title"], erasure_due=due, data_processing_note=note)


def unsubscribe_page(view: PreferencesView, action: str) -> str:
    return _render("unsubscribe.html", view.locale, action=action, preferences_url=view.preferences_url,
                   title=TEXTS[view.locale]["unsubscribe_title"])
