"""Durations written the way people write them in the strategy file: "90m", "2d", "1w", "1d12h"."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([wdhms])")
_WHOLE = re.compile(r"(?:\d+[wdhms])+")
_UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
         "m": timedelta(minutes=1), "s": timedelta(seconds=1)}


def parse_duration(text: str) -> timedelta | None:
    """The duration `text` names, or None when it is not of the form "2d", "12h", "1d12h"."""
    compact = text.strip().replace(" ", "")
    if not _WHOLE.fullmatch(compact):
        return None
    return sum((int(n) * _UNIT[unit] for n, unit in _PART.findall(compact)), timedelta())


def format_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in "dhms":
        size = int(_UNIT[unit].total_seconds())
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
