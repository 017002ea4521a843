"""Reading what a browser or a mail client posts: url-encoded and multipart forms (JSON: services.limits)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from chalicelib.services.errors import ClientError

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"


def media_type(content_type: str | None) -> str:
    return (content_type or JSON).split(";", 1)[0].strip().lower()


def read_form(content_type: str | None, raw: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs in posting order; a name may repeat (the last one wins for a switch)."""
    kind = media_type(content_type)
    if kind == FORM:
        return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if kind == MULTIPART:
        # The email package's parser is ~10 ms of every cold start (the steps queue's too, through app.py).
        from email.parser import BytesParser
        from email.policy import HTTP

        header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        message = BytesParser(policy=HTTP).parsebytes(header + raw)
        pairs = []
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str):
                payload = part.get_payload(decode=True)
                text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
                pairs.append((name, text))
        return pairs
    raise ClientError("unsupported_media_type", f"Send a form or JSON, not {kind}.", None, status=415)

