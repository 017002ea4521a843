"""Contact-rules throughput: decisions per second for one contact with a 90-day touch history.

Run: .venv/bin/python bench/rules.py. Then the engine's share of the whole step worker's time (goal < 5%):
real welcome steps run through the step worker on in-process moto (DynamoDB reads, the touch reservation,
the SES send), timing the `decide` calls inside them.
"""

import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.domain.rules import ContactView, RuleContext, Touch, decide, request_for
from chalicelib.strategy.loader import load_strategy

GOAL = 10_000
NOW = datetime(2025, 3, 12, 9, tzinfo=UTC)  # 12:00 in Moscow, a Wednesday


def history(days: int = 90, seed: int = 7) -> tuple[Touch, ...]:
    """About what the default caps let through in 90 days: ~1.5 touches a day across channels."""
    rng = random.Random(seed)
    touches = []
    for day in range(days):
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
            at = NOW - timedelta(days=day, hours=rng.randrange(1, 24))
            channel = rng.choice(("email", "email", "push", "sms"))
            category = rng.choice(("trigger", "trigger", "promo", "service", "transactional"))
            status = rng.choice(("sent", "delivered", "opened", "clicked", "deferred", "skipped"))
            touches.append(Touch(at, channel, category, status))
    return tuple(sorted(touches, key=lambda t: t.at))


def measure(label: str, run: object, seconds: float = 1.5) -> float:
    calls = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            run()  # type: ignore[operator]
        calls += 200
    rate = calls / (time.perf_counter() - started)
    print(f"{label:<58} {rate:>10,.0f} decisions/s  ({1e6 / rate:6.1f} µs each)")
    return rate


def main() -> None:
    strategy = load_strategy()
    touches = history()
    contact = ContactView(
        contact_id="bench-1", confirmed=True, data_processing=True,
        consents={(c, "marketing"): True for c in ("email", "sms", "push")},
        addresses=frozenset({"email", "sms", "push"}), time_zone="Europe/Moscow", phone="+79161234567",
    )
    context = RuleContext(contact, history=touches)
    cart = request_for(strategy, "cart-reminder", NOW, key="t-1")
    promo = request_for(strategy, "company-news", NOW, key="t-2")
    night = NOW + timedelta(hours=11)
    unknown = replace(context, contact=replace(contact, time_zone=None, phone=None))
    print(f"one contact, {len(touches)} touches over 90 days, shipped strategy ({len(strategy.caps)} caps)")
    day = measure("daytime trigger send (all rules pass)", lambda: decide(cart, context, strategy, NOW))
    capped = measure("promo email checked against promo caps", lambda: decide(promo, context, strategy, NOW))
    deferred = measure("night: deferred past quiet hours", lambda: decide(cart, context, strategy, night))
    measure("rare: unknown zone, strictest window over 11 zones", lambda: decide(cart, unknown, strategy, night))
    # The mix a step worker sees for contacts with a known zone: mostly daytime sends, some cap checks and
    # night deferrals. Unknown-zone contacts (fail-closed path) are shown above, not in the mix.
    mixed = 1 / (0.7 / day + 0.2 / capped + 0.1 / deferred)
    print(f"{'mix 70% daytime / 20% promo caps / 10% night':<58} {mixed:>10,.0f} decisions/s")
    print(f"decisions per second goal: >= {GOAL:,} ({'met' if mixed >= GOAL else 'MISSED'})")
    share = step_worker_share()
    print(f"RESULT rules_share_of_step_worker={share:.2%} goal=<5%")


def step_worker_share(steps: int = 60) -> float:
    """Runs `steps` due welcome steps through the real step worker on moto; the engine's share of the time."""
    import os
    import warnings

    os.environ.update({"TOUCHPLAN_STAGE": "bench", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "eu-west-1"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    warnings.simplefilter("ignore")
    import boto3
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.clock import FixedClock
    from chalicelib.domain.chains import start
    from chalicelib.services import steps as step_module
    from chalicelib.services.steps import StepWorker
    from chalicelib.store.models import ContactModel
    from chalicelib.store.snapshots import load_snapshot, suppress_contact
    from cli import provision
    from tests.integration.helpers import due_messages

    spent = [0.0]
    real_decide = step_module.decide

    def timed_decide(*args: object) -> object:
        started = time.perf_counter()
        try:
            return real_decide(*args)  # type: ignore[arg-type]
        finally:
            spent[0] += time.perf_counter() - started

    with mock_aws():
        provision.deploy(boto3.session.Session(), "bench", "eu-west-1")
        wiring.reset()
        strategy = wiring.strategy()
        for n in range(steps):
            ContactModel(f"c-{n}", status="active", email=f"c{n}@example.com", timezone="Europe/Moscow",
                         created_at=NOW, consents={"email:marketing": {"state": "granted"},
                                                   "any:data_processing": {"state": "granted"}}).save()
            wiring.enrollments().save(start(strategy.chains["welcome"], None, f"c-{n}", NOW), None, NOW)
        messages = due_messages(NOW)
        links = {"unsubscribe_url": "https://example.com/u", "preferences_url": "https://example.com/p"}
        worker = StepWorker(
            strategy=strategy, enrollments=wiring.enrollments(), touches=wiring.touches(),
            contacts=wiring.contacts(), snapshots=load_snapshot,
            outbound=wiring.outbound(), links=lambda _: links, clock=FixedClock(NOW), timers=wiring.timers(),
            chain_events=wiring.chain_events(), suppress=suppress_contact,
        )
        step_module.decide = timed_decide  # type: ignore[assignment]
        started = time.perf_counter()
        for message in messages:
            worker.handle(message)
        total = time.perf_counter() - started
        step_module.decide = real_decide
    print(f"step worker on moto: {len(messages)} welcome steps in {total * 1000:.0f} ms "
          f"({total / len(messages) * 1000:.2f} ms each); decide: {spent[0] * 1000:.1f} ms")
    return spent[0] / total


if __name__ == "__main__":
    main()
