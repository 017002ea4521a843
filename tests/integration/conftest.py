"""Integration tests run on moto: each test gets a fresh account with the stack of infra/template.yaml."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib import wiring
from cli import provision


@pytest.fixture
def aws() -> Iterator[provision.Stack]:
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

    with Client(app, stage_name="test") as client:
        yield client
