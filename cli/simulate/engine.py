"""Plays a synthetic base through the real handlers on moto (the repositories in memory or on moto too), on a
virtual clock.

Every step of virtual time (15 minutes by default) the world acts first (sign-ups through the real
subscribe route, confirmation clicks through the real confirm route, events through /v1/events, SES and SMS
feedback published to the stack's SNS topics in the providers' own shapes), then the real tick runs and every
queue is drained into its real handler, as Lambda's event source mappings would, until all are empty. SQS
keeps its delays, visibility timeouts and redrive policy on the virtual clock; the faults of cli/simulate/
faults.py are injected into the drain, the provider clients and the step worker.

Determinism: uuid4 and the `secrets` tokens the app and moto draw are taken from a Random seeded with the
run's seed while it runs, so contact ids, touch ids, token links and provider message ids repeat run to run.
"""

from __future__ import annotations

import heapq
import io
import json
import os
import random
import re
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from cli.outbox import CapturedMail, CapturedSms
from cli.simulate.base import Person, synthetic_base
from cli.simulate.faults import (
    CrashingOutbound,
    Dice,
    Faults,
    SimulationError,
    ThrottlingClient,
    WorkerCrashed,
    poison_plan,
    twice,
)

__all__ = ["STORES", "Faults", "Options", "ProgressBar", "Run", "SimulationError", "simulate"]

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; any fixed instant keeps runs comparable
# What the world did by now (events, provider feedback, replies) is handled before the sends the tick queued
# at the same instant, so an audit may read a revocation stamped with a send's instant as coming first.
QUEUES = ("events", "feedback", "sms-inbound", "steps")
CONFIRM_LINK = re.compile(r"https?://\S+?/v1/confirm\?token=[^\s\"'<>]+")
BROWSER = {"Content-Type": "application/json", "User-Agent": "Mozilla/5.0 (touchplan simulate)"}
STORES = ("memory", "moto")


@dataclass(frozen=True)
class Options:
    contacts: int
    days: int
    seed: int
    faults: Faults = field(default_factory=Faults)
    store: str = "memory"
    step: timedelta = timedelta(minutes=15)
    progress: Callable[[str], None] = lambda line: None


@dataclass(frozen=True)
class Message:
    """One message moto accepted, at the virtual time it was sent."""

    at: datetime
    channel: str
    to: str
    provider_message_id: str
    subject: str | None = None
    text: str | None = None


@dataclass
class Run:
    people: list[Person]
    messages: list[Message] = field(default_factory=list)
    contact_ids: dict[int, str] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # queue -> batches handed to a handler
    failed_batches: int = 0
    world: dict[str, int] = field(default_factory=dict)  # what the behaviour model did, by kind
    touches: dict[str, list[Any]] = field(default_factory=dict)  # contact id -> its touch records at the end
    ledger: dict[str, list[Any]] = field(default_factory=dict)  # contact id -> its consent ledger at the end
    meter: Any = None  # cli.simulate.meter.Meter: the AWS requests the run made
    segments: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # (day, contacts per segment)
    faults_injected: dict[str, int] = field(default_factory=dict)  # fault -> how many times it struck
    crashed: dict[str, tuple[str, str]] = field(default_factory=dict)  # provider message id -> (contact, touch)
    dead_letters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # queue -> its DLQ at the end
    stuck: list[str] = field(default_factory=list)  # work left behind at the end, in words


