"""`make run`'s stack starts on free ports, serves the real API, and leaves nothing behind when stopped."""

import json
import socket
from urllib.parse import urlparse

from tests.e2e.stack import get, start_stack, stop_stack


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parsed.hostname, parsed.port)) == 0


def test_the_stack_serves_health_and_stops_cleanly_on_ctrl_c() -> None:
    stack = start_stack()
    try:
        status, body = get(f"{stack.api}/v1/health")
        assert status == 200
        assert json.loads(body)["stage"] == "local"
        status, _ = get(f"{stack.api}/_local/outbox")
        assert status == 200
        assert stack.key.startswith("tp_")
    finally:
        code = stop_stack(stack)
    assert code == 0
    assert not _listening(stack.api)
    assert not _listening(stack.moto)
