"""DynamoDB requests and units per sent chain message, and what one message costs on AWS.

Runs on in-process moto with the real stack of infra/template.yaml and the real handlers, as Lambda would call
them: MAILS contacts fall due for the welcome chain's first mail at once; the tick handler claims them and
queues one SQS batch; the step handler takes that batch and sends every mail through moto SES; SES's delivery
and open events are published to the feedback topic and the feedback handler takes them from its queue.
DynamoDB is metered by bench/dynamo_meter.py (requests by operation, read and write units with DynamoDB's
rules, index upkeep apart); SQS, SNS and SES calls are counted on the botocore session every client shares.

The tick queries every shard each minute whatever is due: those queries are a fixed cost per tick, shown
apart; the per-message figures count the tick's claims and the shard queries that found the claimed items.
The occasions' edits (one BatchGetItem a minute per container) are read before the run, a fixed cost too.

The cost model prices the counted usage with cli/cost.py's dated table, without SES's own fee:
- Lambda: one invocation per handler call (batches of up to 10 records, as the event source mappings
  deliver them), billed for its duration at the stage's memory size. A duration is the handler's own time
  outside moto's DynamoDB plus DYNAMODB_LATENCY per DynamoDB request (moto answers in-process; DynamoDB
  answers over the network).
- SQS: every request the run made, plus one for each SNS delivery into a queue (moto fans out without one),
  but for two fixed costs, as in the simulation's meter: the event source mappings' empty polls (they poll
  whatever is queued) and GetQueueUrl (looked up once per container, then kept).
- SNS: SES's publishes of the delivery and open events.

Where a mail's cost goes (2026-12-02: $0.0165 per 1,000, 17.3 write units and 17.8 read units per mail):
DynamoDB writes are 66% of it. The indexes already write nothing that their readers do not need (a mark or
feedback writes no index entry), and the stats counters are written once per batch and counter row (a batch
of ten sends of one step: 0.1 of a request and a unit each), so what is left is the design's own: the tick's
claim (the item, and the due index's delete and put as `due_at` moves: 3); the step's transaction, which
doubles every item (touch, enrolment and the contact's version: 6), the mark (1), the due index moving on
(2) and the touch entering the counted and provider-message indexes (2); feedback's touch per event and the
open's reaction flag (3). The largest read is arbitration's: the step's strongly consistent BatchGetItem asks
for the contact's enrolment in every chain that can send something arbitrated, and a key that does not exist
still costs a unit (10 of the step's 13.5). SNS (SES's two publishes) and SQS (the two fan-outs into the
feedback queue) are about $0.002.

The step's requests per mail are 4 and its batch's counter write: 4.1 here, up to 5 for a batch whose sends
are each of another step. Before 2026-12-02 the mark and the count were one transaction, 4 requests and 4
write units a mail, with every send of a step transacting on its one counter row.

Ends with `RESULT step_dynamodb_requests_per_sent_message=<v> goal=<=4` and
`RESULT aws_cost_per_1000_emails=<v> goal=<=0.01`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench.offline  # noqa: F401  fake credentials and the bench stage, before boto3

# Marketing mail needs an https unsubscribe link; read before the settings are.
os.environ["TOUCHPLAN_PUBLIC_BASE_URL"] = "https://touchplan.example.com"

# isort: split
import boto3
from moto import mock_aws

from bench.dynamo_meter import Meter, metering
from cli.cost import PRICES, PRICES_AS_OF, Usage, aws_cost

MAILS = 10  # one SQS batch: the step handler takes them in one invocation
MEMORY_GB = 0.5  # the handlers' lambda_memory_size in .chalice/config.json
DYNAMODB_LATENCY = 0.005  # seconds per DynamoDB request from Lambda
FEEDBACK = ("delivery", "open")
FIXED_SQS = {"sqs.GetQueueUrl"}  # once per container: not a per-message cost
STEP_GOAL = 4
COST_GOAL = 0.01
# DynamoDB on-demand before the price cut of 1 November 2024, for comparison.
BEFORE_CUT = replace(PRICES, dynamodb_write_unit=1.25 / 1_000_000, dynamodb_read_unit=0.25 / 1_000_000)


@dataclass
class Phase:
    """What one phase asked AWS for."""

    name: str
    meter: Meter = field(default_factory=Meter)
    calls: Counter[str] = field(default_factory=Counter)  # "<service>.<operation>" outside DynamoDB
    invocations: int = 0
    seconds: float = 0.0  # modelled Lambda duration, summed over invocations

    def usage(self, fanned_out: int = 0) -> Usage:
        sqs = sum(n for call, n in self.calls.items() if call.startswith("sqs.") and call not in FIXED_SQS)
        sqs += fanned_out
        return Usage(
            lambda_requests=self.invocations, lambda_gb_seconds=self.seconds * MEMORY_GB, sqs_requests=sqs,
            dynamodb_write_units=self.meter.write_units, dynamodb_read_units=self.meter.read_units,
            ses_emails=self.calls["sesv2.SendEmail"] + self.calls["ses.SendRawEmail"],
            sns_requests=self.calls["sns.Publish"],
        )


class CallCounter:
    """Counts every non-DynamoDB AWS call the shared botocore session's clients make, into the phase set."""

    def __init__(self, session: Any) -> None:
        self.phase: Phase | None = None
        session.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        if self.phase is not None and service != "dynamodb":
            self.phase.calls[f"{service}.{model.name}"] += 1


