"""The local stack under concurrent load, over HTTP: every request is answered for itself, nothing is lost.

The local server handles requests in threads; Chalice and Powertools keep request state on shared objects,
and moto's DynamoDB is not thread-safe. These bursts open every connection at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import boto3
import pytest

from tests.e2e.load import Answer, Call, burst, link, mails, sign_up, wait_until_queues_are_empty
from tests.e2e.stack import RunningStack, get, start_stack, stop_stack

pytestmark = pytest.mark.slow
WRONG_KEYS = ("tp_00000000_" + "x" * 43, "tp_garbage", "", "Bearer")


def _contacts_by_email(stack: RunningStack) -> dict[str, list[str]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.moto, region_name="eu-west-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    found: dict[str, list[str]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName="local-contacts"):
        for item in page["Items"]:
            if "email" in item:
                found.setdefault(item["email"]["S"], []).append(item["contact_id"]["S"])
    return found


def _mails_to(stack: RunningStack, email: str) -> list[dict]:
    return [m for m in mails(stack) if any(email in to.lower() for to in m["to"])]


def _doi_mail(stack: RunningStack, email: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _mails_to(stack, email)
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no DOI mail to {email} in the outbox")


def _preferences_path(stack: RunningStack, email: str) -> str:
    """Signs `email` up, confirms it from the DOI mail, and returns the preference link of the confirmation page."""
    confirm = link(_doi_mail(stack, email)["text"], "/v1/confirm")
    status, page = get(confirm)
    assert status == 200
    return link(page.decode(), "/v1/preferences").removeprefix(stack.api)


def _masked(email: str) -> str:
    return "@" + email.partition("@")[2] + "</strong>"


def _no_traceback_since(stack: RunningStack, offset: int) -> None:
    log = stack.log_text()[offset:]
    assert "Traceback" not in log, log[log.index("Traceback"):][:3000]


@pytest.fixture(scope="module")
def two_contacts(local_stack: RunningStack) -> Iterator[dict[str, str]]:
    emails = ("anna@anna.example.com", "boris@boris.example.org")  # the page masks all but the domain
    for email in emails:  # one after the other: the setup is not under test
        assert [a.status for a in burst(local_stack, [sign_up(email)])] == [202]
    yield {email: _preferences_path(local_stack, email) for email in emails}


def test_two_contacts_preference_pages_loaded_in_parallel_never_cross(
    local_stack: RunningStack, two_contacts: dict[str, str]
) -> None:
    (anna, anna_path), (boris, boris_path) = two_contacts.items()
    calls = [Call("GET", anna_path if i % 2 == 0 else boris_path) for i in range(200)]

    answers = burst(local_stack, calls)

    for i, answer in enumerate(answers):
        own, other = (anna, boris) if i % 2 == 0 else (boris, anna)
        assert answer.status == 200, answer.text()[:500]
        assert _masked(own) in answer.text()
        assert _masked(other) not in answer.text()


def test_wrong_keys_racing_right_ones_never_get_data(local_stack: RunningStack, two_contacts: dict[str, str]) -> None:
    email = next(iter(two_contacts))
    [contact_id] = _contacts_by_email(local_stack)[email]
    path = f"/v1/admin/contacts/{contact_id}"
    right = Call("GET", path, headers={"Authorization": f"Bearer {local_stack.key}"})
    wrong = [Call("GET", path, headers={"Authorization": f"Bearer {key}"}) for key in WRONG_KEYS]
    calls = [right if i % 2 == 0 else wrong[i // 2 % len(wrong)] for i in range(120)]

    answers = burst(local_stack, calls)

    for call, answer in zip(calls, answers, strict=True):
        if call is right:
            assert answer.status == 200, answer.text()[:500]
            assert json.loads(answer.body)["contact"]["contact_id"] == contact_id
        else:
            assert answer.status == 401, answer.text()[:500]
            assert contact_id not in answer.text()
            assert email not in answer.text()


def test_200_variants_of_one_address_give_one_contact_and_one_doi_mail(local_stack: RunningStack) -> None:
    offset = len(local_stack.log_text())
    forms = ["variants@example.com", "Variants@Example.com", "VARIANTS@EXAMPLE.COM", "variants@EXAMPLE.com"]
    spaces = ["", " ", "\t", "  \n"]
    variants = [f"{spaces[i % 4]}{forms[i // 4 % 4]}{spaces[i // 16 % 4]}" for i in range(200)]

    answers = burst(local_stack, [sign_up(v) for v in variants])

    assert [a.status for a in answers] == [202] * 200
    assert len(_contacts_by_email(local_stack)["variants@example.com"]) == 1
    _doi_mail(local_stack, "variants@example.com")
    wait_until_queues_are_empty(local_stack)
    assert len(_mails_to(local_stack, "variants@example.com")) == 1
    _no_traceback_since(local_stack, offset)


def test_a_wrong_key_search_never_lists_contacts(local_stack: RunningStack, two_contacts: dict[str, str]) -> None:
    email = next(iter(two_contacts))
    path = f"/v1/admin/contacts?email={quote(email)}"
    calls = [Call("GET", path, headers={"Authorization": f"Bearer {local_stack.key if i % 2 else WRONG_KEYS[0]}"})
             for i in range(100)]

    answers = burst(local_stack, calls)

    assert {a.status for a in answers[1::2]} == {200}
    assert all(email in a.text() for a in answers[1::2])
    assert {a.status for a in answers[0::2]} == {401}
    assert not any(email in a.text() for a in answers[0::2])


@dataclass
class Burst:
    stack: RunningStack
    emails: list[str]
    answers: list[Answer]
    peak_rss_mb: float


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def burst_of_500() -> Iterator[Burst]:
    """A stack of its own that has just taken 500 distinct sign-ups at once (its workers still send the DOIs)."""
    stack = start_stack()
    try:
        emails = [f"burst-{i}@example.com" for i in range(500)]
        answers = burst(stack, [sign_up(email) for email in emails])
        yield Burst(stack, emails, answers, _peak_rss_mb(stack.process.pid))
    finally:
        if stack.process.poll() is None:
            stop_stack(stack)


def test_500_concurrent_distinct_sign_ups_are_all_accepted_and_all_become_contacts(burst_of_500: Burst) -> None:
    assert [a for a in burst_of_500.answers if a.status != 202] == []
    contacts = _contacts_by_email(burst_of_500.stack)
    assert [e for e in burst_of_500.emails if len(contacts.get(e, [])) != 1] == []
    _no_traceback_since(burst_of_500.stack, 0)


def test_memory_stays_bounded_under_a_burst(burst_of_500: Burst) -> None:
    assert burst_of_500.peak_rss_mb < 1024  # it was 17 GB when every request had a thread and moto copied tables


def test_ctrl_c_after_a_burst_stops_the_stack_and_hangs_on_nothing(burst_of_500: Burst) -> None:
    # A hang check, not a timing: it takes 1-2 s on a quiet machine (bench/local_signups.py), and the
    # generous limit keeps a loaded machine from failing it.
    assert get(f"{burst_of_500.stack.api}/v1/health")[0] == 200
    assert stop_stack(burst_of_500.stack, timeout=30) == 0
