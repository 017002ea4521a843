"""Fixtures for end-to-end tests over HTTP against the local stack."""

from collections.abc import Iterator

import pytest

from tests.e2e.stack import RunningStack, start_stack, stop_stack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[RunningStack]:
    stack = start_stack()
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stop_stack(stack)
