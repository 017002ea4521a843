"""Integration tests run on moto: each test gets a fresh account with the stack of infra/template.yaml, and an
app whose every service reads the test's own clock (never the wall clock)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import cache

import boto3
import pytest
from moto import mock_aws

from chalicelib import wiring
from chalicelib.clock import FixedClock
from cli import provision
from tests.integration.helpers import NOW


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FixedClock:
    """The clock every service the app builds reads; a test moves it with `clock.at = ...` or `advance()`."""
    fixed = FixedClock(NOW)
    monkeypatch.setattr(wiring, "clock", cache(lambda: fixed))
    return fixed


@pytest.fixture
def aws(clock: FixedClock) -> Iterator[provision.Stack]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns about the resource types its CloudFormation skips
        with mock_aws():
            wiring.reset()
            stack = provision.deploy(boto3.session.Session(), "test", "eu-west-1")
            yield stack
            wiring.reset()


@pytest.fixture
def api(aws: provision.Stack) -> Iterator[object]:
    from chalice.test import Client

    from app import app
    from cli.gateway import answer_like_the_deployed_gateway

    answer_like_the_deployed_gateway()  # as the deployed REST API's gateway responses answer
    with Client(app, stage_name="test") as client:
        yield client
