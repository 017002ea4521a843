"""Helpers the integration tests and the benches share: the tick's output, counting provider calls, and an
outbound whose templates all fail to render."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib import wiring
from chalicelib.delivery.errors import TemplateRenderError
from chalicelib.delivery.templates import TemplateRenderer
from chalicelib.services.outbound import Outbound
from chalicelib.services.tick import BUDGET, DueWork, tick

# The integration tests' `clock` starts here: a Wednesday, 10:00 in Moscow, inside every channel's allowed hours.
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


class CapturedSteps:
    """A steps queue that keeps what the tick hands it instead of sending it to SQS."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send_many(self, queue: str, bodies: Any) -> int:
        found = list(bodies)
        self.messages.extend(found)
        return len(found)


def due_messages(now: datetime, work: DueWork | None = None, shards: int | None = None,
                 budget: int = BUDGET) -> list[dict[str, Any]]:
    """The step messages the tick claims at `now`, by contact id."""
    work = work or wiring.enrollments()
    captured = CapturedSteps()
    tick(work, captured, shards or wiring.enrollments().shards, now, budget=budget)
    return sorted(captured.messages, key=lambda m: (m["contact_id"], m["chain_id"]))


class ProviderCalls:
    """Counts the provider calls boto3 clients make (sent or refused), by operation."""

    def __init__(self, *clients: Any) -> None:
        self.calls: list[str] = []
        for client in clients:
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    def sends(self) -> int:
        return self.count("SendEmail") + self.count("Publish")


RENDER_ERROR = "html: UndefinedError: 'dict object' has no attribute 'first_name'"


class FailingRenderer(TemplateRenderer):
    """Every template fails, as `welcome-thanks` did for a sign-up without a first name."""

    def render(self, template_source_by_field: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
        field, _, message = RENDER_ERROR.partition(": ")
        raise TemplateRenderError(field, message)

    def render_field(self, field: str, source: str, context: Mapping[str, Any]) -> str:
        raise TemplateRenderError(field, RENDER_ERROR.partition(": ")[2])


def failing_outbound(outbound: Outbound) -> Outbound:
    return dataclasses.replace(outbound, renderer=FailingRenderer())