def _seeded_ids(seed: int) -> Iterator[None]:
    rng = random.Random(f"ids-{seed}")
    # The ids the storage machinery draws (botocore's per request, pynamodb's and moto's, a DynamoDB transaction's
    # request token) come from a stream of their own: the app then draws the same ids (contact ids, and the A/B
    # variants that hash them) whether its store is moto's DynamoDB or memory.
    machinery = random.Random(f"machinery-{seed}")

    def uuid4() -> uuid.UUID:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        source = machinery if caller.startswith(("botocore.", "moto.", "pynamodb.", "chalicelib.store.")) else rng
        return uuid.UUID(int=source.getrandbits(128), version=4)

    def token_bytes(n: int | None = None) -> bytes:
        return rng.randbytes(32 if n is None else n)

    with ExitStack() as stack:
        # botocore's per-request invocation ids keep the real uuid4: an extra AWS call (a re-enqueued record, a
        # dead letter) must not move every id drawn after it.
        stack.enter_context(mock.patch("botocore.endpoint.uuid", SimpleNamespace(uuid4=uuid.uuid4)))
        stack.enter_context(mock.patch("uuid.uuid4", uuid4))
        # The tick claims shards in parallel threads, which would draw claim ids in any order: one worker here.
        stack.enter_context(mock.patch("chalicelib.services.tick.WORKERS", 1))
        stack.enter_context(mock.patch("secrets.token_bytes", token_bytes))
        stack.enter_context(mock.patch("secrets.token_hex", lambda n=None: token_bytes(n).hex()))
        stack.enter_context(mock.patch("secrets.token_urlsafe", lambda n=None: token_bytes(n).hex()))
        yield


seeded_ids = contextmanager(_seeded_ids)


@contextmanager
def shared_botocore_models() -> Iterator[None]:
    """Each pynamodb transaction opens a new botocore session, which re-reads the service models from disk
    (about 0.1 s a time); the run reads each file once."""
    from botocore.loaders import JSONFileLoader

    read = JSONFileLoader.load_file
    files: dict[str, Any] = {}

    def load_file(self: Any, file_path: str) -> Any:
        if file_path not in files:
            files[file_path] = read(self, file_path)
        return files[file_path]

    with mock.patch.object(JSONFileLoader, "load_file", load_file):
        yield


@contextmanager
def virtual_stack(clock: Any, store: str) -> Iterator[None]:
    """Wiring on the virtual clock, over the stack of infra/template.yaml: on moto for the moto store; for the
    memory store, in-memory providers (cli.simulate.fakes) stand in for wiring's botocore session."""
    import boto3
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.settings import get_settings
    from cli import provision
    from cli.simulate.fakes import FakeCloud
    from cli.simulate.moto_dynamodb import lighter_moto_dynamodb

    saved_clock = wiring.clock
    stack = ExitStack()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moto warns about the resource types its CloudFormation skips
        # Under moto even for the memory store: a call that slipped past the fakes fails here, not in an account.
        with mock_aws():
            wiring.reset()
            wiring.clock = cache(lambda: clock)  # type: ignore[method-assign]
            try:
                if store == "memory":
                    stack.enter_context(mock.patch.dict(os.environ, {"TOUCHPLAN_STORE": "memory"}))
                get_settings.cache_clear()
                wiring.reset()
                settings = get_settings()
                if store == "memory":
                    cloud = FakeCloud.from_template(clock, settings.stage, settings.region)
                    stack.enter_context(mock.patch.object(wiring, "session", lambda: cloud))
                else:
                    stack.enter_context(lighter_moto_dynamodb())
                    provision.deploy(boto3.session.Session(), settings.stage, settings.region)
                yield
            finally:
                stack.close()
                get_settings.cache_clear()
                wiring.reset()
                wiring.clock = saved_clock  # type: ignore[method-assign]


