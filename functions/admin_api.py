"""Admin routes: find a contact and read their card, data-subject requests (export, erase), chain stats."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.roles import POINT_MANAGER, SERVICE_MANAGER
from functions.auth import bearer_key
from functions.http import Principal, json_response, require

blueprint = Blueprint(__name__)


def _point(principal: Principal) -> str | None:
    """The point a caller is limited to; None for a service manager. A point manager without a point sees
    nothing (no contact has the empty point)."""
    return (principal.point_id or "") if principal.role == POINT_MANAGER else None


@blueprint.route("/v1/admin/contacts", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def find_contacts(principal: Principal) -> Any:
    from chalicelib.services.contact_search import search

    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    return json_response(search(wiring.contacts(), query, _point(principal)))


@blueprint.route("/v1/admin/contacts/{contact_id}", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def contact_card(contact_id: str, principal: Principal) -> Any:
    # The card a support agent reads is everything held: profile, consents with their proof, every touch with
    # its decision and reason, the chains. The same view as the data-subject export.
    return json_response(wiring.erasure().export(contact_id, _point(principal)))


@blueprint.route("/v1/admin/contacts/{contact_id}/export", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def export_contact(contact_id: str, principal: Principal) -> Any:
    return json_response(wiring.erasure().export(contact_id, _point(principal)))


@blueprint.route("/v1/admin/contacts/{contact_id}", methods=["DELETE"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def erase_contact(contact_id: str, principal: Principal) -> Any:
    return json_response(wiring.erasure().erase(contact_id, _point(principal), principal.key_id))


@blueprint.route("/v1/admin/stats", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def stats(principal: Principal) -> Any:
    from chalicelib.services.stats import report

    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    return json_response(report(wiring.stats(), query, wiring.clock().now().date()))
