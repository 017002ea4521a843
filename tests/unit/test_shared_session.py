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


def test_the_cut_endpoint_data_resolves_as_botocores_own(monkeypatch, tmp_path) -> None:
    import json

    import botocore
    import botocore.session
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    from chalicelib.delivery import clients

    whole = create_loader().load_data("endpoints")
    cut = tmp_path / "endpoints.json"
    cut.write_text(json.dumps(clients.cut_endpoints(whole, botocore.__version__)))
    monkeypatch.setattr(clients, "ENDPOINTS_PATH", cut)
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    session = clients.new_session()
    resolver = session._get_internal_component("endpoint_resolver")
    assert len(resolver._endpoint_data["partitions"][0]["services"]) == len(clients.ENDPOINT_PREFIXES)
    reference = EndpointResolver(whole, uses_builtin_data=True)
    for service in (*clients.ENDPOINT_PREFIXES, "iam", "s3", "sts"):  # the last three from the whole file
        for region in ("eu-west-1", "us-east-1", "cn-north-1", "us-gov-west-1", "aws-global"):
            for fips in (False, True):
                assert resolver.construct_endpoint(service, region, use_fips_endpoint=fips) == \
                    reference.construct_endpoint(service, region, use_fips_endpoint=fips), (service, region, fips)
        assert resolver.get_available_endpoints(service) == reference.get_available_endpoints(service)
    for service in ("dynamodb", "sesv2", "sqs", "iam"):
        ours = session.create_client(service, region_name="eu-west-1")
        theirs = botocore.session.get_session().create_client(service, region_name="eu-west-1")
        assert ours.meta.endpoint_url == theirs.meta.endpoint_url
        assert ours.meta.config.signature_version == theirs.meta.config.signature_version


def test_endpoint_data_cut_from_another_botocore_is_not_used(monkeypatch, tmp_path) -> None:
    import json

    from chalicelib.delivery import clients

    cut = tmp_path / "endpoints.json"
    cut.write_text(json.dumps({"botocore": "0.0.1", "endpoints": {"partitions": []}}))
    monkeypatch.setattr(clients, "ENDPOINTS_PATH", cut)
    client = clients.new_session().create_client("dynamodb", region_name="eu-west-1")
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_a_service_model_without_documentation_describes_the_same_api() -> None:
    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    from chalicelib.delivery import clients

    loader = create_loader()
    for service in clients.SERVICES:
        model = loader.load_service_model(service, "service-2")
        ours, theirs = ServiceModel(clients.undocumented(model)), ServiceModel(model)
        assert ours.operation_names == theirs.operation_names
        for name in theirs.shape_names:
            shape = theirs.shape_for(name)
            assert ours.shape_for(name).serialization == shape.serialization
            assert list(getattr(ours.shape_for(name), "members", {})) == list(getattr(shape, "members", {}))
            assert ours.shape_for(name).documentation == ""
    # A member named "documentation" is a shape reference, not a documentation string.
    shape = {"type": "structure", "documentation": "<p>A page.</p>",
             "members": {"documentation": {"shape": "String", "documentation": "<p>Its text.</p>"}}}
    assert clients.undocumented(shape) == {"type": "structure", "members": {"documentation": {"shape": "String"}}}
