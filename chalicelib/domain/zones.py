"""Wall-clock windows in IANA zones, exact across DST gaps and folds.

Between two offset transitions local wall time is UTC plus a fixed offset, so the next allowed instant
is plain clock arithmetic inside that stretch; where a transition cuts in, we find it to the second and
continue from there with the new offset.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from math import ceil, floor
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.model import DailyWindow

_HORIZON = timedelta(days=16)
_UNKNOWN_ZONE = "Etc/Unknown"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None (OSError: a name too long for a file name)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=4096)
def _phone_zones(phone: str) -> tuple[str, ...]:
    # Imported on the first phone number: phonenumbers' tables cost a cold start that sends no SMS ~15 ms.
    import phonenumbers
    from phonenumbers import timezone as phone_zones

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in phone_zones.time_zones_for_number(number) if z != _UNKNOWN_ZONE)


def candidate_zones(
    time_zone: str | None, phone: str | None, fallback: Sequence[str]
) -> tuple[ZoneInfo, ...]:
    """Zones the contact may be in: their own when known and valid, else the one their phone number implies,
    else every zone the number could be in, else the strategy's fallback zones. Rules that depend on the
    hour must then hold in all of them (fail closed)."""
    own = zone(time_zone) if time_zone else None
    if own is not None:
        return (own,)
    names = _phone_zones(phone) if phone else ()
    zones = tuple(z for n in (names or tuple(fallback)) if (z := zone(n)) is not None)
    return zones or (ZoneInfo("UTC"),)


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local clock reading at `instant`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def allowed(window: DailyWindow, zones: Sequence[ZoneInfo], instant: datetime) -> bool:
    return all(window.allows(wall(instant, z)) for z in zones)


def next_allowed(window: DailyWindow, zones: Sequence[ZoneInfo], instant: datetime) -> datetime | None:
    """The earliest instant >= `instant` inside `window` in every zone, or None within the search horizon."""
    limit = instant + _HORIZON
    current = instant
    while current <= limit:
        moved = current
        for zone in zones:
            found = _next_allowed_in(window, zone, moved, limit)
            if found is None:
                return None
            moved = found
        if moved == current:
            return current
        current = moved
    return None


def _next_allowed_in(
    window: DailyWindow, zone: ZoneInfo, instant: datetime, limit: datetime
) -> datetime | None:
    current = instant
    while current <= limit:
        offset = _offset(zone, current)
        clock = (current + offset).replace(tzinfo=None)
        opening = window.next_open(clock)
        if opening is None:
            return None
        candidate = current + (opening - clock)
        if _offset(zone, candidate) == offset:
            return candidate
        current = _transition(zone, current, candidate)
    return None


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta()


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant in (before, after] whose UTC offset differs from the one at `before`.

    tzdata transitions fall on whole seconds, so we bisect over whole seconds."""
    first = _offset(zone, before)
    low, high = floor(before.timestamp()), ceil(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, datetime.fromtimestamp(middle, UTC)) == first:
            low = middle
        else:
            high = middle
    return max(datetime.fromtimestamp(high, UTC), before)
