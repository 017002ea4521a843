"""Concurrent HTTP against the local stack: every request of a burst opens its connection at once.

asyncio on raw sockets, so 500 requests in flight cost the test process no threads. Each request has its
own timeout; a reset or a timeout is an answer with status 0, for the test to count.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3

from tests.e2e.stack import RunningStack, get

REQUEST_TIMEOUT = 90  # a guard against hangs: the last of a 500 burst is answered within about 40 s


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (reset, refused or timed out); `body` then says why
    body: bytes

    def text(self) -> str:
        return self.body.decode(errors="replace")


def post_json(path: str, body: Any, headers: dict[str, str] | None = None) -> Call:
    return Call("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})


def burst(stack: RunningStack, calls: list[Call], timeout: float = REQUEST_TIMEOUT) -> list[Answer]:
    """Sends every call at once, each on its own connection; the answers in the order of `calls`."""
    url = urlparse(stack.api)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def all_at_once() -> list[Answer]:
        return list(await asyncio.gather(*(_send(host, port, call, timeout) for call in calls)))

    return asyncio.run(all_at_once())


async def _send(host: str, port: int, call: Call, timeout: float) -> Answer:
    head = [f"{call.method} {call.path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(call.body)}", *(f"{k}: {v}" for k, v in call.headers.items())]
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + call.body)
                await writer.drain()
                raw = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        return Answer(0, repr(exc).encode())
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    parts = status_line.split()
    return Answer(int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0, body)


def sign_up(email: str) -> Call:
    """The smallest valid sign-up: an address, one consent, personal-data processing; no name, no attributes."""
    return post_json("/v1/subscriptions", {
        "email": email,
        "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
        "data_processing": {"text_id": "personal-data-v1"},
    })


def mails(stack: RunningStack) -> list[dict[str, Any]]:
    status, body = get(f"{stack.api}/_local/outbox.json")
    assert status == 200
    return list(json.loads(body)["mail"])


def link(text: str, path: str) -> str:
    found = re.search(rf"https?://[^\s\"'<>]+{re.escape(path)}\?token=[^\s\"'<>]+", text)
    assert found, f"no {path} link in {text[:300]!r}"
    return found.group(0).replace("&amp;", "&")


def wait_until_queues_are_empty(stack: RunningStack, timeout: float = 60) -> None:
    """Until every queue of the stack holds nothing, visible or in flight: the workers have done all there is."""
    sqs = boto3.client("sqs", endpoint_url=stack.moto, region_name="eu-west-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    urls = sqs.list_queues().get("QueueUrls", [])
    names = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = sum(int(sqs.get_queue_attributes(QueueUrl=u, AttributeNames=list(names))["Attributes"][n])
                   for u in urls if not u.endswith("-dlq") for n in names)
        if left == 0:
            return
        time.sleep(0.5)
    raise AssertionError("the stack's queues did not drain in time")
