"""GET /v1/openapi.json: valid OpenAPI 3.1, one entry per route the app serves, and request schemas that the
validators agree with (schema-valid bodies accepted, broken ones refused with 400 naming the field)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app import app
from tests.integration import hostile
from tests.integration.hostile import CONTACT, Stage

# Per operation, derandomized: the same cases on every run.
AGREEMENT = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))
SIGNUP = {"email": "anna@example.com", "consents": [{"channel": "email", "purpose": "marketing",
                                                     "text_id": "marketing-email-v1"}],
          "data_processing": {"text_id": "personal-data-v1"}}
EVENT = {"type": "site_visit", "id": "v-1", "contact": {"contact_id": CONTACT},
         "occurred_at": "2026-11-25T10:00:00+03:00"}
ORDER = {**EVENT, "type": "order_placed", "properties": {"amount": 10}}
WRONG_TYPES: list[Any] = [12345, "x", [], {}, True, None]
# JSON Schema cannot say which numbers a numbering plan assigns: generated phones are swapped for real ones.
REAL_PHONE = "+79161234567"


@pytest.fixture
def stage(api: Any) -> Iterator[tuple[Any, Stage, dict[str, Any]]]:
    with hostile.quiet_logs():
        seeded = Stage.seed()
        yield api, seeded, _document(api)


def _document(api: Any) -> dict[str, Any]:
    response = api.http.get("/v1/openapi.json")
    assert response.status_code == 200
    return json.loads(response.body)


def _body_schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Checks values against a schema of the document, its `$ref`s resolved within the document."""
    registry = Registry().with_resource("urn:api", Resource.from_contents(document, DRAFT202012))
    anchored = json.loads(json.dumps(schema).replace('"$ref": "#/', '"$ref": "urn:api#/'))
    return Draft202012Validator(anchored, registry=registry)


def _post(api: Any, path: str, body: Any, key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    response = api.http.post(path, headers=headers, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


# -- the document -----------------------------------------------------------------------------------------


def test_the_document_is_public_cacheable_and_valid_openapi_3_1(api: Any) -> None:
    response = api.http.get("/v1/openapi.json")  # no key
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"].startswith("public")
    document = json.loads(response.body)
    OpenAPIV31SpecValidator(document).validate()
    assert document["openapi"].startswith("3.1")


def test_every_route_the_app_serves_has_an_entry_and_every_entry_is_a_route(api: Any) -> None:
    served = {(method.upper(), path) for path, methods in app.routes.items() for method in methods}
    documented = {(method.upper(), path) for path, operations in _document(api)["paths"].items()
                  for method in operations}
    assert served - documented == set(), "add an Operation to chalicelib.openapi.OPERATIONS for each"
    assert documented - served == set(), "chalicelib.openapi.OPERATIONS names routes the app does not serve"


def test_guarded_routes_say_their_roles_and_the_bearer_key_and_public_ones_need_none(api: Any) -> None:
    document = _document(api)
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            operation = document["paths"][path][method.lower()]
            if entry.authorizer is None:
                assert "security" not in operation, (method, path)
                continue
            assert operation["security"] == [{"bearerKey": []}], (method, path)
            assert operation["x-roles"] == list(entry.view_function.required_roles), (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_every_error_answer_is_the_contracts_error_shape(api: Any) -> None:
    document = _document(api)
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message", "field"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and "application/json" in response.get("content", {}):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_the_document_is_built_on_its_first_request_not_when_the_lambda_loads() -> None:
    loaded = subprocess.run([sys.executable, "-c", "import sys, app; print('chalicelib.openapi' in sys.modules)"],
                            capture_output=True, text=True, check=True, env={"TOUCHPLAN_STAGE": "test",
                                                                           "AWS_DEFAULT_REGION": "eu-west-1"})
    assert loaded.stdout.strip() == "False"


# -- the schemas and the validators agree -----------------------------------------------------------------


def _real_phones(body: Any) -> None:
    if isinstance(body, dict):
        for name, value in body.items():
            if name == "phone" and isinstance(value, str):
                body[name] = REAL_PHONE
            else:
                _real_phones(value)
    elif isinstance(body, list):
        for item in body:
            _real_phones(item)


@pytest.mark.parametrize("path", ["/v1/subscriptions", "/v1/events"])
def test_bodies_the_document_calls_valid_are_accepted(stage: tuple[Any, Stage, dict[str, Any]], path: str) -> None:
    api, seeded, _ = stage
    wsgi = hostile.wsgi(api)
    operation = schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi)[path]["POST"]
    key = {"Authorization": f"Bearer {seeded.ingest_key}"} if path == "/v1/events" else {}
    seen: list[int] = []

    @AGREEMENT
    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE))
    def accepted(case: Any) -> None:
        _real_phones(case.body)
        response = case.call(app=wsgi, headers=key)
        seen.append(response.status_code)
        assert response.status_code == 202, (case.body, response.content[:300])

    accepted()
    assert len(seen) >= 20


