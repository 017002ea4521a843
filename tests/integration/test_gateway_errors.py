"""What API Gateway answers before any function runs (no Authorization header, no such route or method) comes in
the contract's error shape, locally as the deployed REST API's gateway responses answer it."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.usefixtures("aws")


def _error(response) -> dict:
    body = json.loads(response.body)
    assert set(body) == {"error", "message", "field"} and body["field"] is None
    assert response.headers["Content-Type"] == "application/json"
    return body


def test_an_admin_request_without_an_authorization_header_is_401_in_the_contract_shape(api) -> None:
    response = api.http.get("/v1/admin/occasions")
    assert response.status_code == 401 and _error(response)["error"] == "unauthorized"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("GET", "/v1/admin/nothing/here"),
                                              ("DELETE", "/v1/subscriptions")])
def test_an_unknown_route_or_method_is_404_in_the_contract_shape(api, method, path) -> None:
    response = api.http.request(method, path)
    assert response.status_code == 404 and _error(response)["error"] == "not_found"


def test_an_unknown_route_never_echoes_the_authorization_header(api) -> None:
    response = api.http.get("/nope", headers={"Authorization": "Bearer tp_secret-key"})
    assert response.status_code == 404 and b"tp_secret-key" not in response.body
