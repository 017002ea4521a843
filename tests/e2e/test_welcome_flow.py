"""The whole way through the running local stack: sign-up, DOI mail, confirmation, then the welcome chain's
first mail delivered by the real tick and step worker (the dispatcher plays EventBridge and SQS)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.stack import RunningStack, get, start_stack, stop_stack

pytestmark = pytest.mark.slow
# Zones around the world: the test signs up in one where it is daytime now, so quiet hours never defer it.
ZONES = ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Dubai", "Europe/Moscow", "Europe/London",
         "America/Sao_Paulo", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu")


def _daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 10 <= now.astimezone(ZoneInfo(z)).hour < 17)


def _mails_to(stack: RunningStack, email: str, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = [m for m in json.loads(get(f"{stack.api}/_local/outbox.json")[1])["mail"] if email in m["to"][0]]
        if len(mails) >= count:
            return mails
        time.sleep(0.3)
    raise AssertionError(f"expected {count} mail(s) to {email} in the outbox")


def _post_json(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310 - loopback
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URLs only
        return int(response.status)


def test_a_confirmed_sign_up_gets_the_first_welcome_mail_from_the_real_workers() -> None:
    stack = start_stack({"TOUCHPLAN_CLOCK_SPEED": "60"})  # the tick fires every second
    try:
        email = "welcome-flow@example.com"
        status = _post_json(f"{stack.api}/v1/subscriptions", {
            "email": email, "consents": [{"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"}],
            "data_processing": {"text_id": "personal-data-v1"}, "source": "e2e", "locale": "en-GB",
            "timezone": _daytime_zone(), "attributes": {"first_name": "Flow"},
        })
        assert status == 202
        [doi] = _mails_to(stack, email, 1)
        assert "List-Unsubscribe" not in doi["headers"]
        confirm = re.search(r"https?://\S+/v1/confirm\?token=\S+", doi["text"]).group(0)  # type: ignore[union-attr]
        assert get(confirm)[0] == 200
        welcome = _mails_to(stack, email, 2)[-1]
        assert welcome["headers"]["List-Unsubscribe"].startswith(f"<{stack.api}/v1/unsubscribe?token=")
        assert welcome["subject"] == "Thanks for subscribing!"  # welcome-thanks, in the contact's locale
    finally:
        stop_stack(stack)
