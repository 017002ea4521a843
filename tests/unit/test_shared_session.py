"""One botocore session per process: every pynamodb model, transaction and client shares it (a cold start
loads botocore's data once, not once per model)."""

from __future__ import annotations

import pytest

from chalicelib import wiring
from chalicelib.store.models import ALL_MODELS, CONNECTION
from chalicelib.store.profiles import ProcessedEventModel


def test_every_model_uses_the_one_connection() -> None:
    for model in (*ALL_MODELS, ProcessedEventModel):
        table = model._get_connection()
        assert table.connection is CONNECTION, model.__name__
        assert CONNECTION.get_meta_table(model.Meta.table_name).table_name == model.Meta.table_name


def test_transactions_and_clients_are_built_on_the_same_session() -> None:
    wiring.reset()
    assert wiring.contacts().connection is CONNECTION
    assert wiring.session() is CONNECTION.session
    wiring.reset()
    assert wiring.session() is CONNECTION.session  # a new container gets a new one, shared again


def test_clients_are_built_on_first_use_only() -> None:
    wiring.reset()
    built: list[str] = []
    create = wiring.session().create_client
    wiring.session().create_client = lambda service, **kw: built.append(service) or create(service, **kw)
    sqs = wiring.client("sqs")
    wiring.outbound()
    assert built == []
    assert sqs.meta.service_model.service_name == "sqs"
    assert built == ["sqs"]
    wiring.reset()


def test_a_client_reads_its_own_service_data_not_a_listing_of_every_service(monkeypatch) -> None:
    import os

    import botocore.exceptions

    from chalicelib.delivery.clients import new_session

    listed: list[str] = []
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": listed.append(str(path)) or listdir(path))
    client = new_session().create_client("dynamodb", region_name="eu-west-1")
    assert client.meta.service_model.service_name == "dynamodb"
    assert 0 < len(listed) <= 4, listed  # the service's own directory per data type, not ~900 directories
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        new_session().create_client("no-such-service", region_name="eu-west-1")
