"""`touchplan simulate`: a synthetic base played through the real handlers on a virtual clock (see engine.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from cli.simulate.engine import STORES, Faults, Options, ProgressBar, SimulationError, simulate

# The run is in-process on moto: nothing may reach a real account or a running local stack.
_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "simulation", "AWS_SECRET_ACCESS_KEY": "simulation",
                "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING",
                "TOUCHPLAN_LOG_LEVEL": "WARNING"}
_REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")
ROOT = Path(__file__).resolve().parents[2]


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("simulate", help="play a synthetic base through the real handlers on a virtual clock")
    parser.add_argument("--contacts", type=_positive, required=True, help="how many people sign up")
    parser.add_argument("--days", type=_positive, required=True, help="how many days of virtual time")
    parser.add_argument("--seed", type=int, required=True, help="the seed of the base and its behaviour")
    parser.add_argument("--strategy", help="strategy file (default: the shipped one)")
    parser.add_argument("--faults", help="comma-separated faults: duplicate (every SQS message delivered twice, "
                        "concurrently on the memory store), throttle:RATE (SES and SNS refuse that share of sends), "
                        "crash:RATE (the step worker dies after that share of sends, before recording them), "
                        "poison:COUNT (malformed records on the queues)")
    parser.add_argument("--store", choices=STORES, default="memory",
                        help="where the repositories keep data (default memory; moto runs DynamoDB on moto)")
    parser.add_argument("--step-minutes", type=_positive, default=15,
                        help="virtual minutes between ticks (default 15; larger runs faster, sends land coarser)")
    parser.add_argument("--policy", help="IAM policy to check every AWS call against (default: the stage's "
                                         ".chalice/policy-<stage>.json; prod's for stages that deploy none)")
    parser.add_argument("--out", required=True,
                        help="directory for outbox.jsonl, base.jsonl, summary.json and report.html")
    parser.set_defaults(func=run_simulate)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


@contextmanager
def simulation_environment(strategy: str | None) -> Iterator[None]:
    """The environment the run reads (settings are read once, so they are re-read here and after)."""
    from chalicelib.settings import get_settings

    saved = dict(os.environ)
    for name in _REMOVED:
        os.environ.pop(name, None)
    os.environ.update(_ENVIRONMENT)
    if strategy:
        os.environ["TOUCHPLAN_STRATEGY"] = str(Path(strategy).resolve())
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # app.py, which the installed package does not carry
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def run_simulate(args: argparse.Namespace) -> int:
    from chalicelib.settings import from_environ
    from chalicelib.strategy.loader import StrategyError, load_strategy
    from cli.simulate.policy import PolicyError, load_policy, policy_for, violations

    try:
        options = Options(contacts=args.contacts, days=args.days, seed=args.seed, faults=Faults.parse(args.faults),
                          store=args.store, step=timedelta(minutes=args.step_minutes),
                          progress=ProgressBar(args.contacts, args.days))
        strategy = load_strategy(args.strategy)
        path, policy_stage = policy_for(from_environ().stage)
        policy = load_policy(Path(args.policy) if args.policy else path)
    except (SimulationError, PolicyError) as exc:
        print(f"touchplan simulate: {exc}", file=sys.stderr)
        return 2
    except StrategyError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 2
    from cli.simulate import report

    if not report.charts_available():
        print("touchplan simulate: report.html needs matplotlib, which is not installed; the other files are "
              "written. Install it with: pip install 'touchplan[simulate]' (or pip install matplotlib)",
              file=sys.stderr)
    started = time.process_time()
    try:
        with simulation_environment(args.strategy):
            run = simulate(options)
            result = report.write(run, options, Path(args.out), strategy.doi.occasion, strategy)
    except SimulationError as exc:
        print(f"\ntouchplan simulate: {exc}", file=sys.stderr)
        return 2
    seconds = time.process_time() - started
    denied = violations(policy, run.meter.actions, run.meter.stage, policy_stage)
    for line in denied:
        print(f"\ntouchplan simulate: {line}", file=sys.stderr)
    if denied:
        print(f"touchplan simulate: the run made {len(denied)} AWS call(s) {policy.name} does not allow; "
              "in AWS they would fail with AccessDenied", file=sys.stderr)
        return 1
    print(f"\nwrote {args.out}: {result['messages']['total']} messages to {result['funnel']['signed_up']} contacts "
          f"({args.contacts * args.days / max(seconds, 1e-9):.0f} contact-days per CPU-second)", file=sys.stderr)
    return 0