class World:
    """The synthetic customers and providers: what they do, scheduled on the virtual clock."""

    def __init__(self, run: Run, options: Options, clock: Any, api: Any, ingest_key: str) -> None:
        self.run = run
        self.options = options
        self.clock = clock
        self.api = api
        self.ingest = {**BROWSER, "Authorization": f"Bearer {ingest_key}"}
        self.rng = random.Random(f"world-{options.seed}")
        self.agenda: list[tuple[datetime, int, str, int, Any]] = []
        self.sequence = 0
        self.by_address = {p.email: p for p in run.people if p.email} | {p.phone: p for p in run.people if p.phone}
        self.order_counts: dict[int, int] = {}
        for person in run.people:
            self.plan(person.signup_at, "signup", person)

    def plan(self, at: datetime, kind: str, person: Person, payload: Any = None) -> None:
        self.sequence += 1
        heapq.heappush(self.agenda, (at, self.sequence, kind, person.index, payload))

    def act_until(self, now: datetime) -> None:
        while self.agenda and self.agenda[0][0] <= now:
            _, _, kind, index, payload = heapq.heappop(self.agenda)
            self.run.world[kind] = self.run.world.get(kind, 0) + 1
            getattr(self, f"_{kind.replace('-', '_')}")(self.run.people[index], payload)

    def later(self, low: timedelta, high: timedelta) -> datetime:
        return self.clock.now() + low + (high - low) * self.rng.random()

    # --- what people do ---------------------------------------------------------------------------------

    def _signup(self, person: Person, _: Any) -> None:
        consents = []
        if person.email:
            consents.append({"channel": "email", "purpose": "marketing", "text_id": "marketing-email-v1"})
        if person.phone:
            consents.append({"channel": "sms", "purpose": "marketing", "text_id": "marketing-sms-v1"})
        body: dict[str, Any] = {"consents": consents, "data_processing": {"text_id": "personal-data-v1"},
                                "source": "simulation", "locale": person.locale, "timezone": person.timezone}
        attributes: dict[str, str] = {}
        if person.first_name:
            attributes["first_name"] = person.first_name
        if person.birthday:
            attributes["birthday"] = person.birthday.isoformat()
        if attributes:
            body["attributes"] = attributes
        for channel in ("email", "phone"):
            if getattr(person, channel):
                body[channel] = getattr(person, channel)
        response = self.api.http.post("/v1/subscriptions", headers=BROWSER, body=json.dumps(body))
        if response.status_code != 202:
            raise RuntimeError(f"subscribe answered {response.status_code}: {response.body[:300]!r}")
        self.run.contact_ids[person.index] = self._contact_id(person)

    def _contact_id(self, person: Person) -> str:
        from chalicelib import wiring
        from chalicelib.store.contacts import identity_key

        key = identity_key("email", person.email) if person.email else identity_key("phone", str(person.phone))
        return str(wiring.contacts().owners([key])[key])

    def _confirm(self, person: Person, link: str) -> None:
        parts = urlsplit(link)
        self.api.http.get(f"{parts.path}?{parts.query}", headers={"User-Agent": "MailApp/1.0"})
        self._events(person, self._history(person))
        self.plan(self.later(timedelta(hours=6), timedelta(hours=30)), "day", person)

    def _history(self, person: Person) -> list[dict[str, Any]]:
        return [self._order(person, self.clock.now() - before, amount) for before, amount in person.past_orders]

    def _order(self, person: Person, at: datetime, amount: float) -> dict[str, Any]:
        number = self.order_counts.get(person.index, 0) + 1
        self.order_counts[person.index] = number
        item = {"sku": f"SKU{self.rng.randrange(40)}", "quantity": 1}
        if self.rng.random() < 0.3:
            item["course_days"] = self.rng.choice((14, 30, 60))
        return self._event("order_placed", person, at, {"amount": amount, "items": [item],
                                                          "order_id": f"o{person.index}-{number}"})

    def _event(self, kind: str, person: Person, at: datetime, properties: dict[str, Any]) -> dict[str, Any]:
        self.sequence += 1
        return {"type": kind, "id": f"sim-{self.sequence}", "contact": person.key,
                "occurred_at": at.isoformat(), "properties": properties}

    def _events(self, person: Person, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        response = self.api.http.post("/v1/events", headers=self.ingest, body=json.dumps({"events": events}))
        if response.status_code != 202:
            raise RuntimeError(f"/v1/events answered {response.status_code}: {response.body[:300]!r}")

    def _day(self, person: Person, _: Any) -> None:
        """A day of someone's life on the site: maybe an order, a cart left behind, a product looked at."""
        b, now, events = person.behaviour, self.clock.now(), []
        if self.rng.random() < b.visit:
            events.append(self._event("site_visit", person, now, {}))
        if self.rng.random() < b.view:
            events.append(self._event("product_viewed", person, now, {"sku": f"SKU{self.rng.randrange(40)}"}))
        if self.rng.random() < b.cart:
            events.append(self._event("cart_abandoned", person, now, {"items": [{"sku": "SKU1"}]}))
        if self.rng.random() < b.order:
            self.run.world["orders"] = self.run.world.get("orders", 0) + 1
            events.append(self._order(person, now, round(self.rng.uniform(200, 5000), 2)))
        self._events(person, events)
        self.plan(self.later(timedelta(hours=20), timedelta(hours=28)), "day", person)

    def _survey(self, person: Person, _: Any) -> None:
        topics = self.rng.sample(("vitamins", "skincare", "kids", "sport", "allergy"), 2)
        answers = {"answers": {"topics": topics}}
        self._events(person, [self._event("survey_completed", person, self.clock.now(), answers)])

    def _unsubscribe(self, person: Person, _: Any) -> None:
        from chalicelib import wiring

        parts = urlsplit(wiring.links().unsubscribe_url(self.run.contact_ids[person.index]))
        self.api.http.post(f"{parts.path}?{parts.query}", headers={"Content-Type": "application/x-www-form-urlencoded"},
                           body="List-Unsubscribe=One-Click")

    def _ses(self, person: Person, payload: tuple[str, Any]) -> None:
        from chalicelib.settings import get_settings
        from cli.outbox import ses_event

        kind, mail = payload
        settings = get_settings()
        record = ses_event(kind, mail, self.clock.now(), configuration_set=settings.configuration_set,
                           feedback_id=f"{mail.message_id}-{kind}")
        self._publish("ses-feedback", record)

    def _stop(self, person: Person, message_id: str) -> None:
        from cli.outbox import inbound_sms

        self._publish("sms-inbound", inbound_sms(str(person.phone), "STOP", message_id=f"in-{message_id}",
                                                 answered=message_id))

    def _publish(self, topic: str, message: dict[str, Any]) -> None:
        from chalicelib import wiring
        from chalicelib.settings import get_settings
        from cli.provision import ACCOUNT

        settings = get_settings()
        arn = f"arn:aws:sns:{settings.region}:{ACCOUNT}:{settings.topic(topic)}"
        wiring.client("sns").publish(TopicArn=arn, Message=json.dumps(message))

    # --- what the world answers to a message -----------------------------------------------------------

    def received(self, message: Message, mail: Any = None) -> None:
        person = self.by_address.get(message.to)
        if person is None:
            return
        b, body = person.behaviour, message.text or ""
        confirm = CONFIRM_LINK.search(body)
        if mail is not None:
            self.plan(self.later(timedelta(minutes=1), timedelta(minutes=10)), "ses",
                      person, ("bounce-permanent" if b.bounces else "delivery", mail))
            if b.bounces:
                return
        if confirm:
            if self.rng.random() < b.confirm:
                self.plan(self.later(timedelta(minutes=2), timedelta(hours=8)), "confirm", person, confirm.group(0))
            return
        if mail is None:
            if message.channel == "sms" and "STOP" in body and self.rng.random() < b.unsubscribe:
                self.plan(self.later(timedelta(minutes=5), timedelta(hours=12)), "stop", person,
                          message.provider_message_id)
            return
        if self.rng.random() < b.open:
            opened = self.later(timedelta(minutes=5), timedelta(hours=36))
            self.plan(opened, "ses", person, ("open", mail))
            if self.rng.random() < b.click:
                self.plan(opened + timedelta(minutes=2), "ses", person, ("click", mail))
            survey = "survey" in (message.subject or "").lower() or "опрос" in (mail.text or "")
            if survey and self.rng.random() < b.survey:
                self.plan(opened + timedelta(minutes=5), "survey", person)
            if self.rng.random() < b.unsubscribe:
                self.plan(opened + timedelta(minutes=1), "unsubscribe", person)
        if self.rng.random() < b.complain:
            self.plan(self.later(timedelta(hours=1), timedelta(hours=24)), "ses", person, ("complaint", mail))


class Engine:
    """The run's machinery: the tick, the queues drained into the real handlers, and what moto captured."""

    def __init__(self, run: Run, options: Options, app: Any) -> None:
        from chalicelib import wiring
        from chalicelib.settings import get_settings
        from cli.dispatcher import handler_for
        from cli.simulate.fakes import FakeCloud
        from cli.simulate.meter import invoked

        self.run = run
        self.options = options
        session = wiring.session()
        self.cloud: Any = session if isinstance(session, FakeCloud) else MotoCapture(get_settings().region)
        self.sqs = wiring.client("sqs")
        self.handlers: dict[str, tuple[str, str, Callable[[dict[str, Any], Any], Any]]] = {}
        self.tick_handler: Callable[[dict[str, Any], Any], Any] | None = None
        self.tick_rule = ""
        names = {wiring.queues()._settings.queue(q): q for q in QUEUES}
        for source in app.event_sources:
            kind = type(source).__name__
            if kind == "SQSEventConfig" and source.queue in names:
                url = wiring.queues().url(names[source.queue])
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                handler = invoked(source.name, handler_for(source.handler_string))
                self.handlers[names[source.queue]] = (url, arn, handler)
            elif kind == "ScheduledEventConfig":
                self.tick_handler = invoked(source.name, handler_for(source.handler_string))
                self.tick_rule = source.name
        self.seen_mail = 0
        self.seen_sms = 0
        self.lock = threading.Lock()
        self.dice = Dice(options.seed)
        self.poison = poison_plan(options.faults.poison, options.seed, START, options.days)
        # moto's DynamoDB does not serialise conditional writes to one item: racing copies would show its races.
        self.concurrent = options.store == "memory"
        self.redrive = {queue: _max_receives(self.sqs, url) for queue, (url, _, _) in self.handlers.items()}

    def tick(self) -> None:
        from cli.dispatcher import LambdaContext, scheduled_event

        assert self.tick_handler is not None
        self.tick_handler(scheduled_event(self.tick_rule), LambdaContext())

    def drain(self) -> None:
        """Hands every visible message to its handler, as Lambda's event source mapping does, until a whole pass
        over the queues finds none. A batch whose invocation failed (raised, or the worker died) is not deleted:
        SQS shows it again when its visibility timeout ends, and its redrive policy moves it to the DLQ after
        maxReceiveCount receives (`queues_on_virtual_time` keeps both on the virtual clock)."""
        from cli.dispatcher import sqs_event

        busy = True
        while busy:
            busy = False
            for queue in QUEUES:
                url, arn, handler = self.handlers[queue]
                while messages := self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", []):
                    busy = True
                    event = sqs_event(arn, messages)
                    if self.options.faults.duplicate:
                        self.dice.count("duplicate", len(messages))
                        # Either copy's success deletes a message, as either consumer's receipt handle would.
                        copies = twice(partial(self._invoke, queue, handler, event), self.concurrent)
                        finished = [failed for failed in copies if failed is not None]
                        kept = set.intersection(*finished) if finished else None
                    else:
                        kept = self._invoke(queue, handler, event)
                    done = [m for m in messages if kept is not None and m["MessageId"] not in kept]
                    if done:
                        self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                        ])

    def _invoke(
        self, queue: str, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any],
    ) -> set[str] | None:
        """One Lambda invocation on the batch: None when it failed (raised, or the worker died), else the ids
        of the messages it reported failed (`batchItemFailures`, a partial batch response), kept on the queue."""
        from cli.dispatcher import LambdaContext

        try:
            response = handler(event, LambdaContext())
        except (Exception, WorkerCrashed):
            with self.lock:
                self.run.failed_batches += 1
            return None
        else:
            failures = response.get("batchItemFailures", []) if isinstance(response, dict) else []
            return {str(failure["itemIdentifier"]) for failure in failures}
        finally:
            with self.lock:
                self.run.deliveries[queue] = self.run.deliveries.get(queue, 0) + 1

    @contextmanager
    def injecting(self) -> Iterator[None]:
        """The provider clients throttling and the step worker crashing, as the run's faults ask."""
        from chalicelib import wiring

        faults = self.options.faults
        with ExitStack() as stack:
            if faults.throttle:
                for sender in (wiring.email_sender(), wiring.sms_sender()):
                    throttling = ThrottlingClient(sender._client, self.dice, faults.throttle)
                    stack.enter_context(mock.patch.object(sender, "_client", throttling))
            if faults.crash:
                worker = wiring.step_worker()
                crashing = CrashingOutbound(worker.outbound, self.dice, faults.crash, self.run.crashed)
                stack.enter_context(mock.patch.object(worker, "outbound", crashing))
            yield
        self.run.faults_injected = dict(sorted(self.dice.injected.items()))

    def inject_poison(self, now: datetime) -> None:
        """Puts the malformed records due by `now` on their queues, beside the work the tick just queued."""
        while self.poison and self.poison[0][0] <= now:
            _, queue, body = self.poison.pop(0)
            self.sqs.send_message(QueueUrl=self.handlers[queue][0], MessageBody=body)
            self.dice.count("poison")

    def dead_letters(self) -> dict[str, list[dict[str, Any]]]:
        """Each queue's DLQ at the end of the run: what the handlers dead-lettered and what SQS redrove."""
        from chalicelib import wiring

        found: dict[str, list[dict[str, Any]]] = {}
        for queue in QUEUES:
            url, letters = wiring.queues().url(f"{queue}-dlq"), []
            while messages := self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=43_200,
                AttributeNames=["All"],
            ).get("Messages", []):
                letters += [_dead_letter(m["Body"]) for m in messages]
            found[queue] = sorted(letters, key=lambda letter: json.dumps(letter, sort_keys=True))
        return found

    def left_behind(self, now: datetime) -> list[str]:
        """Enrolments and timers still running more than one tick past their due time (a claim's lease
        included): work the runtime lost."""
        from chalicelib import wiring

        late = now - self.options.step
        found = []
        for contact_id in self.run.contact_ids.values():
            for chain_id, stored in wiring.enrollments().for_contact(contact_id).items():
                due = stored.state.due_at
                if stored.state.status == "running" and due is not None and due < late:
                    found.append(f"{contact_id}/{chain_id} {'claimed' if stored.claim else 'running'}, "
                                 f"due {due.isoformat()}")
        return found

    def captured(self, now: datetime) -> list[tuple[Message, CapturedMail | None]]:
        """What the providers accepted since the last call, stamped with the virtual time it was sent at."""
        from cli.outbox import recipients_of

        mails = self.cloud.sent_mail(since=self.seen_mail)
        texts = self.cloud.sent_sms(since=self.seen_sms)
        self.seen_mail += len(mails)
        self.seen_sms += len(texts)
        found: list[tuple[Message, CapturedMail | None]] = [
            (Message(now, "email", (recipients_of(m) or [""])[0], m.message_id, subject=m.subject, text=m.text), m)
            for m in mails
        ]
        found += [(Message(now, "sms", s.phone, s.message_id, text=s.text), None) for s in texts]
        return found


