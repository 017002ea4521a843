"""`touchplan explain CONTACT [--stage S] [--json]`: one contact's timeline, for support and ops.

CONTACT is an email, a phone or a contact id. The data is the GDPR export's (profile, consents and their
ledger proof, enrolments, every touch with its decision history, suppressions); this command only lays it
out, every time in the contact's own zone and in UTC. Without `--stage` it reads `AWS_ENDPOINT_URL` when set,
else the running local stack (cli/stack.py), as `keys create` does.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.services.timeline import moment, timeline, zone_of
from cli import stack

_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")
NONE = "-"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("explain", help="one contact's timeline: consents, chains, every touch and why")
    parser.add_argument("contact", metavar="CONTACT", help="an email, a phone (E.164 or as typed) or a contact id")
    parser.add_argument("--stage", help="a deployed stage (AWS credentials from the environment); default: the "
                                        "running local stack")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=explain)


class Unavailable(Exception):
    """The data cannot be read: the message is the one line the user sees."""


def explain(args: argparse.Namespace) -> int:
    try:
        _point_at(args.stage)
        data = _export(args.contact)
    except Unavailable as exc:
        print(f"touchplan explain: {exc}", file=sys.stderr)
        return 1
    view = timeline(data)
    print(json.dumps(view, ensure_ascii=False, indent=2) if args.json else render(view))
    return 0


def _point_at(stage: str | None) -> None:
    """Sets the environment the app's settings read, before anything reads them."""
    try:
        stack.point_at(stage)
    except stack.NoStack as exc:
        raise Unavailable(str(exc)) from None
    from chalicelib import wiring
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    wiring.reset()


def _export(contact: str) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib import wiring
    from chalicelib.services import errors
    from chalicelib.settings import get_settings

    stage = get_settings().stage
    try:
        contact_id = _resolve(contact)
        return wiring.erasure().export(contact_id, None)
    except errors.ClientError as exc:
        raise Unavailable(f"{contact}: {exc.message}") from None
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        cause = getattr(exc, "cause", None) or exc
        raise Unavailable(f"cannot read stage {stage!r}: {type(cause).__name__}: {cause}") from None


def _resolve(contact: str) -> str:
    """The contact id for an email or phone (the identity the sign-up stored), or CONTACT itself."""
    from chalicelib import wiring
    from chalicelib.services.errors import ClientError
    from chalicelib.services.subscriptions import normalise_email, normalise_phone
    from chalicelib.store.contacts import identity_key

    value = contact.strip()
    if "@" in value:
        key = identity_key("email", normalise_email(value))
    elif _PHONE.match(value):
        key = identity_key("sms", normalise_phone(value, None))
    else:
        return value
    owner = wiring.contacts().owners([key]).get(key)
    if owner is None:
        raise ClientError("not_found", "no contact has this address.", None, status=404)
    return owner


# --- the human form ------------------------------------------------------------------------------------------------

def _when(moment: Mapping[str, str] | None, zone: str) -> str:
    if moment is None:
        return NONE
    utc = datetime.fromisoformat(moment["utc"])
    local = utc.astimezone(zone_of(zone))  # the zone, not the bare offset: it names the abbreviation (PST, MSK)
    if zone == "UTC":
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc:%Y-%m-%d %H:%M} UTC)"


def _pairs(items: Iterable[tuple[str, object]]) -> str:
    return "  ".join(f"{label} {_text(value)}" for label, value in items if value not in (None, "", {}, []))


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(view: Mapping[str, Any]) -> str:
    zone = view["zone"]
    contact = view["contact"]
    attributes = contact.get("attributes") or {}
    name = " ".join(str(attributes[k]) for k in ("first_name", "last_name") if attributes.get(k)) or "(no name)"
    lines = [
        f"Contact {contact['contact_id']}  {contact.get('status')}  segment {contact.get('segment') or NONE}",
        f"  name        {name}",
        f"  email       {contact.get('email') or NONE}",
        f"  phone       {contact.get('phone') or NONE}",
        f"  zone        {zone}" + ("" if contact.get("timezone") else " (no zone given: times in UTC)"),
        f"  locale      {contact.get('locale') or NONE}",
        f"  point       {contact.get('point_id') or NONE}",
        f"  created     {_when(_moment_of(contact.get('created_at'), zone), zone)}",
        f"  confirmed   {_when(_moment_of(contact.get('confirmed_at'), zone), zone)}",
    ]
    shown = {"contact_id", "status", "segment", "email", "phone", "timezone", "locale", "point_id", "created_at",
             "confirmed_at", "attributes", "identities", "version", "pending_request"}
    for key, value in contact.items():
        if key not in shown and value not in (None, "", {}, []):
            lines.append(f"  {key:<11} {_text(value)}")
    lines.append(f"  attributes  {_text(attributes) if attributes else NONE}")
    lines.append("Consents")
    lines += [f"  {c['key']:<22} {c['state']:<8} {_when(c['at'], zone)}  "
              + _pairs((("text", c["text_id"]), ("source", c["source"]))) for c in view["consents"]] or ["  none"]
    lines.append("Consent ledger (proof)")
    lines += [
        f"  {_when(e['at'], zone)}  {e['kind']:<10} {e['key']:<22} " + _pairs((
            ("text", e.get("text_id")), ("sha256", (e.get("text_sha256") or "")[:16]), ("source", e.get("source")),
            ("token", e.get("token_id")), ("ip#", (e.get("ip_hash") or "")[:12]),
            ("ua#", (e.get("user_agent_hash") or "")[:12]), ("detail", e.get("detail")),
        ))
        for e in view["ledger"]
    ] or ["  none"]
    lines.append("Enrolments")
    lines += [
        f"  {e['chain_id']:<22} {e['status']:<9} step {e['step']}  "
        + (f"next due {_when(e['next_due'], zone)}" if e["next_due"] else "nothing due")
        + (f"  ended {_when(e['ended_at'], zone)}: {e['exit_reason']}" if e["exit_reason"] else "")
        for e in view["enrollments"]
    ] or ["  none"]
    lines.append("Touches")
    for t in view["touches"]:
        where = f"{t['chain_id']} step {t['step']}" if t["chain_id"] else t["touch_key"]
        lines.append(f"  {where}  {t['channel']}  {t['occasion_id']}  " + _pairs((
            ("variant", t["variant"]), ("now", t["status"]), ("error", _error(t)), ("by", t["actor"]),
            ("comment", t["comment"]),
        )))
        for h in t["history"] or [{"at": t["created_at"], "decision": t["decision"], "status": t["status"],
                                    "reason": t["reason"], "rule": t["rule"], "until": None}]:
            lines.append(f"    {_when(h['at'], zone)}  {h['decision'] or NONE:<6} {h['status']:<9} " + _pairs((
                ("reason", h.get("reason")), ("rule", h.get("rule")),
                ("until", _when(h["until"], zone) if h.get("until") else None), ("error", _error(h)),
            )))
    if not view["touches"]:
        lines.append("  none")
    lines.append("Suppressions")
    lines += [f"  {address}  {reason}" for address, reason in view["suppressions"].items()] or ["  none"]
    return "\n".join(line.rstrip() for line in lines)


def _moment_of(value: object, zone: str) -> dict[str, str] | None:
    return moment(value, zone_of(zone))


def _error(entry: Mapping[str, Any]) -> str | None:
    if not entry.get("error_code"):
        return None
    return f"{entry['error_code']}: {entry.get('error') or ''}".rstrip(": ")
