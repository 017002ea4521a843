"""Email through SES v2 ``send_email`` as Raw MIME (moto keeps Raw headers; it drops ``Simple.Headers``)."""

from __future__ import annotations

import base64
import html as html_lib
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.clients import ses_client_for_sending
from chalicelib.delivery.errors import InvalidMessageError, classify_exception

__all__ = ["EmailSender", "OutboundEmail", "build_mime", "email_tags", "ses_client_for_sending"]

ONE_CLICK = "List-Unsubscribe=One-Click"
# RFC 8058 wants HTTPS; plain HTTP is accepted on loopback only, for the local stack on this machine.
ONE_CLICK_SCHEMES = ("https://", "http://127.0.0.1:", "http://localhost:")
_TAG_VALUE_DISALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_TAG_MAX = 256
_HEADER_URL = re.compile(r"^[!#-;=?-~]{1,900}$")  # printable ASCII without space, '"', '<' or '>'
_MAX_LINE = 78
CRLF = "\r\n"
# Both parts are base64, which never contains "_", so no line of a part can match this delimiter
# (RFC 2046 5.1.1). A constant boundary makes the MIME a pure function of the message.
BOUNDARY = "=_touchplan_alternative_="


@dataclass(frozen=True)
class OutboundEmail:
    """One rendered email for one recipient. Marketing mail must carry an HTTPS one-click unsubscribe URL;
    transactional mail (DOI, service) never gets List-Unsubscribe headers, whatever ``unsubscribe_url`` says.
    Line breaks in the subject are folded into spaces; in addresses or the URL they are refused
    (``InvalidMessageError``, a ``PermanentSendError`` and ``ValueError``, raised before any provider call).
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
        for name in ("to", "from_address", "reply_to", "unsubscribe_url"):
            value = getattr(self, name)
            if value is not None and ("\r" in value or "\n" in value):
                raise InvalidMessageError(f"{name} must not contain line breaks")
        if self.marketing and not (self.unsubscribe_url or "").startswith(ONE_CLICK_SCHEMES):
            raise InvalidMessageError("marketing email needs an https:// unsubscribe_url")
        if self.unsubscribe_url is not None and not _HEADER_URL.match(self.unsubscribe_url):
            raise InvalidMessageError(
                "unsubscribe_url must be printable ASCII without spaces, quotes or <>, at most 900 characters"
            )


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


@lru_cache(maxsize=1024)
def _split_address(value: str) -> tuple[str, str]:
    name, address = parseaddr(value)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not local.isascii():
        raise ValueError(f"not a deliverable address: {value!r}")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"bad domain in {value!r}") from exc
    return name, f"{local}@{domain}"


def encode_address(value: str) -> str:
    """An address SES accepts in API parameters: 7-bit, display name as RFC 2047, domain as Punycode."""
    return formataddr(_split_address(value), charset="utf-8")


def _header_text(field: str, value: str) -> str:
    """Folded at 78 columns; non-ASCII as RFC 2047 encoded words."""
    if value.isascii():
        if len(field) + 2 + len(value) <= _MAX_LINE:
            return value
        return Header(value, "us-ascii", maxlinelen=_MAX_LINE, header_name=field).encode(linesep=CRLF)
    return Header(value, "utf-8", maxlinelen=76, header_name=field).encode(linesep=CRLF)


def _address_header(field: str, value: str) -> str:
    name, address = _split_address(value)
    if not name or name.isascii():
        return formataddr((name, address))
    encoded = _header_text(field, name)
    lines = encoded.split(CRLF)
    used = len(lines[-1]) + (len(field) + 2 if len(lines) == 1 else 0)
    separator = " " if used + len(address) + 3 <= _MAX_LINE else CRLF + " "
    return f"{encoded}{separator}<{address}>"


def _one_line(text: str) -> str:
    if "\r" not in text and "\n" not in text:
        return text
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _base64_lines(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)


def build_mime(message: OutboundEmail) -> bytes:
    """multipart/alternative (text, then HTML), UTF-8 in base64, CRLF, 7-bit clean.

    Written out by hand rather than through ``email.message`` (which cost ~2 ms a message): fast,
    deterministic, and the List-Unsubscribe URL stays on one unfolded line ("List-Unsubscribe: <https://...>",
    under 998 characters, RFC 5322). RFC 8058 headers go on marketing mail only.
    """
    boundary = BOUNDARY
    headers = [
        f"From: {_address_header('From', message.from_address)}",
        f"To: {_address_header('To', message.to)}",
    ]
    if message.reply_to:
        headers.append(f"Reply-To: {_address_header('Reply-To', message.reply_to)}")
    headers.append(f"Subject: {_header_text('Subject', _one_line(message.subject))}")
    if message.marketing and message.unsubscribe_url:
        headers.append(f"List-Unsubscribe: <{message.unsubscribe_url}>")
        headers.append(f"List-Unsubscribe-Post: {ONE_CLICK}")
    headers.append("MIME-Version: 1.0")
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    chunks = [CRLF.join(headers), CRLF, CRLF]
    html = _with_preheader(message.html, message.preheader)
    for subtype, body in (("plain", message.text), ("html", html)):
        chunks += [
            f"--{boundary}{CRLF}",
            f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}',
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}",
            _base64_lines(body),
        ]
    chunks.append(f"--{boundary}--{CRLF}")
    return "".join(chunks).encode("ascii")


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
        except InvalidMessageError:
            raise
        except (ValueError, TypeError) as exc:
            raise InvalidMessageError(f"cannot build MIME: {exc}") from exc
        return {
            "FromEmailAddress": encode_address(message.from_address),
            "Destination": {"ToAddresses": [encode_address(message.to)]},
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
