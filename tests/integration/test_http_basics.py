"""Health, the authorizer, and the rule that every non-public route is guarded."""

import json

from app import app
from chalicelib.store.keys import ApiKeyRepository

PUBLIC_ROUTES = {"/v1/health", "/v1/openapi.json", "/v1/subscriptions", "/v1/confirm", "/v1/preferences",
                 "/v1/unsubscribe"}
CONSOLE_SIGN_IN = {"/console", "/console/sign-in"}  # every other console page needs a session (functions.console)


def test_health_says_version_and_stage(api) -> None:
    response = api.http.get("/v1/health")
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "version": "0.1.0", "stage": "test"}


def test_every_non_public_route_has_the_authorizer_and_a_role_check() -> None:
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            if path in PUBLIC_ROUTES:
                assert entry.authorizer is None, (method, path)
                continue
            if path.startswith("/console"):
                assert entry.authorizer is None, (method, path)
                assert path in CONSOLE_SIGN_IN or getattr(entry.view_function, "session_roles", None), (method, path)
                continue
            assert entry.authorizer is not None and entry.authorizer.name == "bearer_key", (method, path)
            assert getattr(entry.view_function, "required_roles", None), (method, path)


def test_the_authorizer_identifies_a_stored_key_and_not_a_made_up_one(aws, clock) -> None:
    from chalice.app import AuthRequest

    from functions.auth import bearer_key

    _, key = ApiKeyRepository().create("point-manager", "msk-01", None, clock.now())
    granted = bearer_key.func(AuthRequest("TOKEN", f"Bearer {key}", "arn:aws:execute-api:eu-west-1:1:a/api/GET/x"))
    assert granted.context["role"] == "point-manager" and granted.context["point_id"] == "msk-01"
    arn = "arn:aws:execute-api:eu-west-1:1:a/api/GET/x"
    forged = bearer_key.func(AuthRequest("TOKEN", f"Bearer {key[:-2]}xx", arn))
    assert forged.context["role"] == "anonymous"


def test_keys_are_stored_hashed(aws, clock) -> None:
    _, key = ApiKeyRepository().create("ingest", None, "shop", clock.now())
    rows = aws.client("dynamodb").scan(TableName="test-api-keys")["Items"]
    assert key not in json.dumps(rows)