@contextmanager
def invocation(phase: Phase, counter: CallCounter) -> Iterator[None]:
    """One Lambda invocation of a handler: its calls and metered DynamoDB go to `phase`."""
    counter.phase = phase
    started = time.process_time()  # CPU time: the other processes on the machine do not count
    with metering() as meter:
        try:
            yield
        finally:
            counter.phase = None
            elapsed = time.process_time() - started
            phase.invocations += 1
            phase.seconds += max(0.0, elapsed - meter.moto_seconds) + DYNAMODB_LATENCY * meter.total_requests()
            _add(phase.meter, meter)


def _add(total: Meter, meter: Meter) -> None:
    total.requests.update(meter.requests)
    total.index_queries.update(meter.index_queries)
    total.index_write_units.update(meter.index_write_units)
    total.write_units_by_table.update(meter.write_units_by_table)
    total.read_units += meter.read_units
    total.write_units += meter.write_units
    total.moto_seconds += meter.moto_seconds


def _drain(queue: str, handler: Callable[[dict[str, Any], Any], Any], phase: Phase, counter: CallCounter) -> int:
    """Feeds `queue` to `handler` in batches of 10, receiving and deleting as the event source mapping does."""
    from chalicelib import wiring
    from cli.dispatcher import LambdaContext, sqs_event

    sqs = wiring.client("sqs")
    url = wiring.queues().url(queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    taken = 0
    while True:
        counter.phase = phase
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                       MessageAttributeNames=["All"]).get("Messages", [])
        counter.phase = None
        if not messages:
            phase.calls["sqs.ReceiveMessage"] -= 1  # the empty poll: a fixed cost, left out
            return taken
        with invocation(phase, counter):
            handler(sqs_event(arn, messages), LambdaContext())
        counter.phase = phase
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ])
        counter.phase = None
        taken += len(messages)


@dataclass
class Run:
    tick: Phase
    step: Phase
    feedback: Phase
    sent: int
    shard_queries: int  # the tick's queries of its shards and of the active campaigns: a fixed cost per tick
    found_queries: int  # of those, the queries of shards that held the due items
    fanned_out: int  # SNS deliveries into the feedback queue


def run() -> Run:
    from chalicelib import wiring
    from chalicelib.clock import FixedClock
    from chalicelib.store.enrollments import shard_of
    from cli import provision
    from cli.dispatcher import LambdaContext, scheduled_event
    from cli.outbox import publish_feedback, sent_mail
    from tests.integration.feedback.conftest import add_contact
    from tests.integration.helpers import NOW

    clock = FixedClock(NOW)
    wiring.reset()
    wiring.clock = cache(lambda: clock)  # type: ignore[method-assign]  every service reads the bench's clock
    provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
    import app  # noqa: F401  registers the blueprints and their middleware, as Lambda does
    from functions import feedback, queues, schedules

    for n in range(MAILS):
        add_contact(f"c-{n:02d}")
        _enrol(f"c-{n:02d}", NOW)
    # The occasions' stored edits are read once a minute per container (services.live_occasions), not per
    # message: like the tick's empty shards, a fixed cost, left out of the per-message figures.
    assert wiring.strategy().occasions
    wiring.live_campaigns()()  # so are the sending campaigns the step worker weighs as arbitration rivals
    counter = CallCounter(wiring.session())
    tick, step, answers = Phase("tick"), Phase("step worker"), Phase("feedback")
    with invocation(tick, counter):
        schedules.tick(scheduled_event("tick"), LambdaContext())
    shards = wiring.enrollments().shards
    found = len({shard_of(f"c-{n:02d}", shards) for n in range(MAILS)})
    _drain("steps", queues.on_step, step, counter)
    mails = sent_mail()
    clock.advance(minutes=5)
    for mail in mails:
        for kind in FEEDBACK:
            counter.phase = answers
            publish_feedback(kind, mail.message_id, at=clock.now())
            counter.phase = None
    fanned_out = _drain("feedback", feedback.on_feedback, answers, counter)
    # The tick's read of the active campaigns (none here) is a fixed cost each minute too, counted with the shards.
    return Run(tick, step, answers, len(mails), tick.meter.requests["Query"], found, fanned_out)