@dataclass(frozen=True)
class MotoCapture:
    """What moto's SES and SNS backends kept (a memory run reads its FakeCloud the same way)."""

    region: str

    def sent_mail(self, since: int = 0) -> list[CapturedMail]:
        from cli.outbox import sent_mail

        return sent_mail(self.region, since=since)

    def sent_sms(self, since: int = 0) -> list[CapturedSms]:
        from cli.outbox import sent_sms

        return sent_sms(self.region, since=since)


def simulate(options: Options) -> Run:
    """Runs the simulation; the caller writes what it returns (`cli.simulate.report`)."""
    from chalicelib.clock import FixedClock

    clock = FixedClock(START)
    run = Run(synthetic_base(options.contacts, options.seed, START, options.days))
    # The handlers' metrics and moto's notes go to stdout; the run's own output is its files and stderr.
    quiet = redirect_stdout(io.StringIO())
    with quiet, shared_botocore_models(), seeded_ids(options.seed), virtual_stack(clock, options.store), \
            queues_on_virtual_time(clock):
        from chalice.test import Client

        from app import app
        from chalicelib import wiring
        from chalicelib.settings import get_settings
        from cli.simulate import meter

        run.meter = meter.Meter(get_settings().stage, get_settings().region)
        if options.store == "moto":  # the memory store's fake cloud reports its calls itself (fakes.Metered)
            run.meter.install(wiring.session())  # before any client is built: each copies the session's listeners
        if options.store == "memory":
            wiring.memory_store().db.on_request = run.meter.memory_request
        _, ingest_key = wiring.api_keys().create("ingest", None, "simulation", clock.now())
        with meter.metering(run.meter), Client(app, stage_name=get_settings().stage) as api:
            world = World(run, options, clock, meter.MeteredApi(api), ingest_key)
            engine = Engine(run, options, app)
            end = START + timedelta(days=options.days)
            day = -1
            with engine.injecting():
                while clock.now() < end:
                    world.act_until(clock.now())
                    engine.tick()
                    engine.inject_poison(clock.now())
                    engine.drain()
                    # In the order of what was sent, not of which racing worker sent it first.
                    for message, mail in sorted(engine.captured(clock.now()), key=_content):
                        run.messages.append(message)
                        world.received(message, mail)
                    elapsed = (clock.now() - START).days
                    if elapsed != day:
                        day = elapsed
                        with run.meter.paused():
                            run.segments.append(sample_segments(run, clock.now()))
                        options.progress(f"day {day + 1}/{options.days}: {len(run.contact_ids)} signed up, "
                                         f"{len(run.messages)} messages")
                    clock.advance(seconds=options.step.total_seconds())
            last_tick = clock.now() - options.step
            with run.meter.paused():
                run.stuck = engine.left_behind(last_tick)
                run.dead_letters = engine.dead_letters()
            run.touches = {cid: wiring.touches().for_contact(cid) for cid in run.contact_ids.values()}
            run.ledger = {cid: _ledger(cid) for cid in run.contact_ids.values()}
    return run


