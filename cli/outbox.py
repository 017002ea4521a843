"""The local outbox: the mail and SMS moto captured, served by the local runner only (never deployed).

moto keeps sent mail in its SES backend (sesv2 shares it) and SMS in its SNS backend; this is the one
place that reads those internals.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
from dataclasses import asdict, dataclass

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass(frozen=True)
class CapturedMail:
    message_id: str
    source: str
    to: list[str]
    subject: str
    text: str
    headers: dict[str, str]


@dataclass(frozen=True)
class CapturedSms:
    message_id: str
    phone: str
    text: str


def _parse_raw(message_id: str, source: str, destinations: list[str], raw: str) -> CapturedMail:
    parsed = email.message_from_string(raw, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""  # type: ignore[attr-defined]
    return CapturedMail(
        message_id=message_id,
        source=source,
        to=[str(parsed.get("To", ""))] if parsed.get("To") else list(destinations),
        subject=str(parsed.get("Subject", "")),
        text=text,
        headers={k: str(v) for k, v in parsed.items()},
    )


def sent_mail(region: str = REGION) -> list[CapturedMail]:
    from moto.ses.models import ses_backends

    captured = []
    for message in ses_backends[ACCOUNT][region].sent_messages:
        if hasattr(message, "raw_data"):
            captured.append(_parse_raw(message.id, message.source, message.destinations, message.raw_data))
        else:
            to = list(getattr(message, "destinations", {}).get("ToAddresses", []))
            subject = getattr(message, "subject", "")
            captured.append(CapturedMail(message.id, message.source, to, subject, getattr(message, "body", ""), {}))
    return captured


def sent_sms(region: str = REGION) -> list[CapturedSms]:
    from moto.sns.models import sns_backends

    messages = sns_backends[ACCOUNT][region].sms_messages
    return [CapturedSms(message_id, phone, text) for message_id, (phone, text) in messages.items()]


def _page() -> bytes:
    rows = "".join(
        f"<tr><td>{html.escape(m.message_id)}</td><td>{html.escape(', '.join(m.to))}</td>"
        f"<td>{html.escape(m.subject)}</td><td><pre>{html.escape(m.text[:2000])}</pre></td></tr>"
        for m in reversed(sent_mail())
    )
    sms = "".join(
        f"<tr><td>{html.escape(s.message_id)}</td><td>{html.escape(s.phone)}</td><td>{html.escape(s.text)}</td></tr>"
        for s in reversed(sent_sms())
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><title>touchplan local outbox</title>"
        "<body style='font-family:system-ui;margin:1.5rem'><h1>Local outbox</h1>"
        "<p>What moto captured. JSON: <a href='/_local/outbox.json'>/_local/outbox.json</a></p>"
        f"<h2>Email</h2><table border=1 cellpadding=4><tr><th>id<th>to<th>subject<th>text</tr>{rows}</table>"
        f"<h2>SMS</h2><table border=1 cellpadding=4><tr><th>id<th>phone<th>text</tr>{sms}</table></body></html>"
    ).encode()


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    route = path.split("?", 1)[0]
    if method == "GET" and route == "/_local/outbox":
        return 200, "text/html; charset=utf-8", _page()
    if method == "GET" and route == "/_local/outbox.json":
        payload = {"mail": [asdict(m) for m in sent_mail()], "sms": [asdict(s) for s in sent_sms()]}
        return 200, "application/json", json.dumps(payload).encode()
    return 404, "application/json", b'{"error": "not_found", "message": "No such local page.", "field": null}'
