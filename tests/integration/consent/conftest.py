"""Consent tests on moto: helpers that act like a website and a mail reader, and a
guard that no email address or phone number reaches any log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib import observability, wiring
from chalicelib.store.contacts import identity_key
from functions.queues import route_step

BROWSER = {"Content-Type": "application/json", "User-Agent": "Mozilla/5.0 (test)", "Origin": "https://www.example.com"}
# Every test phone number is +7916123xxxx; any of them in a log line, in any spelling, fails the test.
TEST_PHONE_DIGITS = ("916123", "916 123", "916-123")


def signup(email: str | None = "anna@example.com", phone: str | None = "+79161234567", **extra: Any) -> dict:
    consents = []
    if email:
        consents.append({"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"})
    if phone:
        consents.append({"channel": "sms", "purpose": "marketing", "text_id": "marketing-sms-v1"})
    body: dict[str, Any] = {
        "consents": consents, "data_processing": {"text_id": "personal-data-v1"}, "source": "site-footer",
        "locale": "ru-RU", "timezone": "Europe/Moscow",
        "attributes": {"first_name": "Anna", "birthday": "1990-05-17", "point_id": "msk-01"},
    }
    if email:
        body["email"] = email
    if phone:
        body["phone"] = phone
    body.update(extra)
    return body


def post_signup(api: Any, body: dict, headers: dict[str, str] | None = None) -> Any:
    return api.http.post("/v1/subscriptions", headers=headers or BROWSER, body=json.dumps(body))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def steps_messages() -> list[dict]:
    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName="test-steps")["QueueUrl"]
    found = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_doi_worker() -> int:
    """Delivers every queued DOI message to the worker; returns how many there were."""
    messages = [m for m in steps_messages() if m["kind"] == "doi"]
    for message in messages:
        route_step(message)
    return len(messages)


def contact_id_of(email: str) -> str:
    return wiring.contacts().owners([identity_key("email", email)])[identity_key("email", email)]


def link_in(text: str) -> str:
    match = re.search(r"https?://\S+", text)
    assert match, text
    return path_of(match.group(0))


@pytest.fixture(autouse=True)
def no_personal_data_in_logs() -> Iterator[None]:
    """Captures every log record raw (the masking filter taken off) and fails on an address in any of them."""
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    app_logger = logging.getLogger(observability.SERVICE)
    masks = [f for f in app_logger.filters if type(f).__name__ == "_PersonalDataFilter"]
    for mask in masks:
        app_logger.removeFilter(mask)
    capture = Capture(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(capture)
    app_logger.addHandler(capture)
    try:
        yield
    finally:
        root.removeHandler(capture)
        app_logger.removeHandler(capture)
        for mask in masks:
            app_logger.addFilter(mask)
    for record in records:
        line = f"{record.getMessage()} {vars(record)}".lower()
        assert "@example." not in line and not any(digits in line for digits in TEST_PHONE_DIGITS), line
