"""Email through SES v2 ``send_email`` as Raw MIME (moto keeps Raw headers; it drops ``Simple.Headers``)."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.clients import ses_client_for_sending
from chalicelib.delivery.errors import PermanentSendError, classify_exception

__all__ = ["EmailSender", "OutboundEmail", "build_mime", "email_tags", "ses_client_for_sending"]

ONE_CLICK = "List-Unsubscribe=One-Click"
_TAG_VALUE_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_TAG_MAX = 256
_HEADER_URL = re.compile(r"^[\x21-\x7e]{1,900}$")
# Program-set headers are folded at 78 columns; raw ones (set_raw) are left as they are, so the
# List-Unsubscribe URL stays on one line: "List-Unsubscribe: <https://...>" (under 998, RFC 5322).
_POLICY = SMTP.clone(refold_source="none", cte_type="7bit")


@dataclass(frozen=True)
class OutboundEmail:
    """One rendered email for one recipient. Marketing mail must carry an HTTPS one-click unsubscribe URL;
    transactional mail (DOI, service) never gets List-Unsubscribe headers, whatever ``unsubscribe_url`` says.
    """

    touch_id: str
    contact_id: str
    chain: str | None
    step: str | int | None
    to: str
    from_address: str
    reply_to: str | None
    subject: str
    preheader: str
    html: str
    text: str
    marketing: bool
    unsubscribe_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("to", "from_address", "reply_to", "subject", "unsubscribe_url"):
            value = getattr(self, name)
            if value is not None and ("\r" in value or "\n" in value):
                raise ValueError(f"{name} must not contain line breaks")
        if self.marketing and not (self.unsubscribe_url or "").startswith("https://"):
            raise ValueError("marketing email needs an https:// unsubscribe_url")
        if self.unsubscribe_url is not None and not _HEADER_URL.match(self.unsubscribe_url):
            raise ValueError("unsubscribe_url must be printable ASCII without spaces, at most 900 characters")


def sanitise_tag_value(value: object) -> str:
    """SES tag values allow only ASCII letters, digits, ``_`` and ``-``, up to 256 characters."""
    return _TAG_VALUE_DISALLOWED.sub("_", str(value))[:_TAG_MAX]


def email_tags(message: OutboundEmail) -> list[dict[str, str]]:
    """The ``EmailTags`` feedback is reconciled by; empty values are left out (SES rejects them)."""
    values = {
        "touch_id": message.touch_id,
        "contact_id": message.contact_id,
        "chain": message.chain,
        "step": message.step,
    }
    tags = []
    for name, value in values.items():
        if value is None or value == "":
            continue
        tags.append({"Name": name, "Value": sanitise_tag_value(value)})
    return tags


def _with_preheader(html: str, preheader: str) -> str:
    if not preheader:
        return html
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{html_lib.escape(preheader)}</div>"
    )
    body = re.search(r"<body[^>]*>", html, flags=re.IGNORECASE)
    if body is None:
        return hidden + html
    return html[: body.end()] + hidden + html[body.end() :]


def build_mime(message: OutboundEmail) -> bytes:
    """multipart/alternative (text, then HTML), UTF-8, CRLF; RFC 8058 headers on marketing mail only."""
    mime = MimeMessage(policy=_POLICY)
    mime["From"] = message.from_address
    mime["To"] = message.to
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    if message.marketing and message.unsubscribe_url:
        mime.set_raw("List-Unsubscribe", f"<{message.unsubscribe_url}>")
        mime.set_raw("List-Unsubscribe-Post", ONE_CLICK)
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(_with_preheader(message.html, message.preheader), subtype="html", charset="utf-8")
    return mime.as_bytes()


class EmailSender:
    """Sends one email per call with exactly one SES ``send_email`` and returns SES's MessageId.

    Give it a client from ``ses_client_for_sending()`` so botocore never retries: SES has no idempotency
    token, and a retried read timeout can deliver twice. Failures raise the ``errors`` taxonomy.
    """

    def __init__(self, client: Any, configuration_set: str) -> None:
        self._client = client
        self._configuration_set = configuration_set

    def request(self, message: OutboundEmail) -> dict[str, Any]:
        """The exact ``send_email`` parameters for ``message`` (no call made)."""
        try:
            raw = build_mime(message)
        except (ValueError, TypeError) as exc:
            raise PermanentSendError("invalid_message", f"cannot build MIME: {exc}") from exc
        return {
            "FromEmailAddress": message.from_address,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": email_tags(message),
            "ConfigurationSetName": self._configuration_set,
        }

    def send(self, message: OutboundEmail) -> str:
        params = self.request(message)
        try:
            response = self._client.send_email(**params)
        except (ClientError, BotoCoreError) as exc:
            raise classify_exception(exc) from exc
        return str(response["MessageId"])
