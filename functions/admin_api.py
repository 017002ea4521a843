"""Admin routes: find a contact and read their card, data-subject requests (export, erase), chain stats,
occasions (service managers edit them), manual touches and the occasion checklist of a point, the product
catalogue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.roles import POINT_MANAGER, SERVICE_MANAGER
from chalicelib.services import limits
from chalicelib.services.errors import ClientError
from chalicelib.web import forms
from functions.auth import bearer_key
from functions.http import Principal, json_body, json_response, require

blueprint = Blueprint(__name__)
OCCASION_BODY = 256 * limits.KB  # an occasion with every template in every locale


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


@blueprint.route("/v1/admin/occasions", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def list_occasions(principal: Principal) -> Any:
    return json_response(wiring.occasions().list())


@blueprint.route("/v1/admin/occasions/{occasion_id}", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def get_occasion(occasion_id: str, principal: Principal) -> Any:
    return json_response(wiring.occasions().get(occasion_id))


@blueprint.route("/v1/admin/occasions/{occasion_id}", methods=["PUT"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def edit_occasion(occasion_id: str, principal: Principal) -> Any:
    body = json_body(blueprint.current_request, OCCASION_BODY)
    return json_response(wiring.occasions().put(occasion_id, body, principal.name))


@blueprint.route("/v1/admin/occasions/{occasion_id}/checklist", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def occasion_checklist(occasion_id: str, principal: Principal) -> Any:
    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    return json_response(wiring.checklist().page(occasion_id, query, _point(principal)))


@blueprint.route("/v1/admin/contacts/{contact_id}/touches", methods=["POST"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER, POINT_MANAGER)
def mark_touch(contact_id: str, principal: Principal) -> Any:
    body = json_body(blueprint.current_request, limits.PUBLIC_BODY)
    status, answer = wiring.manual_touches().mark(contact_id, body, _point(principal), principal.name)
    return json_response(answer, status)


# Any type reaches the view, which answers 415 in the contract's shape (Chalice's own 415 has another body).
@blueprint.route("/v1/admin/catalog", methods=["PUT"], authorizer=bearer_key, content_types=["*/*"])
@require(blueprint, SERVICE_MANAGER)
def upload_catalog(principal: Principal) -> Any:
    from chalicelib.services.catalog import CSV_TYPES

    request = blueprint.current_request
    media_type = forms.media_type(request.headers.get("content-type"))
    if media_type != forms.JSON and media_type not in CSV_TYPES:
        raise ClientError("unsupported_media_type", "Send the catalogue as application/json or text/csv.", None,
                          status=415)
    return json_response(wiring.catalog_uploads().put(request.raw_body, media_type, request.query_params or {}))


@blueprint.route("/v1/admin/audiences/{name}/export", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def export_audience(name: str, principal: Principal) -> Any:
    # Service managers only: the audiences feed the company's ad accounts, which no point manager runs.
    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    page = wiring.audiences().export(name, query, wiring.clock().now())
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{page.audience}.csv"',
    }
    if page.next_cursor:
        headers["X-Next-Cursor"] = page.next_cursor
    return Response(body=page.csv, status_code=200, headers=headers)


@blueprint.route("/v1/admin/campaigns", methods=["POST"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def create_campaign(principal: Principal) -> Any:
    body = json_body(blueprint.current_request, limits.PUBLIC_BODY)
    return json_response(wiring.campaigns().create(body, principal.name), 201)


@blueprint.route("/v1/admin/campaigns", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def list_campaigns(principal: Principal) -> Any:
    query: Mapping[str, str] = blueprint.current_request.query_params or {}
    return json_response(wiring.campaigns().listing(query))


@blueprint.route("/v1/admin/campaigns/{campaign_id}", methods=["GET"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def get_campaign(campaign_id: str, principal: Principal) -> Any:
    return json_response(wiring.campaigns().get(campaign_id))


@blueprint.route("/v1/admin/campaigns/{campaign_id}/cancel", methods=["POST"], authorizer=bearer_key)
@require(blueprint, SERVICE_MANAGER)
def cancel_campaign(campaign_id: str, principal: Principal) -> Any:
    return json_response(wiring.campaigns().cancel(campaign_id, principal.name))
