"""Provider feedback parsing: SES events (both formats) and inbound SMS, from SQS bodies. Pure; no I/O.

Accepted inputs (``parse_feedback``): an SQS record body that is an SNS envelope (``Type: Notification``)
or the raw message (SNS raw delivery), as text or already-decoded JSON, or a whole SQS record. Inside:
an SES event-publishing record (``eventType``), an SES notification (``notificationType``), or an
AWS End User Messaging two-way SMS payload. Unknown extra fields are ignored everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from chalicelib.delivery.errors import FeedbackParseError, UnsupportedFeedbackError

__all__ = [
    "STOP_KEYWORDS",
    "FeedbackEvent",
    "FeedbackKind",
    "FeedbackParseError",
    "InboundSms",
    "UnsupportedFeedbackError",
    "is_stop_keyword",
    "parse_feedback",
    "parse_inbound_sms",
    "parse_ses_event",
    "unwrap",
]

FeedbackKind = Literal[
    "bounce",
    "complaint",
    "delivery",
    "open",
    "click",
    "reject",
    "rendering_failure",
    "delivery_delay",
    "send",
]


@dataclass(frozen=True)
class FeedbackEvent:
    """One SES event about one sent message (possibly several recipients).

    ``feedback_id`` is SES's ``feedbackId`` for bounces and complaints, else ``<messageId>:<kind>``;
    so repeated SNS deliveries of one event share it, and so do repeated opens/clicks of one message
    (they count once). ``idempotency_key(recipient)`` is the per-recipient key for side effects.
    ``permanent`` is true for a permanent bounce and for a complaint: both mean "suppress the address".
    Touch ids come from the message's SES tags, present in event-publishing records only; the older
    notification format carries ``provider_message_id`` alone.
    """

    kind: FeedbackKind
    permanent: bool
    recipients: tuple[str, ...]
    provider_message_id: str
    feedback_id: str
    touch_id: str | None
    contact_id: str | None
    chain: str | None
    step: str | None
    at: datetime
    link: str | None = None
    bounce_type: str | None = None
    bounce_subtype: str | None = None
    complaint_type: str | None = None
    source_format: Literal["event", "notification"] = "event"

    def idempotency_key(self, recipient: str) -> str:
        return f"{self.feedback_id}:{recipient.strip().lower()}"

    @property
    def idempotency_keys(self) -> tuple[str, ...]:
        return tuple(self.idempotency_key(r) for r in self.recipients)


@dataclass(frozen=True)
class InboundSms:
    origination_number: str
    destination_number: str
    body: str
    keyword: str
    message_id: str
    previous_published_message_id: str | None = None

    @property
    def is_stop(self) -> bool:
        return is_stop_keyword(self.body) or is_stop_keyword(self.keyword)


STOP_KEYWORDS = frozenset({"stop", "stopall", "стоп", "отписка", "unsubscribe", "quit", "cancel", "end", "optout"})
_KEYWORD_NOISE = re.compile(r"[\s\-_]+")


def is_stop_keyword(text: str | None) -> bool:
    """True for STOP, СТОП, ОТПИСКА, UNSUBSCRIBE, QUIT, CANCEL, END, OPTOUT (and STOP ALL, OPT-OUT),
    in any case, with surrounding whitespace or a trailing ``.``/``!``."""
    if not text:
        return False
    normalised = _KEYWORD_NOISE.sub("", text.casefold()).rstrip(".!")
    return normalised in STOP_KEYWORDS


_EVENT_KINDS: dict[str, FeedbackKind] = {
    "bounce": "bounce",
    "complaint": "complaint",
    "delivery": "delivery",
    "send": "send",
    "reject": "reject",
    "open": "open",
    "click": "click",
    "renderingfailure": "rendering_failure",
    "deliverydelay": "delivery_delay",
}
# Where each event type keeps its details in the record.
_DETAIL_KEY: dict[FeedbackKind, str] = {
    "bounce": "bounce",
    "complaint": "complaint",
    "delivery": "delivery",
    "send": "send",
    "reject": "reject",
    "open": "open",
    "click": "click",
    "rendering_failure": "failure",
    "delivery_delay": "deliveryDelay",
}


def _load_json(raw: str | bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise FeedbackParseError(f"{what} is not JSON: {exc}") from exc


def unwrap(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    """The provider payload inside an SQS record, an SNS envelope, or neither."""
    payload: Any = _load_json(body, "SQS body") if isinstance(body, str | bytes) else body
    if not isinstance(payload, Mapping):
        raise FeedbackParseError("feedback body is not a JSON object")
    if "body" in payload and payload.get("eventSource") == "aws:sqs":
        return unwrap(payload["body"])
    envelope_type = payload.get("Type")
    if isinstance(envelope_type, str) and "TopicArn" in payload:
        if envelope_type != "Notification":
            raise UnsupportedFeedbackError(f"SNS {envelope_type} message")
        message = payload.get("Message")
        if not isinstance(message, str):
            raise FeedbackParseError("SNS notification without a Message string")
        inner = _load_json(message, "SNS Message")
        if not isinstance(inner, Mapping):
            raise FeedbackParseError("SNS Message is not a JSON object")
        return inner
    return payload


def parse_feedback(body: str | bytes | Mapping[str, Any]) -> FeedbackEvent | InboundSms:
    payload = unwrap(body)
    if "eventType" in payload or "notificationType" in payload:
        return parse_ses_event(payload)
    if "originationNumber" in payload and "messageBody" in payload:
        return parse_inbound_sms(payload)
    raise FeedbackParseError("neither an SES event nor an inbound SMS")


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FeedbackParseError(f"{what} is missing or not an object")
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return _text(value[0]) if value else None
    text = str(value).strip()
    return text or None


def _timestamp(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise FeedbackParseError(f"{what} timestamp missing")
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise FeedbackParseError(f"{what} timestamp {value!r} is not ISO 8601") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _addresses(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    found: list[str] = []
    for item in items:
        address = _text(item.get("emailAddress")) if isinstance(item, Mapping) else _text(item)
        if address and address not in found:
            found.append(address)
    return tuple(found)


def parse_ses_event(payload: Mapping[str, Any]) -> FeedbackEvent:
    """An SES event-publishing record (``eventType``) or notification (``notificationType``)."""
    if "eventType" in payload:
        source_format: Literal["event", "notification"] = "event"
        type_name = payload["eventType"]
    else:
        source_format = "notification"
        type_name = payload.get("notificationType")
    if not isinstance(type_name, str):
        raise FeedbackParseError("SES event type is not a string")
    kind = _EVENT_KINDS.get(type_name.replace(" ", "").replace("_", "").lower())
    if kind is None:
        raise UnsupportedFeedbackError(f"SES event type {type_name!r}")

    mail = _mapping(payload.get("mail"), "mail")
    message_id = _text(mail.get("messageId"))
    if message_id is None:
        raise FeedbackParseError("mail.messageId missing")
    detail_value = payload.get(_DETAIL_KEY[kind])
    detail: Mapping[str, Any] = detail_value if isinstance(detail_value, Mapping) else {}
    tags_value = mail.get("tags")
    tags: Mapping[str, Any] = tags_value if isinstance(tags_value, Mapping) else {}

    permanent = False
    bounce_type = bounce_subtype = complaint_type = link = None
    feedback_id = f"{message_id}:{kind}"
    if kind == "bounce":
        detail = _mapping(detail_value, "bounce")
        recipients = _addresses(detail.get("bouncedRecipients"))
        bounce_type = _text(detail.get("bounceType"))
        bounce_subtype = _text(detail.get("bounceSubType"))
        permanent = bounce_type == "Permanent"
        feedback_id = _text(detail.get("feedbackId")) or feedback_id
    elif kind == "complaint":
        detail = _mapping(detail_value, "complaint")
        recipients = _addresses(detail.get("complainedRecipients"))
        complaint_type = _text(detail.get("complaintFeedbackType"))
        permanent = True
        feedback_id = _text(detail.get("feedbackId")) or feedback_id
    elif kind == "delivery":
        recipients = _addresses(detail.get("recipients"))
    elif kind == "delivery_delay":
        recipients = _addresses(detail.get("delayedRecipients"))
    else:
        recipients = ()
    if kind == "click":
        link = _text(detail.get("link"))
    if not recipients:
        recipients = _addresses(mail.get("destination"))
    if not recipients:
        raise FeedbackParseError(f"SES {type_name} without recipients")

    detail_time = detail.get("timestamp")
    at = _timestamp(detail_time, type_name) if detail_time else _timestamp(mail.get("timestamp"), "mail")
    step = _text(tags.get("step"))
    return FeedbackEvent(
        kind=kind,
        permanent=permanent,
        recipients=recipients,
        provider_message_id=message_id,
        feedback_id=feedback_id,
        touch_id=_text(tags.get("touch_id")),
        contact_id=_text(tags.get("contact_id")),
        chain=_text(tags.get("chain")),
        step=step,
        at=at,
        link=link,
        bounce_type=bounce_type,
        bounce_subtype=bounce_subtype,
        complaint_type=complaint_type,
        source_format=source_format,
    )


def parse_inbound_sms(payload: Mapping[str, Any]) -> InboundSms:
    """An AWS End User Messaging (SNS two-way SMS) inbound payload."""
    origination = _text(payload.get("originationNumber"))
    destination = _text(payload.get("destinationNumber"))
    message_id = _text(payload.get("inboundMessageId"))
    body = payload.get("messageBody")
    if origination is None or destination is None or message_id is None or not isinstance(body, str):
        raise FeedbackParseError("inbound SMS lacks originationNumber, destinationNumber, body or id")
    # messageKeyword is the registered keyword AWS matched; without one, the whole text stands for it.
    keyword = _text(payload.get("messageKeyword")) or body.strip().upper()
    return InboundSms(
        origination_number=origination,
        destination_number=destination,
        body=body,
        keyword=keyword,
        message_id=message_id,
        previous_published_message_id=_text(payload.get("previousPublishedMessageId")),
    )
