"""Website-facing routes: health, subscribe, confirm, preferences, unsubscribe."""

from chalice import Blueprint

from chalicelib.settings import get_settings
from functions.http import json_response

blueprint = Blueprint(__name__)


@blueprint.route("/v1/health", methods=["GET"])
def health() -> object:
    settings = get_settings()
    return json_response({"status": "ok", "version": settings.version, "stage": settings.stage})
