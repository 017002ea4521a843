"""Mobile push through SNS platform endpoints (FCM and APNs)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.errors import classify_client_error, classify_exception

_NOT_FOUND = frozenset({"NotFound", "NotFoundException"})


def push_message(title: str, body: str, data: Mapping[str, object] | None = None) -> str:
    """The ``MessageStructure=json`` body: FCM v1 for Android, an ``aps`` alert for APNs."""
    # FCM data values must be strings.
    fcm_data = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (data or {}).items()}
    fcm = {"fcmV1Message": {"message": {"notification": {"title": title, "body": body}, "data": fcm_data}}}
    apns = {"aps": {"alert": {"title": title, "body": body}}, **{str(k): v for k, v in (data or {}).items()}}
    apns_json = json.dumps(apns, ensure_ascii=False)
    return json.dumps(
        {
            "default": body,
            "GCM": json.dumps(fcm, ensure_ascii=False),
            "APNS": apns_json,
            "APNS_SANDBOX": apns_json,
        },
        ensure_ascii=False,
    )


def _enabled(value: object) -> bool:
    return str(value).lower() == "true"


class PushSender:
    """Registers device tokens as SNS platform endpoints and publishes one notification per call."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def register_endpoint(
        self,
        platform_application_arn: str,
        token: str,
        contact_id: str,
        existing_arn: str | None = None,
    ) -> str:
        """Create the endpoint, or bring a known one up to date (token, enabled); returns its ARN.

        Follows the SNS token-management recipe: reuse ``existing_arn`` unless SNS no longer knows it,
        then make sure the endpoint holds the latest token and is enabled. Safe to repeat.
        """
        arn = existing_arn
        attributes: dict[str, str] | None = None
        if arn is not None:
            attributes = self._attributes(arn)
        if arn is None or attributes is None:
            created = self._call(
                "create_platform_endpoint",
                PlatformApplicationArn=platform_application_arn,
                Token=token,
                CustomUserData=contact_id,
            )
            arn = str(created["EndpointArn"])
            attributes = self._attributes(arn) or {}
        if attributes.get("Token") != token or not _enabled(attributes.get("Enabled", "true")):
            self._call(
                "set_endpoint_attributes",
                EndpointArn=arn,
                Attributes={"Token": token, "Enabled": "true", "CustomUserData": contact_id},
            )
        return arn

    def publish(self, endpoint_arn: str, title: str, body: str, data: Mapping[str, object] | None = None) -> str:
        response = self._call(
            "publish",
            TargetArn=endpoint_arn,
            MessageStructure="json",
            Message=push_message(title, body, data),
        )
        return str(response["MessageId"])

    def _attributes(self, arn: str) -> dict[str, str] | None:
        try:
            response = self._client.get_endpoint_attributes(EndpointArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return None
            raise classify_client_error(exc) from exc
        except BotoCoreError as exc:
            raise classify_exception(exc) from exc
        return {str(k): str(v) for k, v in response.get("Attributes", {}).items()}

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self._client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise classify_exception(exc) from exc
