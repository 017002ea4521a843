"""Publishes ad audience joins and leaves to the stage's `audiences` SNS topic (one JSON message each)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.errors import classify_client_error, classify_exception


class AudiencePublisher:
    """One `Publish` per membership change. Any failure is raised sorted (chalicelib.delivery.errors); the
    caller keeps the change and publishes it again later, so a subscriber may see a message twice (its `id`
    is the same each time)."""

    def __init__(self, client: Any, topic_name: str, topic_arn: str | None = None) -> None:
        self._client = client
        self._name = topic_name
        self._arn = topic_arn

    def publish(self, message: Mapping[str, object]) -> str:
        """Publishes `message`; returns the SNS message id."""
        attributes = {
            key: {"DataType": "String", "StringValue": str(message[key])} for key in ("audience", "action")
        }
        try:
            answer = self._call(lambda arn: self._client.publish(
                TopicArn=arn, Message=json.dumps(message, separators=(",", ":")), MessageAttributes=attributes,
            ))
        except ClientError as exc:
            raise classify_client_error(exc) from exc
        except BotoCoreError as exc:
            raise classify_exception(exc) from exc
        return str(answer["MessageId"])

    def _call(self, publish: Callable[[str], Any]) -> Any:
        if self._arn is None:
            # CreateTopic of an existing name only answers its ARN (the policy allows it on this topic only).
            self._arn = str(self._client.create_topic(Name=self._name)["TopicArn"])
        return publish(self._arn)