def sample_segments(run: Run, now: datetime) -> tuple[str, dict[str, int]]:
    """How many signed-up contacts sit in each lifecycle segment today (one with no order yet is a prospect)."""
    from chalicelib import wiring

    counts: dict[str, int] = {}
    for contact_id in run.contact_ids.values():
        contact = wiring.contacts().get(contact_id)
        segment = (contact.segment if contact else None) or "none"
        counts[segment] = counts.get(segment, 0) + 1
    return now.date().isoformat(), counts


def _content(captured: tuple[Message, CapturedMail | None]) -> tuple[str, str, str, str]:
    message = captured[0]
    return message.channel, message.to, message.subject or "", message.text or ""


def _max_receives(sqs: Any, url: str) -> int | None:
    """The queue's redrive policy as provisioned from infra/template.yaml: receives before its DLQ."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attributes.get("RedrivePolicy")
    return int(json.loads(policy)["maxReceiveCount"]) if policy else None


def _dead_letter(body: str) -> dict[str, Any]:
    """A DLQ message in brief: a handler's dead letter carries the attempt and the error, a redriven one is the
    original record."""
    try:
        record = json.loads(body)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return {"kind": None, "attempt": None, "error": None, "redriven": True, "body": body[:200]}
    redriven = "error" not in record
    original = record.get("raw") or json.dumps({k: v for k, v in record.items() if k not in ("attempt", "error")})
    return {"kind": record.get("kind"), "attempt": record.get("attempt"), "error": record.get("error"),
            "redriven": redriven, "body": (body if redriven else str(original))[:200]}


@contextmanager
def queues_on_virtual_time(clock: Any) -> Iterator[None]:
    """moto's SQS keeps delays, visibility timeouts and retention on the wall clock; the run's queues keep them
    on the virtual one, so a re-enqueued record waits its delay and a failed batch its visibility timeout in
    virtual time, and the redrive policy counts receives as SQS does."""
    seconds = lambda: clock.now().timestamp()  # noqa: E731
    with mock.patch("moto.sqs.models.unix_time", seconds), \
            mock.patch("moto.sqs.models.unix_time_millis", lambda: seconds() * 1000.0):
        yield


def _ledger(contact_id: str) -> list[Any]:
    from chalicelib import wiring

    return wiring.ledger().history(contact_id)


class ProgressBar:
    """`simulate` reports once per virtual day: a bar of the days done, the rate so far in contact-days per
    CPU-second, and the time left at that rate, on one line of stderr."""

    def __init__(self, contacts: int, days: int, label: str = "simulate") -> None:
        self.contacts, self.days, self.label = contacts, days, label
        self.done = 0
        self.started = time.process_time()

    def __call__(self, line: str) -> None:
        self.done += 1
        spent = max(time.process_time() - self.started, 1e-9)
        filled = 30 * self.done // self.days
        left = spent / self.done * (self.days - self.done)
        print(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {line}; "
              f"{self.contacts * self.done / spent:,.0f} contact-days/CPU-s, ETA {left:,.0f} s   ",
              end="", file=sys.stderr, flush=True)