def _enrol(contact_id: str, at: datetime) -> None:
    """The welcome enrolment as a confirmation writes it: with the contact's suppression keys."""
    from chalicelib import wiring
    from chalicelib.domain.chains import start

    state = start(wiring.strategy().chains["welcome"], None, contact_id, at)
    snapshot = wiring.snapshot_loader()(contact_id)
    assert state is not None and snapshot is not None
    wiring.enrollments().save(state, None, at, addresses=snapshot.address_keys())


def _per(counts: Counter[str], n: int) -> str:
    return ", ".join(f"{op} {v / n:g}" for op, v in sorted(counts.items())) or "none"


def main() -> None:
    logging.getLogger("moto").setLevel(logging.ERROR)  # its CloudFormation names every resource type it skips
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mock_aws():
            result = run()
    n = result.sent
    assert n == MAILS, f"{n} of {MAILS} mails went out"
    print(f"{n} welcome mails, one tick, one step batch, {len(FEEDBACK)} SES events each ({', '.join(FEEDBACK)})")
    print(f"the tick made {result.shard_queries} queries (its shards and the active campaigns), "
          f"{result.found_queries} of them of shards holding the due items "
          "(the others are a fixed cost each minute, whatever is due, left out below)")
    per_message_requests = 0.0
    per_message_units = [0.0, 0.0]
    for phase in (result.tick, result.step, result.feedback):
        requests = Counter(phase.meter.requests)
        if phase is result.tick:
            requests["Query"] -= result.shard_queries - result.found_queries
        total = sum(requests.values()) / n
        per_message_requests += total
        per_message_units[0] += phase.meter.read_units / n
        per_message_units[1] += phase.meter.write_units / n
        upkeep = sum(phase.meter.index_write_units.values()) / n
        print(f"{phase.name:>12}: {total:5.2f} requests ({_per(+requests, n)}); "
              f"{phase.meter.read_units / n:.2f} RU, {phase.meter.write_units / n:.2f} WU "
              f"(index upkeep {upkeep:.2f}: {_per(phase.meter.index_write_units, n)})")
    print(f"{'overall':>12}: {per_message_requests:5.2f} requests, {per_message_units[0]:.2f} RU, "
          f"{per_message_units[1]:.2f} WU per sent message")
    usage = result.tick.usage() + result.step.usage() + result.feedback.usage(result.fanned_out)
    scale = 1000 / n
    per_1000 = Usage(**{k: v * scale for k, v in vars(usage).items()})
    cost = aws_cost(per_1000)
    before = aws_cost(per_1000, BEFORE_CUT)
    print(f"per 1,000 emails at the prices of {PRICES_AS_OF.isoformat()}: "
          + ", ".join(f"{k} ${v:.5f}" for k, v in cost.items() if k not in ("aws", "ses")))
    print(f"  usage: {per_1000.lambda_requests:.0f} Lambda invocations, {per_1000.lambda_gb_seconds:.2f} GB-s, "
          f"{per_1000.sqs_requests:.0f} SQS and {per_1000.sns_requests:.0f} SNS requests, "
          f"{per_1000.dynamodb_read_units:.0f} RU, {per_1000.dynamodb_write_units:.0f} WU")
    print(f"  AWS without SES's fee: ${cost['aws']:.4f} (SES's own fee ${cost['ses']:.2f}); at DynamoDB's prices "
          f"before November 2024: ${before['aws']:.4f}")
    step = sum(result.step.meter.requests.values()) / n
    print(f"RESULT step_dynamodb_requests_per_sent_message={step:g} goal=<={STEP_GOAL}")
    print(f"RESULT aws_cost_per_1000_emails={cost['aws']:.4f} goal=<={COST_GOAL}")


if __name__ == "__main__":
    main()
