"""A busy store (timeouts, transaction conflicts, throttling) is retried where it happens or answered 503 with
Retry-After, never 500; a sign-up that failed that way leaves nothing a retry cannot complete."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.connection.base import Connection
from pynamodb.exceptions import GetError, TransactWriteError

from chalicelib import wiring
from chalicelib.settings import get_settings
from chalicelib.store.models import ContactModel
from cli.outbox import sent_mail
from functions.queues import STEPS
from tests.integration import hostile
from tests.integration.hostile import SIGNUP, Stage, dump

SIGN_UP = {**SIGNUP, "email": "busy@example.com"}


@pytest.fixture
def stage(api: Any) -> Iterator[Stage]:
    # `api` runs the app on the shared test clock, at NOW.
    yield Stage.seed()


def _timeout() -> TransactWriteError:
    return TransactWriteError("Failed to write transaction items", ReadTimeoutError(endpoint_url="http://dynamodb"))


def _conflict() -> TransactWriteError:
    cause = ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                         "CancellationReasons": [{"Code": "TransactionConflict"}]}, "TransactWriteItems")
    return TransactWriteError("Failed to write transaction items", cause)


def _failing_transactions(monkeypatch: pytest.MonkeyPatch, failures: int, error: Callable[[], Exception],
                          commit_first: bool = False) -> list[int]:
    """The next `failures` transactions raise `error` (after committing, with `commit_first`)."""
    calls = [0]
    real = Connection.transact_write_items

    def transact(self: Connection, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > failures:
            return real(self, *args, **kwargs)
        if commit_first:
            real(self, *args, **kwargs)
        raise error()

    monkeypatch.setattr(Connection, "transact_write_items", transact)
    return calls


def _sign_up(api: Any) -> Any:
    return api.http.post("/v1/subscriptions", body=dump(SIGN_UP),
                         headers={"Content-Type": hostile.JSON, "Origin": "https://www.example.com"})


def _contacts() -> list[str]:
    return [row.contact_id for row in ContactModel.scan() if row.email == "busy@example.com"]


def test_a_sign_up_whose_commit_timed_out_is_answered_once_and_mailed_once(
    api: Any, stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_transactions(monkeypatch, 1, _timeout, commit_first=True)
    assert _sign_up(api).status_code == 202
    assert len(_contacts()) == 1
    assert hostile.drain_and_work(STEPS) == []
    assert [m for m in sent_mail() if "busy@example.com" in m.to] != []


def test_a_store_that_keeps_timing_out_is_503_with_retry_after_and_the_retry_completes(
    api: Any, stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _failing_transactions(monkeypatch, 5, _timeout)
    get_settings.cache_clear()  # read again inside the call, where the test stage's CORS origins apply
    response = _sign_up(api)
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.headers["Access-Control-Allow-Origin"] == "https://www.example.com"  # the site can read it
    assert json.loads(response.body) == {"error": "busy", "field": None,
                                         "message": "The service is busy; try again in a few seconds."}
    assert calls[0] == 5 and _contacts() == []  # retried where it happened; nothing left behind

    assert _sign_up(api).status_code == 202
    assert len(_contacts()) == 1
    assert hostile.drain_and_work(STEPS) == []
    assert len([m for m in sent_mail() if "busy@example.com" in m.to]) == 1


def test_transaction_conflicts_are_retried_and_then_answered_503(
    api: Any, stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_transactions(monkeypatch, 2, _conflict)
    assert _sign_up(api).status_code == 202  # two conflicts, then through
    _failing_transactions(monkeypatch, 100, _conflict)
    assert api.http.post("/v1/subscriptions", body=dump({**SIGN_UP, "email": "other@example.com"}),
                         headers={"Content-Type": hostile.JSON}).status_code == 503


def test_a_throttled_read_on_a_page_is_503_not_500(api: Any, stage: Stage, monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(self: Connection, *args: Any, **kwargs: Any) -> Any:
        raise GetError("Failed to get item", ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem"))

    monkeypatch.setattr(Connection, "get_item", throttled)
    response = api.http.get(f"/v1/preferences?token={stage.tokens['prefs'][0]}")
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"


def test_a_throttled_queue_is_503_and_nothing_half_accepted(api: Any, stage: Stage,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "RequestThrottled", "Message": "slow down"}}, "SendMessageBatch")

    monkeypatch.setattr(wiring.queues()._sqs, "send_message_batch", throttled)
    visit = {"type": "site_visit", "id": "v-1", "contact": {"contact_id": hostile.CONTACT},
             "occurred_at": "2026-11-25T10:00:00+03:00"}
    response = api.http.post("/v1/events", body=dump(visit), headers={
        "Authorization": f"Bearer {stage.ingest_key}", "Content-Type": hostile.JSON})
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