def _refusals(document: dict[str, Any], schema: dict[str, Any], target: dict[str, Any], valid: dict[str, Any],
              skip: frozenset[str] = frozenset()) -> Iterator[tuple[dict[str, Any], str]]:
    """(body, field): `valid` with a required field of `target` dropped, one of its fields of a wrong type, or
    an unknown field; only those the document itself (`schema`) calls invalid."""
    check = _validator(document, schema)
    assert check.is_valid(valid), list(check.iter_errors(valid))
    cases = [({k: v for k, v in valid.items() if k != name}, name) for name in target.get("required", ())]
    for name in target.get("properties", {}):
        if name not in skip:
            cases.append(({**valid, name: next(v for v in WRONG_TYPES if not check.is_valid({**valid, name: v}))},
                          name))
    cases.append(({**valid, "zz_unknown": 1}, "zz_unknown"))
    return ((body, name) for body, name in cases if not check.is_valid(body))


def _names(field: str | None, name: str) -> bool:
    return field is not None and (field == name or field.startswith((f"{name}.", f"{name}[")))


def test_signups_the_document_calls_invalid_get_400_naming_the_field(
        stage: tuple[Any, Stage, dict[str, Any]]) -> None:
    api, _, document = stage
    schema = _body_schema(document, "POST", "/v1/subscriptions")
    # The honeypot answers a bot as it answers a person: 202, whatever it holds.
    cases = list(_refusals(document, schema, schema, SIGNUP, skip=frozenset({"website"})))
    assert len(cases) > 10
    for body, name in cases:
        status, answer = _post(api, "/v1/subscriptions", body)
        assert status == 400 and _names(answer["field"], name), (body, answer)


def test_events_the_document_calls_invalid_get_400_naming_the_field(
        stage: tuple[Any, Stage, dict[str, Any]]) -> None:
    api, seeded, document = stage
    variants = {v["title"]: v for v in document["components"]["schemas"]["Event"]["oneOf"]}
    cases = list(_refusals(document, {"$ref": "#/components/schemas/Event"}, variants["site_visit"], EVENT))
    properties = copy.deepcopy(variants["order_placed"]["properties"]["properties"])
    cases += [({**ORDER, "properties": body}, f"properties.{name}")
              for body, name in _refusals(document, properties, properties, ORDER["properties"])]
    assert any(name == "properties.amount" for _, name in cases)
    for body, name in cases:
        status, answer = _post(api, "/v1/events", body, seeded.ingest_key)
        assert status == 400 and _names(answer["field"], name), (body, answer)


def test_a_number_off_the_numbering_plan_is_refused_naming_the_phone(
        stage: tuple[Any, Stage, dict[str, Any]]) -> None:
    api, _, _ = stage
    body = {**SIGNUP, "phone": "+1000000"}  # what the document's pattern allows and no plan assigns
    status, answer = _post(api, "/v1/subscriptions", body)
    assert status == 400 and answer["field"] == "phone"
