"""Push tokens: a `push_token_registered` event creates or refreshes the contact's SNS platform endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.clock import Clock
from chalicelib.delivery.push import PushSender
from chalicelib.observability import logger
from chalicelib.store.feedback import FeedbackRecords


@dataclass
class PushTokens:
    sender: PushSender
    records: FeedbackRecords
    platform_application_arn: str | None
    clock: Clock

    def register_push_token(self, contact_id: str, platform: str, token: str) -> str | None:
        """The contact's endpoint ARN after registering `token` (safe to repeat: the endpoint is reused and
        brought up to date); None when the contact is unknown or erased, or push is not set up for the stage
        (no TOUCHPLAN_PUSH_PLATFORM_APPLICATION_ARN: the token is dropped, as retrying would not help).
        `platform` (ios, android) is informational: one platform application serves the stage."""
        if self.platform_application_arn is None:
            logger.warning("push token dropped: no platform application", contact_id=contact_id, platform=platform)
            return None
        known = self.records.push_endpoint(contact_id)
        arn = self.sender.register_endpoint(self.platform_application_arn, token, contact_id, existing_arn=known)
        if arn != known and not self.records.set_push_endpoint(contact_id, arn, self.clock.now()):
            return None
        return arn
