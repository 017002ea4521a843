"""TOUCHPLAN_STORE picks the store every service is built on; the default stays pynamodb."""

from __future__ import annotations

import pytest

from chalicelib import wiring
from chalicelib.settings import from_environ
from chalicelib.store.contacts import ContactRepository
from chalicelib.store.memory import MemoryContacts, MemoryEnrollments
from tests.integration.store.conftest import use_memory_store


def test_the_store_setting_defaults_to_dynamodb_and_refuses_anything_else() -> None:
    assert from_environ({}).store == "dynamodb"
    assert from_environ({"TOUCHPLAN_STORE": " Memory "}).store == "memory"
    with pytest.raises(ValueError, match="TOUCHPLAN_STORE must be one of dynamodb, memory"):
        from_environ({"TOUCHPLAN_STORE": "sqlite"})


def test_the_memory_store_is_one_database_under_every_service(aws: object, monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(wiring.contacts()) is ContactRepository
    use_memory_store(monkeypatch)
    assert isinstance(wiring.contacts(), MemoryContacts) and isinstance(wiring.enrollments(), MemoryEnrollments)
    database = wiring.memory_store().db
    assert wiring.step_worker().enrollments is wiring.enrollments()
    assert wiring.event_worker().profiles is wiring.profiles() and wiring.profiles()._db is database
