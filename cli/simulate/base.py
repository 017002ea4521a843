"""The synthetic base: who signs up, where they live, and how they behave, all drawn from one seeded Random."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

# (zone, locale, phone prefix or None where the base has no phones): Russia's eleven zones and the world.
ZONES: tuple[tuple[str, str, str | None], ...] = (
    ("Europe/Kaliningrad", "ru-RU", "+7911"),
    ("Europe/Moscow", "ru-RU", "+7916"),
    ("Europe/Moscow", "ru-RU", "+7903"),
    ("Europe/Samara", "ru-RU", "+7927"),
    ("Asia/Yekaterinburg", "ru-RU", "+7912"),
    ("Asia/Omsk", "ru-RU", "+7913"),
    ("Asia/Novosibirsk", "ru-RU", "+7923"),
    ("Asia/Krasnoyarsk", "ru-RU", "+7902"),
    ("Asia/Irkutsk", "ru-RU", "+7914"),
    ("Asia/Yakutsk", "ru-RU", "+7924"),
    ("Asia/Vladivostok", "ru-RU", "+7984"),
    ("Asia/Magadan", "ru-RU", "+7914"),
    ("Asia/Kamchatka", "ru-RU", "+7914"),
    ("Europe/London", "en-GB", "+447400"),  # a mobile range the phone validator accepts whole
    ("Europe/Berlin", "en-GB", None),
    ("America/New_York", "en-US", None),
    ("America/Los_Angeles", "en-US", None),
    ("America/Sao_Paulo", "en-US", None),
    ("Asia/Dubai", "en-GB", None),
    ("Asia/Tokyo", "en-US", None),
    ("Australia/Sydney", "en-GB", None),
)
FIRST_NAMES = ("Anna", "Ivan", "Olga", "Dmitry", "Maria", "Sergey", "Elena", "Alexei", "Emma", "Liam", "Yuki")


@dataclass(frozen=True)
class Propensities:
    """Chances per message (open, click given open, unsubscribe, complain), per day (order, cart, view,
    visit), per survey mail (answer), and whether the address hard-bounces."""

    confirm: float
    open: float
    click: float
    order: float
    cart: float
    view: float
    visit: float
    survey: float
    unsubscribe: float
    complain: float
    bounces: bool


@dataclass(frozen=True)
class Person:
    index: int
    email: str | None
    phone: str | None
    timezone: str
    locale: str
    first_name: str | None
    birthday: date | None
    signup_at: datetime
    past_orders: tuple[tuple[timedelta, float], ...]  # (how long before sign-up, amount)
    behaviour: Propensities

    @property
    def key(self) -> dict[str, str]:
        """How /v1/events names this person."""
        return {"email": self.email} if self.email else {"phone": str(self.phone)}


def _phone(rng: random.Random, prefix: str) -> str:
    digits = 12 if prefix.startswith("+7") else 13
    # moto's opt-out check says yes for numbers ending in 99: keep clear of them.
    tail = rng.randrange(10 ** (digits - len(prefix)) // 10, 10 ** (digits - len(prefix)))
    number = f"{prefix}{tail}"
    return number if not number.endswith("99") else number[:-1] + "7"


def _behaviour(rng: random.Random) -> Propensities:
    engaged = rng.random()  # one latent engagement level drives the rest, so openers also click and order
    return Propensities(
        confirm=0.6 + 0.35 * engaged,
        open=0.05 + 0.6 * engaged,
        click=0.1 + 0.4 * engaged,
        order=0.005 + 0.06 * engaged,
        cart=0.01 + 0.05 * engaged,
        view=0.02 + 0.1 * engaged,
        visit=0.03 + 0.15 * engaged,
        survey=0.1 + 0.5 * engaged,
        unsubscribe=0.01 + 0.03 * (1 - engaged),
        complain=0.002 + 0.008 * (1 - engaged),
        bounces=rng.random() < 0.03,
    )


def synthetic_base(count: int, seed: int, start: datetime, days: int) -> list[Person]:
    """`count` people who sign up over the first third of the run (at least its first day)."""
    rng = random.Random(seed)
    window = max(timedelta(days=1), timedelta(days=days) / 3)
    people = []
    for index in range(count):
        zone, locale, prefix = ZONES[rng.randrange(len(ZONES))]
        reach = rng.random()
        has_phone = prefix is not None and reach < 0.7
        has_email = not has_phone or reach < 0.55  # the rest of the phone owners are phone-only
        email = f"sim{seed}-{index}@example.com" if has_email else None
        phone = _phone(rng, prefix) if has_phone and prefix else None
        birthday = None
        if rng.random() < 0.7:
            birthday = date(rng.randrange(1950, 2006), 1, 1) + timedelta(days=rng.randrange(365))
        past = tuple(
            (timedelta(days=rng.randrange(5, 420)), round(rng.uniform(200, 5000), 2))
            for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3, 4, 6)))
        )
        people.append(Person(
            index=index, email=email, phone=phone, timezone=zone, locale=locale,
            first_name=rng.choice(FIRST_NAMES) if rng.random() < 0.75 else None,
            birthday=birthday, signup_at=start + rng.random() * window,
            past_orders=tuple(sorted(past, reverse=True)), behaviour=_behaviour(rng),
        ))
    return people
