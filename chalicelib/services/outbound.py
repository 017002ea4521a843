"""Turns one decided touch into one provider call: pick the template, render it, send it once.

Used by the chain step worker for every channel. The template comes from the occasion (channel and locale,
with `ru-RU` -> `ru` -> the strategy's first locale as fallback) and the A/B variant the rules assigned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.delivery.email import EmailSender, OutboundEmail
from chalicelib.delivery.errors import CircuitOpenError, PermanentSendError, TemplateRenderError
from chalicelib.delivery.push import PushSender
from chalicelib.delivery.sms import SmsMessage, SmsSender
from chalicelib.delivery.templates import Catalogue, TemplateRenderer, message_context, pick_locale
from chalicelib.domain.model import EmailTemplate, Occasion, PushTemplate, SmsTemplate

MARKETING_PURPOSE = "marketing"


@dataclass(frozen=True)
class Recipient:
    contact_id: str
    email: str | None
    phone: str | None
    push_endpoint: str | None
    locale: str | None
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Envelope:
    """Where the touch sits: its ids go into provider tags so feedback finds it again."""

    touch_id: str
    chain_id: str | None
    step: int | None
    category: str
    purpose: str
    variant: str | None


@dataclass(frozen=True)
class Sent:
    provider_message_id: str
    cost: Decimal


class Circuit:
    """Stops provider calls on a channel for a while after the provider said sending is paused."""

    def __init__(self, pause: timedelta = timedelta(minutes=5)) -> None:
        self.pause = pause
        self._open_until: dict[str, datetime] = {}

    def check(self, channel: str, now: datetime) -> None:
        until = self._open_until.get(channel)
        if until is not None and now < until:
            raise CircuitOpenError("circuit_open", f"{channel} sending paused until {until.isoformat()}")

    def trip(self, channel: str, now: datetime) -> None:
        self._open_until[channel] = now + self.pause


@dataclass
class Outbound:
    email: EmailSender
    sms: SmsSender
    push: PushSender | None
    renderer: TemplateRenderer
    sender_address: str
    reply_to: str | None
    default_locale: str
    circuit: Circuit = field(default_factory=Circuit)
    catalogue: Catalogue | None = None  # the products recommendations may show (services.catalog)

    def send(
        self, channel: str, occasion: Occasion, recipient: Recipient, envelope: Envelope,
        variables: Mapping[str, object], now: datetime, events: Sequence[str] = (),
    ) -> Sent:
        """At most one provider call; failures raise the delivery taxonomy (CircuitOpenError: none made).

        `variables` are the template's: site links, the chain's triggering event, and the contact's
        unsubscribe and preference links (`unsubscribe_url` also goes into List-Unsubscribe). `events`: the
        types that start the chain, whose known properties the templates may read even when not sent."""
        self.circuit.check(channel, now)
        try:
            return self._send(channel, occasion, recipient, envelope, variables, now, events)
        except CircuitOpenError:
            self.circuit.trip(channel, now)
            raise

    def _send(
        self, channel: str, occasion: Occasion, recipient: Recipient, envelope: Envelope,
        variables: Mapping[str, object], now: datetime, events: Sequence[str],
    ) -> Sent:
        template = self._template(occasion, channel, recipient.locale)
        context = message_context(occasion, recipient.attributes, variables, now, events, self.catalogue)
        if isinstance(template, EmailTemplate):
            return self._email(template, recipient, envelope, context)
        if isinstance(template, SmsTemplate):
            return self._sms(template, recipient, envelope, context, now)
        return self._push(template, recipient, envelope, context)

    def _template(self, occasion: Occasion, channel: str, locale: str | None) -> Any:
        by_locale = occasion.templates.get(channel) or {}
        picked = pick_locale(by_locale, locale, self.default_locale) or next(iter(by_locale), None)
        if picked is None:
            raise TemplateRenderError(channel, f"occasion {occasion.id} has no {channel} template")
        return by_locale[picked]

    def _email(
        self, template: EmailTemplate, recipient: Recipient, envelope: Envelope, context: dict[str, Any],
    ) -> Sent:
        if not recipient.email:
            raise PermanentSendError("no_address", "the contact has no email address")
        variant = next((v for v in template.variants if v.id == envelope.variant), template.variants[0])
        fields = self.renderer.render(
            {"subject": variant.subject, "preheader": variant.preheader, "html": template.html,
             "text": template.text},
            context,
        )
        marketing = envelope.purpose == MARKETING_PURPOSE
        message = OutboundEmail(
            touch_id=envelope.touch_id, contact_id=recipient.contact_id, chain=envelope.chain_id,
            step=envelope.step, to=recipient.email, from_address=self.sender_address, reply_to=self.reply_to,
            subject=fields["subject"].strip(), preheader=fields["preheader"], html=fields["html"],
            text=fields["text"], marketing=marketing,
            unsubscribe_url=str(context["unsubscribe_url"]) if marketing and "unsubscribe_url" in context else None,
        )
        return Sent(self.email.send(message), Decimal(0))

    def _sms(
        self, template: SmsTemplate, recipient: Recipient, envelope: Envelope, context: dict[str, Any],
        now: datetime,
    ) -> Sent:
        if not recipient.phone:
            raise PermanentSendError("no_address", "the contact has no phone number")
        body = self.renderer.render_field("sms", template.text, context).strip()
        result = self.sms.send(
            SmsMessage(envelope.touch_id, recipient.contact_id, recipient.phone, body, envelope.category),
            now=now,
        )
        return Sent(result.message_id, result.cost)

    def _push(
        self, template: PushTemplate, recipient: Recipient, envelope: Envelope, context: dict[str, Any]
    ) -> Sent:
        if not recipient.push_endpoint or self.push is None:
            raise PermanentSendError("no_address", "the contact has no push endpoint")
        fields = self.renderer.render({"title": template.title, "body": template.body}, context)
        data = {"touch_id": envelope.touch_id, "chain": envelope.chain_id or "", "step": envelope.step or 0}
        message_id = self.push.publish(recipient.push_endpoint, fields["title"], fields["body"], data)
        return Sent(message_id, Decimal(0))
