"""One contact's timeline: the GDPR export's data (profile, consents and their ledger proof, enrolments, every
touch with its decision history, suppressions) with every time in the contact's own zone and in UTC.
`touchplan explain` prints it and the console's contact card shows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_of(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def moment(value: object, zone: ZoneInfo) -> dict[str, str] | None:
    if value is None or value == "":
        return None
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return {"utc": at.astimezone(UTC).isoformat().replace("+00:00", "Z"), "local": at.astimezone(zone).isoformat()}


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def timeline(data: Mapping[str, Any]) -> dict[str, Any]:
    contact = dict(data["contact"])
    zone = zone_of(contact.get("timezone"))
    consents = contact.pop("consents", None) or {}
    contact.pop("requested", None)
    return {
        "zone": zone.key,
        "contact": _plain(contact),
        "consents": [
            {"key": key, "state": record["state"], "at": moment(record.get("at"), zone),
             "text_id": record.get("text_id"), "source": record.get("source")}
            for key, record in sorted(_plain(consents).items())
        ],
        "ledger": [
            {**_plain(entry), "key": f"{entry.get('channel') or 'any'}:{entry.get('purpose') or '-'}",
             "at": moment(entry.get("at"), zone)}
            for entry in data.get("consent_history", ())
        ],
        "enrollments": [
            {"chain_id": e["chain_id"], "status": e["status"], "step": e["step"],
             "entered_at": moment(e.get("entered_at"), zone),
             "next_due": moment(e.get("due_at"), zone) if e["status"] == "running" else None,
             "exit_reason": e.get("exit_reason"), "ended_at": moment(e.get("ended_at"), zone)}
            for e in map(_plain, data.get("enrollments", ()))
        ],
        "touches": [_touch(t, zone) for t in sorted(map(_plain, data.get("touches", ())),
                                                    key=lambda t: str(t.get("created_at")))],
        "suppressions": _plain(data.get("suppressions") or {}),
    }


def _touch(touch: Mapping[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    return {
        **{k: touch.get(k) for k in ("touch_id", "touch_key", "chain_id", "step", "channel", "occasion_id",
                                     "variant", "status", "decision", "reason", "rule", "error_code", "error",
                                     "actor", "comment")},
        "created_at": moment(touch.get("created_at"), zone),
        "updated_at": moment(touch.get("updated_at"), zone),
        "history": [
            {**entry, "at": moment(entry.get("at"), zone), "until": moment(entry.get("until"), zone)}
            for entry in touch.get("history") or ()
        ],
    }
