"""The built-in authorizer for Bearer keys (runs under API Gateway, `chalice local` and the test client).

It identifies the caller and never denies: a missing or bad key reaches the handler as role `anonymous`
and `functions.http.require` answers with the contract's JSON 401/403, which a gateway deny cannot.
"""

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib import wiring

blueprint = Blueprint(__name__)

ANONYMOUS = {"role": "anonymous", "point_id": "", "key_id": "", "key_name": ""}


@blueprint.authorizer(ttl_seconds=300)
def bearer_key(auth_request: AuthRequest) -> AuthResponse:
    scheme, _, key = (auth_request.token or "").partition(" ")
    key = key.strip()
    found = wiring.api_keys().find(key) if scheme.lower() == "bearer" and key else None
    if found is None:
        return AuthResponse(routes=["*"], principal_id="anonymous", context=ANONYMOUS)
    return AuthResponse(
        routes=["*"],
        principal_id=found.key_id,
        context={"role": found.role, "point_id": found.point_id or "", "key_id": found.key_id,
                 "key_name": found.label or found.key_id},
    )
