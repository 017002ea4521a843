"""The edge's limits on plain values (no AWS): what is refused names its path; what passes can be stored."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError as BotoClientError
from botocore.exceptions import EndpointConnectionError, ParamValidationError, ReadTimeoutError
from pynamodb.exceptions import PutError, TransactWriteError

from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.store.contacts import Contention
from chalicelib.store.errors import cancellation_codes, is_busy


def _refusal(call, *args) -> ClientError:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(("raw", "code"), [
    (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
    (b"[" * 33 + b"]" * 33, "too_deep"),
    (b"{nope", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    (b"1" * 5000, "invalid_json"),  # beyond Python's int digits limit
    (b"x" * (limits.PUBLIC_BODY + 1), "body_too_large"),
])
def test_bodies_that_cannot_be_read_are_refused_whole(raw: bytes, code: str) -> None:
    assert _refusal(limits.read_json, raw, limits.PUBLIC_BODY).code == code


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"a": Infinity}', "a"), (b'{"a": [1, NaN]}', "a[1]"), (b'{"a": 1e999}', "a"), (b'{"a": -1e16}', "a"),
    (b'{"a": 1e-200}', "a"), (b'{"a": "x\\u0000"}', "a"), (b'{"a": {"b": "\\ud800"}}', "a.b"),
    (b'{"a\\u0000": 1}', None), (b'{"": 1}', None),
])
def test_values_nothing_downstream_can_take_are_refused_by_path(raw: bytes, field: str | None) -> None:
    assert _refusal(limits.read_json, raw, limits.PUBLIC_BODY).field == field


def test_a_body_within_the_limits_reads_as_json() -> None:
    body = b'{"a": [1, 2.5, -0.0, 1e15, null, true, "\\u00e9\\ud83d\\ude42"], "b": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert limits.read_json(body, limits.PUBLIC_BODY)["a"][-1] == "é🙂"
    assert limits.read_json(b"  ", limits.PUBLIC_BODY) is None


def test_members_are_held_to_their_own_depth() -> None:
    eight = {"a": {"a": {"a": {"a": {"a": {"a": {"a": 1}}}}}}}  # 7 levels inside the member, 8 with it
    limits.check_members({"answers": {"q": eight}}, "properties", limits.Shape(depth=8))
    refusal = _refusal(limits.check_members, {"answers": {"q": {"deeper": eight}}}, "properties",
                       limits.Shape(depth=8))
    assert refusal.code == "too_deep" and refusal.field.startswith("properties.answers.q.deeper")


@pytest.mark.parametrize("value", ["2026-11-25T10:00:00+03:00", "1900-01-01T00:00:00Z", "8999-12-31T23:59:59Z",
                                   "2026-11-25T10:00:00.5-09:30"])
def test_instants_inside_the_calendar_pass(value: str) -> None:
    assert limits.instant(value, "at").tzinfo is not None


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:59:59Z",
                                   "9000-01-01T00:00:00Z", "2026-11-25T10:00:00", "2026-11-25\x0010:00:00+03:00",
                                   "2026-13-01T00:00:00Z", "x" * 100, 17, None])
def test_instants_outside_the_calendar_or_without_an_offset_are_refused(value: object) -> None:
    assert _refusal(limits.instant, value, "occurred_at").field == "occurred_at"


def _timeout() -> TransactWriteError:
    return TransactWriteError("failed", ReadTimeoutError(endpoint_url="http://dynamodb"))


@pytest.mark.parametrize(("error", "busy"), [
    (_timeout(), True),
    (TransactWriteError("failed", BotoClientError({"Error": {"Code": "TransactionCanceledException"},
                                                   "CancellationReasons": [{"Code": "TransactionConflict"}]},
                                                  "TransactWriteItems")), True),
    (PutError("failed", BotoClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")),
     True),
    (EndpointConnectionError(endpoint_url="http://dynamodb"), True),
    (Contention("kept conflicting"), True),
    (PutError("failed", BotoClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")), False),
    (PutError("failed", BotoClientError({"Error": {"Code": "ValidationException"}}, "PutItem")), False),
    (ParamValidationError(report="bad"), False),
    (ValueError("a bug"), False),
])
def test_busy_errors_are_told_from_the_others(error: Exception, busy: bool) -> None:
    assert is_busy(error) is busy


def test_a_timed_out_transaction_has_no_cancellation_codes() -> None:
    assert cancellation_codes(_timeout()) == []  # pynamodb's own property raises AttributeError here
