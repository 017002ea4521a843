"""SMS through SNS ``publish``: E.164 numbers, SMS type by category, opt-out check, monthly spend guard."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.errors import CircuitOpenError, PermanentSendError, classify_exception

# 3GPP TS 23.038 default alphabet; each counts one septet.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: escape + char, two septets each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

MARKETING_CATEGORIES = frozenset({"marketing", "promo", "trigger", "manual"})
TRANSACTIONAL_CATEGORIES = frozenset({"service", "transactional"})


@dataclass(frozen=True)
class SmsSegments:
    encoding: Encoding
    segments: int
    characters: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2


def _pack(widths: Iterable[int], single: int, multi: int) -> tuple[int, int]:
    widths = list(widths)
    total = sum(widths)
    if total == 0:
        return 0, 0
    if total <= single:
        return 1, total
    # A two-unit character (GSM escape, UTF-16 surrogate pair) is never split across segments.
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments += 1
            used = 0
        used += width
    return segments, total


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_segments(text: str) -> SmsSegments:
    """How many SMS parts ``text`` takes: GSM-7 160/153 per part, else UCS-2 70/67."""
    if is_gsm7(text):
        segments, units = _pack((2 if ch in GSM7_EXTENSION else 1 for ch in text), GSM7_SINGLE, GSM7_MULTI)
        return SmsSegments("GSM-7", segments, len(text), units)
    segments, units = _pack((2 if ord(ch) > 0xFFFF else 1 for ch in text), UCS2_SINGLE, UCS2_MULTI)
    return SmsSegments("UCS-2", segments, len(text), units)


def sms_cost(text_or_segments: str | SmsSegments, price_per_segment: Decimal) -> Decimal:
    parts = text_or_segments if isinstance(text_or_segments, SmsSegments) else sms_segments(text_or_segments)
    return price_per_segment * parts.segments


def is_e164(number: str) -> bool:
    return bool(E164.match(number))


def sms_type_for(category: str) -> Literal["Promotional", "Transactional"]:
    if category in MARKETING_CATEGORIES:
        return "Promotional"
    if category in TRANSACTIONAL_CATEGORIES:
        return "Transactional"
    raise ValueError(f"unknown occasion category {category!r}")


def month_key(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


class OptOutCache(Protocol):
    """Remembers SNS's opt-out answer per number so it is asked once. ``None`` means not asked yet."""

    def get(self, phone_number: str) -> bool | None: ...

    def set(self, phone_number: str, opted_out: bool) -> None: ...


class SpendCounter(Protocol):
    """Money spent on SMS per calendar month (``YYYY-MM``, UTC), in the price's currency."""

    def month_spend(self, month: str) -> Decimal: ...

    def add(self, month: str, amount: Decimal) -> None: ...


class InMemoryOptOutCache:
    def __init__(self) -> None:
        self._answers: dict[str, bool] = {}

    def get(self, phone_number: str) -> bool | None:
        return self._answers.get(phone_number)

    def set(self, phone_number: str, opted_out: bool) -> None:
        self._answers[phone_number] = opted_out


class InMemorySpendCounter:
    def __init__(self) -> None:
        self._spent: dict[str, Decimal] = {}

    def month_spend(self, month: str) -> Decimal:
        return self._spent.get(month, Decimal(0))

    def add(self, month: str, amount: Decimal) -> None:
        self._spent[month] = self.month_spend(month) + amount


@dataclass(frozen=True)
class SmsMessage:
    touch_id: str
    contact_id: str
    to: str
    body: str
    category: str  # marketing | promo | trigger | manual | service | transactional

    @property
    def marketing(self) -> bool:
        return self.category in MARKETING_CATEGORIES


@dataclass(frozen=True)
class SmsSendResult:
    message_id: str
    segments: SmsSegments
    cost: Decimal


SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")


class SmsSender:
    """Sends one SMS per call with at most one ``publish``.

    Refused before any publish, in this order: a bad number or too long a text (``PermanentSendError``),
    the monthly spend limit (``CircuitOpenError`` code ``sms_spend_limit``), and, for a marketing SMS,
    a number SNS reports as opted out (``PermanentSendError`` code ``opted_out``). Spend is counted after
    SNS accepts the message; with concurrent senders the limit can be overshot by one message each.
    """

    def __init__(
        self,
        client: Any,  # boto3 SNS client, ideally from clients.sns_client_for_sending()
        *,
        sender_id: str | None = None,
        price_per_segment: Decimal = Decimal(0),
        monthly_limit: Decimal | None = None,
        spend: SpendCounter | None = None,
        opt_out_cache: OptOutCache | None = None,
        max_segments: int = 10,
    ) -> None:
        if sender_id is not None and not SENDER_ID.match(sender_id):
            raise ValueError("sender id must be 1-11 letters or digits with at least one letter")
        self._client = client
        self._sender_id = sender_id
        self._price = price_per_segment
        self._limit = monthly_limit
        self._spend: SpendCounter = spend if spend is not None else InMemorySpendCounter()
        self._opt_outs: OptOutCache = opt_out_cache if opt_out_cache is not None else InMemoryOptOutCache()
        self._max_segments = max_segments

    def send(self, message: SmsMessage, *, now: datetime) -> SmsSendResult:
        if not is_e164(message.to):
            raise PermanentSendError("invalid_phone_number", "not an E.164 number")
        parts = sms_segments(message.body)
        if parts.segments == 0:
            raise PermanentSendError("empty_message", "SMS body is empty")
        if parts.segments > self._max_segments:
            raise PermanentSendError("message_too_long", f"{parts.segments} segments > {self._max_segments}")
        try:
            sms_type = sms_type_for(message.category)
        except ValueError as exc:
            raise PermanentSendError("unknown_category", str(exc)) from exc
        cost = sms_cost(parts, self._price)
        month = month_key(now)
        if self._limit is not None and self._spend.month_spend(month) + cost > self._limit:
            raise CircuitOpenError("sms_spend_limit", f"monthly SMS limit {self._limit} reached")
        if message.marketing and self.is_opted_out(message.to):
            raise PermanentSendError("opted_out", "number opted out of SMS at the carrier/SNS")

        attributes: dict[str, Any] = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": sms_type}}
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self._sender_id}
        response = self._call("publish", PhoneNumber=message.to, Message=message.body, MessageAttributes=attributes)
        self._spend.add(month, cost)
        return SmsSendResult(message_id=str(response["MessageId"]), segments=parts, cost=cost)

    def is_opted_out(self, phone_number: str) -> bool:
        cached = self._opt_outs.get(phone_number)
        if cached is not None:
            return cached
        response = self._call("check_if_phone_number_is_opted_out", phoneNumber=phone_number)
        opted_out = bool(response.get("isOptedOut", False))
        self._opt_outs.set(phone_number, opted_out)
        return opted_out

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise classify_exception(exc) from exc
