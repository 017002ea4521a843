"""Campaigns at scale on the memory store, driven by the simulator's engine (cli/simulate): the real tick and
queue handlers on a virtual clock, with its faults (every SQS batch delivered twice, at once, in two threads)
and SES feedback published to the feedback topic as SES would."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib import wiring
from chalicelib.clock import FixedClock
from chalicelib.store.contacts import ImportedContact
from cli.simulate.engine import (
    Engine,
    Message,
    Options,
    Run,
    queues_on_virtual_time,
    seeded_ids,
    shared_botocore_models,
    virtual_stack,
)
from cli.simulate.faults import Faults
from tests.integration.occasions.conftest import person

STEP = timedelta(minutes=5)  # the virtual tick


@dataclass
class World:
    clock: FixedClock
    api: Any
    engine: Engine
    key: str
    sent: list[tuple[Message, Any]] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        response = getattr(self.api.http, method.lower())(
            path, headers=headers, **({"body": json.dumps(body)} if body is not None else {}))
        return response.status_code, json.loads(response.body)

    def members(self, people: Sequence[ImportedContact], segment: str = "active") -> None:
        """Imports the contacts and places them in `segment` (as a lifecycle timer would)."""
        for start in range(0, len(people), 30):
            wiring.contacts().import_contacts(people[start:start + 30])
        db = wiring.memory_store().db
        for contact in people:
            db.contacts[contact.contact_id] = replace(db.contacts[contact.contact_id], segment=segment)

    def run_until(self, end: datetime, step: timedelta = STEP) -> None:
        """Ticks and drains every queue each virtual `step` until `end`, keeping what the providers accepted."""
        while self.clock.now() < end:
            self.engine.tick()
            self.engine.drain()
            self.sent.extend(self.engine.captured(self.clock.now()))
            self.clock.advance(seconds=step.total_seconds())

    def publish_ses(self, kind: str, mail: Any) -> None:
        from chalicelib.settings import get_settings
        from cli.outbox import ses_event
        from cli.provision import ACCOUNT

        settings = get_settings()
        record = ses_event(kind, mail, self.clock.now(), configuration_set=settings.configuration_set,
                           feedback_id=f"{mail.message_id}-{kind}")
        arn = f"arn:aws:sns:{settings.region}:{ACCOUNT}:{settings.topic('ses-feedback')}"
        wiring.client("sns").publish(TopicArn=arn, Message=json.dumps(record))


@contextmanager
def memory_world(start: datetime, *, duplicate: bool = False, seed: int = 7) -> Iterator[World]:
    clock = FixedClock(start)
    with ExitStack() as stack:
        stack.enter_context(redirect_stdout(io.StringIO()))  # the handlers' metrics lines
        stack.enter_context(shared_botocore_models())
        stack.enter_context(seeded_ids(seed))
        stack.enter_context(virtual_stack(clock, "memory"))
        stack.enter_context(queues_on_virtual_time(clock))
        from chalice.test import Client

        from app import app
        from chalicelib.settings import get_settings

        api = stack.enter_context(Client(app, stage_name=get_settings().stage))
        options = Options(contacts=0, days=0, seed=seed, faults=Faults(duplicate=duplicate), step=STEP)
        engine = Engine(Run([]), options, app)
        _, key = wiring.api_keys().create("service-manager", None, "campaigns", start)
        yield World(clock, api, engine, key)


__all__ = ["STEP", "World", "memory_world", "person"]
