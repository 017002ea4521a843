"""The collector pause across a Lambda's cold start: only inside Lambda, and over at the first invocation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import replace

import pytest

from chalicelib import runtime
from chalicelib.settings import from_environ


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(runtime._paused, "collector", False)
    yield
    gc.unfreeze()
    gc.enable()


def test_inside_lambda_the_collector_waits_for_the_first_invocation_to_return(collector, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "get_settings", lambda: replace(from_environ({}), in_lambda=True))
    runtime.pause_collection_for_cold_start()
    assert not gc.isenabled()
    runtime.resume_collection()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # what the cold start built is out of later collections
    gc.disable()
    runtime.resume_collection()  # later invocations leave the collector alone
    assert not gc.isenabled()


def test_outside_lambda_nothing_changes(collector, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "get_settings", lambda: from_environ({}))
    runtime.pause_collection_for_cold_start()
    assert gc.isenabled()
    runtime.resume_collection()
    assert gc.get_freeze_count() == 0


def test_lambda_is_known_by_the_variable_it_sets() -> None:
    assert from_environ({"AWS_LAMBDA_FUNCTION_NAME": "touchplan-dev-on_step"}).in_lambda
    assert not from_environ({}).in_lambda
