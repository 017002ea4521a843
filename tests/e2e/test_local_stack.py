"""`make run`'s stack starts on free ports, serves the real API, and leaves nothing behind when stopped."""

import json
import signal
import socket
import time
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
        # A hung stack tells where: SIGUSR1 prints every thread's stack, and the stack goes on serving.
        stack.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while "Current thread" not in stack.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "Current thread" in stack.log_text() and 'File "' in stack.log_text()
        assert get(f"{stack.api}/v1/health")[0] == 200
    finally:
        code = stop_stack(stack)
    assert code == 0
    assert not _listening(stack.api)
    assert not _listening(stack.moto)
