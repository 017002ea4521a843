"""The limits every client value is held to at the edge, so that whatever is accepted can be stored and processed.

DynamoDB refuses items over 400 KB, nesting over 32 levels and numbers beyond 38 digits or 1e126; SQS refuses
messages over 256 KB; Python's json reads Infinity, NaN and 1e999, keeps lone surrogates that no UTF-8 encoder
takes, and recurses on deep nesting. A request body is read and walked here once, without recursion, and a
refusal names the field by its JSON path (`events[3].properties.answers.q1`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.services.errors import ClientError

KB = 1024
EVENTS_BODY = 6 * KB * KB  # Lambda's synchronous payload limit: nothing larger reaches the function in AWS
PUBLIC_BODY = 64 * KB  # a sign-up or a preference change is a few hundred bytes
STORED_DEPTH = 32  # DynamoDB's nesting limit for a whole item
MAX_NUMBER = 1e15
MIN_MAGNITUDE = 1e-100  # DynamoDB stores magnitudes down to 1e-130; nothing a client sends is that small
# Instants are kept where every timer (a year after the last visit, a course of up to ten years) still fits
# in a datetime: year 1 or 9999 with an offset does not even survive conversion to UTC.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    """How much of a client's free-form JSON (event properties, answers, attributes) is kept."""

    depth: int = STORED_DEPTH  # containers inside the value itself: {"a": [1]} is 2
    text: int = 5000  # characters per string
    key: int = 128  # characters per object key
    entries: int = 1000  # entries per list or object


WHOLE_BODY = Shape(entries=100_000)


def _fail(path: str, message: str, code: str = "invalid_field") -> ClientError:
    return ClientError(code, f"{path or 'The request body'} {message}.", path or None)


def read_json(raw: bytes | str | None, max_bytes: int) -> Any:
    """The body as JSON, walked against WHOLE_BODY; a ClientError naming what is wrong with it otherwise.

    An empty body is None: each route says whether that is allowed."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else (raw or b"")
    if len(data) > max_bytes:
        raise ClientError("body_too_large", f"The request body is larger than {max_bytes // KB} KB.", None)
    if not data.strip():
        return None
    try:
        body = json.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise ClientError("too_deep", f"The request body is nested deeper than {STORED_DEPTH} levels.",
                          None) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientError("invalid_json", f"The request body is not valid JSON: {str(exc)[:200]}", None) from exc
    check(body, "", WHOLE_BODY)
    return body


def check(value: Any, path: str, shape: Shape) -> None:
    """Refuses, naming the first offending path, a value DynamoDB, SQS or our own code could not take."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= shape.depth:
                raise _fail(where, f"is nested deeper than {shape.depth} levels", "too_deep")
            if len(item) > shape.entries:
                raise _fail(where, f"has more than {shape.entries} entries")
            if isinstance(item, dict):
                for key in item:
                    _key(key, where, shape)
                children = [(v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in item.items()]
            else:
                children = [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item)]
            stack.extend(reversed(children))
        elif isinstance(item, str):
            text(item, where, shape.text)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            number(item, where)
        else:
            raise _fail(where, "must be JSON")


def check_members(value: dict[str, Any], path: str, shape: Shape) -> None:
    """An object whose every member is held to `shape` on its own (event properties: answers, attributes)."""
    if len(value) > shape.entries:
        raise _fail(path, f"has more than {shape.entries} entries")
    for name, member in value.items():
        _key(name, path, shape)
        check(member, f"{path}.{name}", shape)


def _key(key: str, where: str, shape: Shape) -> None:
    if not key or len(key) > shape.key or "\x00" in key or not _encodable(key):
        raise _fail(where, f"has a key that is empty, longer than {shape.key} characters or not plain text")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(value: str, path: str, limit: int) -> None:
    if len(value) > limit:
        raise _fail(path, f"is longer than {limit} characters")
    if "\x00" in value:
        raise _fail(path, "contains a NUL character")
    if not _encodable(value):
        raise _fail(path, "is not valid Unicode text (a lone surrogate)")


def number(value: float, path: str) -> None:
    if isinstance(value, int):  # exact: an int of 400 digits does not even convert to a float
        in_range = -MAX_NUMBER <= value <= MAX_NUMBER
    else:
        in_range = math.isfinite(value) and abs(value) <= MAX_NUMBER and (not value or abs(value) >= MIN_MAGNITUDE)
    if not in_range:
        raise _fail(path, f"must be a finite number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}")


def instant(value: object, path: str) -> datetime:
    """An ISO-8601 time with a UTC offset, between EARLIEST and LATEST once the offset is applied."""
    expected = "must be an ISO-8601 time with a UTC offset"
    if not isinstance(value, str) or len(value) > 64 or "\x00" in value:
        raise _fail(path, expected)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(path, expected) from exc
    if parsed.tzinfo is None:
        raise _fail(path, expected)
    try:
        in_range = EARLIEST <= parsed.astimezone(UTC) < LATEST
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        in_range = False
    if not in_range:
        raise _fail(path, f"must lie between the years {EARLIEST.year} and {LATEST.year - 1}")
    return parsed


def size(value: Any) -> int:
    """Bytes of `value` as it is queued (compact JSON, non-ASCII escaped)."""
    return len(json.dumps(value, separators=(",", ":")))


def page_limit(raw: str | None, default: int, most: int) -> int:
    """A paged route's `limit` query parameter: `default` when absent, else a whole number from 1 to `most`."""
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ClientError("invalid_field", f"limit must be a whole number from 1 to {most}.", "limit")
    return int(raw)
