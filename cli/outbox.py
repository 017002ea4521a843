"""The local outbox: the mail and SMS moto captured, served by the local runner only (never deployed).

moto keeps sent mail in its SES backend (sesv2 shares it) and SMS in its SNS backend; this is the one
place that reads those internals.

moto never emits SES events, so the outbox plays the world's part: for a captured mail it publishes an
SES event-publishing record (delivery, open, click, permanent or transient bounce, complaint) to the
stage's `ses-feedback` topic, and for a captured SMS an inbound reply (STOP) to the `sms-inbound` topic.
SNS fans them into the feedback queues, and the real handlers take them from there, as in AWS.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qs

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


def sent_mail(region: str = REGION, since: int = 0) -> list[CapturedMail]:
    """The mail moto captured, from the `since`-th on (a reader that keeps its place parses each mail once)."""
    from moto.ses.models import ses_backends

    captured = []
    for message in ses_backends[ACCOUNT][region].sent_messages[since:]:
        if hasattr(message, "raw_data"):
            captured.append(_parse_raw(message.id, message.source, message.destinations, message.raw_data))
        else:
            to = list(getattr(message, "destinations", {}).get("ToAddresses", []))
            subject = getattr(message, "subject", "")
            captured.append(CapturedMail(message.id, message.source, to, subject, getattr(message, "body", ""), {}))
    return captured


def sent_sms(region: str = REGION, since: int = 0) -> list[CapturedSms]:
    from moto.sns.models import sns_backends

    messages = list(sns_backends[ACCOUNT][region].sms_messages.items())[since:]
    return [CapturedSms(message_id, phone, text) for message_id, (phone, text) in messages]


FEEDBACK_KINDS = ("delivery", "open", "click", "bounce-permanent", "bounce-transient", "complaint")
_REPORTING_MTA = "a8-70.smtp-out.eu-west-1.amazonses.com"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def recipients_of(mail: CapturedMail) -> list[str]:
    return [address for _, address in getaddresses(mail.to) if address]


def ses_event(
    kind: str, mail: CapturedMail, at: datetime | None = None, *, recipients: Sequence[str] | None = None,
    feedback_id: str | None = None, link: str = "https://example.com/offer", configuration_set: str | None = None,
) -> dict[str, Any]:
    """The SES event-publishing record SES would send for `mail` (shapes as in the SES developer guide)."""
    if kind not in FEEDBACK_KINDS:
        raise ValueError(f"unknown feedback kind {kind!r}; one of {', '.join(FEEDBACK_KINDS)}")
    at = at or datetime.now(UTC)
    to = list(recipients or recipients_of(mail))
    stamp = _iso(at)
    tags: dict[str, list[str]] = {"ses:operation": ["SendEmail"], "ses:outgoing-ip": ["198.51.100.201"]}
    if configuration_set:
        tags["ses:configuration-set"] = [configuration_set]
    record: dict[str, Any] = {"mail": {
        "timestamp": stamp, "source": mail.source, "sendingAccountId": ACCOUNT, "messageId": mail.message_id,
        "destination": to, "headersTruncated": False,
        "headers": [{"name": name, "value": value} for name, value in mail.headers.items()],
        "commonHeaders": {"from": [mail.source], "to": to, "messageId": mail.message_id, "subject": mail.subject},
        "tags": tags,
    }}
    feedback_id = feedback_id or f"{uuid.uuid4()}-000000"
    client = {"ipAddress": "192.0.2.1", "timestamp": stamp, "userAgent": "Mozilla/5.0 (touchplan local outbox)"}
    if kind == "delivery":
        record |= {"eventType": "Delivery", "delivery": {
            "timestamp": stamp, "processingTimeMillis": 512, "recipients": to,
            "smtpResponse": "250 2.6.0 Message received", "reportingMTA": _REPORTING_MTA}}
    elif kind == "open":
        record |= {"eventType": "Open", "open": client}
    elif kind == "click":
        record |= {"eventType": "Click", "click": {**client, "link": link, "linkTags": {}}}
    elif kind == "complaint":
        record |= {"eventType": "Complaint", "complaint": {
            "feedbackId": feedback_id, "complainedRecipients": [{"emailAddress": r} for r in to],
            "timestamp": stamp, "userAgent": "Mail provider feedback loop", "complaintFeedbackType": "abuse",
            "arrivalDate": stamp}}
    else:
        permanent = kind == "bounce-permanent"
        record |= {"eventType": "Bounce", "bounce": {
            "feedbackId": feedback_id, "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General" if permanent else "MailboxFull",
            "bouncedRecipients": [
                {"emailAddress": r, "action": "failed", "status": "5.1.1" if permanent else "4.2.2",
                 "diagnosticCode": "smtp; 550 5.1.1 user unknown" if permanent else "smtp; 452 4.2.2 mailbox full"}
                for r in to
            ],
            "timestamp": stamp, "reportingMTA": f"dsn; {_REPORTING_MTA}"}}
    return record


def inbound_sms(phone: str, text: str = "STOP", *, message_id: str | None = None,
                answered: str | None = None) -> dict[str, Any]:
    """The two-way SMS payload AWS publishes when `phone` writes `text` to our number."""
    payload = {"originationNumber": phone, "destinationNumber": "+447700900000", "messageKeyword": "KEYWORD_LOCAL",
               "messageBody": text, "inboundMessageId": message_id or str(uuid.uuid4())}
    if answered:
        payload["previousPublishedMessageId"] = answered
    return payload


def _publish(topic: str, message: dict[str, Any]) -> str:
    from chalicelib import wiring
    from chalicelib.settings import get_settings

    settings = get_settings()
    arn = f"arn:aws:sns:{settings.region}:{ACCOUNT}:{settings.topic(topic)}"
    return str(wiring.client("sns").publish(TopicArn=arn, Message=json.dumps(message))["MessageId"])


def publish_feedback(kind: str, message_id: str, **options: Any) -> dict[str, Any]:
    """Publishes the SES event of `kind` for the captured mail `message_id` to the ses-feedback topic."""
    from chalicelib.settings import get_settings

    mail = next((m for m in sent_mail(get_settings().region) if m.message_id == message_id), None)
    if mail is None:
        raise LookupError(f"no captured mail {message_id!r}")
    record = ses_event(kind, mail, configuration_set=get_settings().configuration_set, **options)
    _publish("ses-feedback", record)
    return record


def publish_sms_reply(phone: str, text: str = "STOP", **options: Any) -> dict[str, Any]:
    """Publishes an inbound SMS from `phone` to the sms-inbound topic."""
    payload = inbound_sms(phone, text, **options)
    _publish("sms-inbound", payload)
    return payload


def _form(body: bytes) -> dict[str, str]:
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {k: v[0] for k, v in parse_qs(text).items()}


def _action(route: str, body: bytes) -> tuple[int, str, bytes]:
    form = _form(body)
    try:
        if route == "/_local/outbox/feedback":
            published = publish_feedback(form.get("kind", ""), form.get("message_id", ""))
        else:
            published = publish_sms_reply(form.get("phone", ""), form.get("text") or "STOP",
                                          answered=form.get("message_id") or None)
    except (LookupError, ValueError) as exc:
        error = {"error": "bad_request", "message": str(exc), "field": None}
        return 400, "application/json", json.dumps(error).encode()
    if form.get("format") == "json" or body.lstrip().startswith(b"{"):
        return 200, "application/json", json.dumps({"published": published}).encode()
    page = ("<!doctype html><meta charset=utf-8><meta http-equiv=refresh content='1;url=/_local/outbox'>"
            "<p>Published; the feedback worker picks it up in a moment. <a href='/_local/outbox'>Back</a></p>")
    return 200, "text/html; charset=utf-8", page.encode()


def _linked(text: str) -> str:
    """The text escaped, with its links clickable (a DOI link is what a developer wants to follow)."""
    escaped = html.escape(text)
    return re.sub(r"https?://[^\s<&]+(?:&amp;[^\s<&]+)*", lambda m: f"<a href='{m.group(0)}'>{m.group(0)}</a>", escaped)


def _buttons(action: str, fields: dict[str, str], labels: Sequence[tuple[str, str]]) -> str:
    hidden = "".join(f"<input type=hidden name={k} value='{html.escape(v, quote=True)}'>" for k, v in fields.items())
    return "".join(
        f"<form method=post action='/_local/outbox/{action}' style='display:inline'>{hidden}"
        f"<button name={name} value='{html.escape(value, quote=True)}'>{html.escape(value)}</button></form>"
        for name, value in labels
    )


def _page() -> bytes:
    rows = "".join(
        f"<tr><td>{html.escape(m.message_id)}</td><td>{html.escape(', '.join(m.to))}</td>"
        f"<td>{html.escape(m.subject)}</td><td><pre style='white-space:pre-wrap;word-break:break-all'>"
        f"{_linked(m.text[:2000])}</pre></td>"
        f"<td>{_buttons('feedback', {'message_id': m.message_id}, [('kind', k) for k in FEEDBACK_KINDS])}</td></tr>"
        for m in reversed(sent_mail())
    )
    sms = "".join(
        f"<tr><td>{html.escape(s.message_id)}</td><td>{html.escape(s.phone)}</td><td>{html.escape(s.text)}</td>"
        f"<td>{_buttons('sms-reply', {'phone': s.phone, 'message_id': s.message_id}, [('text', 'STOP')])}</td></tr>"
        for s in reversed(sent_sms())
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'><title>touchplan local outbox</title>"
        "<body style='font-family:system-ui;margin:1.5rem'><h1>Local outbox</h1>"
        "<p>What moto captured. JSON: <a href='/_local/outbox.json'>/_local/outbox.json</a></p>"
        "<p>The buttons play the world's part: they publish what SES or the phone network would, and the real "
        "feedback handlers process it.</p>"
        f"<h2>Email</h2><table border=1 cellpadding=4><tr><th>id<th>to<th>subject<th>text<th>feedback</tr>{rows}"
        "</table>"
        f"<h2>SMS</h2><table border=1 cellpadding=4><tr><th>id<th>phone<th>text<th>reply</tr>{sms}</table>"
        "</body></html>"
    ).encode()


def handle(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
    route = path.split("?", 1)[0]
    if method == "GET" and route == "/_local/outbox":
        return 200, "text/html; charset=utf-8", _page()
    if method == "GET" and route == "/_local/outbox.json":
        payload = {"mail": [asdict(m) for m in sent_mail()], "sms": [asdict(s) for s in sent_sms()]}
        return 200, "application/json", json.dumps(payload).encode()
    if method == "GET" and route == "/_local/example":
        from chalicelib.settings import get_settings
        from cli.example import page

        return 200, "text/html; charset=utf-8", page(get_settings().public_base_url)
    if method == "POST" and route in ("/_local/outbox/feedback", "/_local/outbox/sms-reply"):
        return _action(route, body)
    return 404, "application/json", b'{"error": "not_found", "message": "No such local page.", "field": null}'
