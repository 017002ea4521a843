"""The faults `touchplan simulate --faults` injects, each decided by the seed so one seed gives one set of faults.

- `duplicate`: every SQS batch is handed to its handler twice; on the memory store the two invocations run in
  two threads at once (moto's DynamoDB does not serialise conditional writes to one item, so on moto they run
  one after the other).
- `throttle:R`: SES SendEmail and SNS Publish refuse a share R of calls with the ClientError the providers
  raise (SES `Throttling`, SNS `Throttled`), so the delivery adapters sort what they sort in production.
- `crash:R`: the step worker dies (a BaseException nothing in the runtime catches, as a killed Lambda) in a
  share R of sends, after the provider accepted the message and before the touch is marked sent; the batch
  goes back to its queue when its visibility timeout ends.
- `poison:N`: N malformed records are put on the queues at seeded times, beside the real work.

A decision is a hash of the seed, the fault and what the call is about (recipient and content, or contact,
chain and step) with the count of such calls so far, not a draw from one shared Random: racing threads then
meet the same faults whichever of them runs first.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")
NAMES = ("duplicate", "throttle", "crash", "poison")
# What a malformed record looks like on each queue: unreadable, of the wrong shape, or naming nothing.
POISON: tuple[tuple[str, str], ...] = (
    ("steps", "{not json"),
    ("events", '{"kind": "event", "event": {"type": 42}, "attempt": 0}'),
    ("feedback", '{"Type": "Notification", "Message": "not an SES record"}'),
    ("sms-inbound", "[]"),
    ("steps", '{"kind": "step", "contact_id": "nobody", "attempt": 0}'),
)
# The provider operations a throttle refuses, with the error code each provider raises.
THROTTLED = {"send_email": ("SendEmail", "Throttling"), "publish": ("Publish", "Throttled")}


class SimulationError(Exception):
    """The run cannot start as asked (an unknown fault, a store that is not there)."""


class WorkerCrashed(BaseException):
    """The Lambda process died: nothing in the runtime catches it, and its batch is not deleted."""


@dataclass(frozen=True)
class Faults:
    duplicate: bool = False
    throttle: float = 0.0
    crash: float = 0.0
    poison: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        found: dict[str, Any] = {}
        for part in (part.strip() for part in (spec or "").split(",")):
            if not part:
                continue
            name, colon, value = part.partition(":")
            if name not in NAMES:
                raise SimulationError(f"--faults: {part!r} is not supported; supported: duplicate, "
                                      "throttle:RATE, crash:RATE, poison:COUNT")
            if name == "duplicate":
                if colon:
                    raise SimulationError(f"--faults: {part!r}: duplicate takes no value")
                found[name] = True
            elif name == "poison":
                found[name] = _count(part, value)
            else:
                found[name] = _rate(part, value)
        return cls(**found)

    def describe(self) -> dict[str, Any]:
        return {"duplicate": self.duplicate, "throttle": self.throttle, "crash": self.crash, "poison": self.poison}


def _rate(part: str, value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise SimulationError(f"--faults: {part!r}: give a share of calls, e.g. {part.split(':')[0]}:0.2") from None
    if not 0 < rate < 1:
        raise SimulationError(f"--faults: {part!r}: the share must be above 0 and below 1")
    return rate


def _count(part: str, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise SimulationError(f"--faults: {part!r}: give a number of records, e.g. poison:5")
    return int(value)


@dataclass
class Dice:
    """Seeded, keyed chances, and the tally of every fault injected (summary.json reports it)."""

    seed: int
    injected: Counter[str] = field(default_factory=Counter)
    _calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hits(self, fault: str, key: str, rate: float) -> bool:
        with self._lock:
            self._calls[fault, key] += 1
            digest = hashlib.blake2b(f"{self.seed}|{fault}|{key}|{self._calls[fault, key]}".encode(),
                                     digest_size=8).digest()
            hit = int.from_bytes(digest, "big") / 2**64 < rate
            if hit:
                self.injected[fault] += 1
            return hit

    def count(self, fault: str, n: int = 1) -> None:
        with self._lock:
            self.injected[fault] += n


class ThrottlingClient:
    """A provider client that refuses a share of send calls as the provider does when over its rate."""

    def __init__(self, client: Any, dice: Dice, rate: float) -> None:
        self._client = client
        self._dice = dice
        self._rate = rate

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in THROTTLED:
            return call
        operation, code = THROTTLED[name]

        def throttled(**params: Any) -> Any:
            if self._dice.hits("throttle", _call_key(params), self._rate):
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)
            return call(**params)

        return throttled


def _call_key(params: Mapping[str, Any]) -> str:
    """What a send call is about, without its random parts (MIME boundaries, touch ids)."""
    tags = sorted((t["Name"], t["Value"]) for t in params.get("EmailTags", []) if t.get("Name") != "touch_id")
    to = params.get("Destination", {}).get("ToAddresses") or params.get("PhoneNumber") or params.get("TargetArn")
    return f"{to}|{tags}|{params.get('Message', '')}"


class CrashingOutbound:
    """The step worker's Outbound, dying in a share of sends right after the provider accepted the message."""

    def __init__(self, outbound: Any, dice: Dice, rate: float, crashed: dict[str, tuple[str, str]]) -> None:
        self._outbound = outbound
        self._dice = dice
        self._rate = rate
        self._crashed = crashed  # provider message id -> (contact id, touch id) of each crashed send

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbound, name)

    def send(self, channel: str, occasion: Any, recipient: Any, envelope: Any, *args: Any, **kwargs: Any) -> Any:
        sent = self._outbound.send(channel, occasion, recipient, envelope, *args, **kwargs)
        key = f"{recipient.contact_id}|{envelope.chain_id}|{envelope.step}|{occasion.id}"
        if self._dice.hits("crash", key, self._rate):
            self._crashed[sent.provider_message_id] = (recipient.contact_id, envelope.touch_id)
            raise WorkerCrashed(f"the worker died after {channel} {sent.provider_message_id} was accepted")
        return sent


def poison_plan(count: int, seed: int, start: datetime, days: int) -> list[tuple[datetime, str, str]]:
    """(when, queue, body) of each malformed record, spread over the run at seeded times."""
    rng = random.Random(f"poison-{seed}")
    span = timedelta(days=days)
    return sorted((start + span * rng.random(), *POISON[i % len(POISON)]) for i in range(count))


def twice(invoke: Callable[[], T], concurrently: bool) -> list[T | None]:
    """Runs one delivery twice, in two threads released together when `concurrently`; what each returned."""
    if not concurrently:
        return [invoke(), invoke()]
    gate = threading.Barrier(2)
    results: list[T | None] = [None, None]

    def run(i: int) -> None:
        gate.wait()
        results[i] = invoke()

    threads = [threading.Thread(target=run, args=(i,), name=f"duplicate-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
