"""The local gateway (`chalice local`'s, which the local stack and the test client run) answers what API Gateway
answers itself as the deployed REST API does with its gateway responses (chalicelib.gateway_errors): in
the contract's error shape, not chalice's copy of API Gateway's defaults (`{"message": "Unauthorized"}`, a 403
`Missing Authentication Token` that echoes the Authorization header back, a 405 from the app itself, which
API Gateway never lets reach a function).
"""

from __future__ import annotations

from typing import Any


def answer_like_the_deployed_gateway() -> None:
    from chalice import local

    from chalicelib.gateway_errors import GATEWAY_ERRORS, gateway_error_body

    if getattr(local.LocalGateway.handle_request, "contract_errors", False):
        return
    handle = local.LocalGateway.handle_request

    class GatewayError(local.LocalGatewayException):
        def __init__(self, kind: str, request_id: str) -> None:
            super().__init__({"Content-Type": "application/json", "x-amzn-RequestId": request_id},
                             gateway_error_body(kind).encode())
            self.CODE = GATEWAY_ERRORS[kind][0]

    def handle_request(gateway: Any, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            response = handle(gateway, method, path, headers, body)
        except local.NotAuthorizedError as exc:
            raise GatewayError("UNAUTHORIZED", exc.headers.get("x-amzn-RequestId", "")) from None
        except local.ForbiddenError as exc:
            if b"Missing Authentication Token" not in (exc.body or b"") and b"Authorization=" not in (exc.body or b""):
                raise  # the authorizer's own deny: the deployed gateway answers it as is
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", exc.headers.get("x-amzn-RequestId", "")) from None
        if response.get("statusCode") == 405:  # deployed, a method no route has never reaches the function
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "")
        return response

    handle_request.contract_errors = True  # type: ignore[attr-defined]
    local.LocalGateway.handle_request = handle_request  # type: ignore[method-assign, assignment]
