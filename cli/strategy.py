"""`touchplan strategy check|map|cost`: validate a strategy file, draw its communication map, and print what a
simulation of it costs."""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.domain.commmap import to_dot, to_mermaid
from chalicelib.domain.model import Strategy
from chalicelib.strategy.loader import DEFAULT_PATH, StrategyError, read_strategy

_FORMATS = ("mermaid", "dot", "png")
_STRATEGY_HELP = "strategy file (default: the shipped one)"
_SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".md": "mermaid", ".dot": "dot", ".gv": "dot",
             ".png": "png"}


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("strategy", help="check or draw the contact strategy")
    actions = parser.add_subparsers(dest="strategy_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate a strategy file and render every template; lists every error")
    check.add_argument("--strategy", default=str(DEFAULT_PATH), help=_STRATEGY_HELP)
    check.set_defaults(func=run_check)
    draw = actions.add_parser("map", help="draw the communication map (chains, steps, waits, branches)")
    draw.add_argument("--strategy", default=str(DEFAULT_PATH), help=_STRATEGY_HELP)
    draw.add_argument("--out", help="output file (default: standard output; PNG needs a file)")
    draw.add_argument("--format", choices=_FORMATS,
                      help="mermaid, dot or png (default: from --out's suffix, else mermaid)")
    draw.set_defaults(func=run_map)
    cost = actions.add_parser("cost", help="the cost estimate of a `touchplan simulate` run: channel fees and AWS")
    cost.add_argument("--summary", required=True, help="the run's summary.json, or the directory it is in")
    cost.set_defaults(func=run_cost)


def _load(path: str) -> Strategy | None:
    try:
        return read_strategy(Path(path))
    except StrategyError as error:
        for line in error.errors:
            print(line, file=sys.stderr)
        print(f"{path}: {len(error.errors)} error(s)", file=sys.stderr)
        return None


def run_check(args: argparse.Namespace) -> int:
    strategy = _load(args.strategy)
    if strategy is None:
        return 1
    print(f"{args.strategy}: valid ({len(strategy.chains)} chains, {len(strategy.occasions)} occasions, "
          f"{len(strategy.caps)} caps, {len(strategy.consent_texts)} consent texts; every template renders)")
    return 0


def run_map(args: argparse.Namespace) -> int:
    chosen = args.format or _SUFFIXES.get(Path(args.out).suffix.lower() if args.out else "", "mermaid")
    if chosen == "png" and not args.out:
        print("strategy map: --format png needs --out FILE.png", file=sys.stderr)
        return 2
    dot_binary = shutil.which("dot")
    if chosen == "png" and dot_binary is None:
        print("strategy map: PNG needs Graphviz's `dot` program, which is not installed "
              "(e.g. `apt-get install graphviz`); use --format dot or mermaid instead", file=sys.stderr)
        return 2
    strategy = _load(args.strategy)
    if strategy is None:
        return 1
    if chosen == "png" and dot_binary is not None:
        rendered = subprocess.run([dot_binary, "-Tpng", "-o", args.out], input=to_dot(strategy).encode(),
                                  capture_output=True, check=False)
        if rendered.returncode != 0:
            print(f"strategy map: dot failed: {rendered.stderr.decode(errors='replace').strip()}",
                  file=sys.stderr)
            return 1
        print(f"wrote {args.out}")
        return 0
    text = to_mermaid(strategy) if chosen == "mermaid" else to_dot(strategy)
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"{args.out}: cannot write ({error.strerror})", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


def run_cost(args: argparse.Namespace) -> int:
    path = Path(args.summary)
    if path.is_dir():
        path = path / "summary.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8")).get("cost")
    except OSError as error:
        print(f"strategy cost: cannot read {path} ({error.strerror})", file=sys.stderr)
        return 1
    except (json.JSONDecodeError, AttributeError):
        print(f"strategy cost: {path} is not a simulation summary (JSON object)", file=sys.stderr)
        return 1
    if not isinstance(found, dict):
        print(f"strategy cost: {path} has no cost estimate; run `touchplan simulate` again to get one",
              file=sys.stderr)
        return 1
    sys.stdout.write(cost_table(found))
    return 0


def cost_table(cost: dict[str, Any]) -> str:
    """The estimate as a plain-text table: per chain and per channel, in all and per 1,000 messages."""
    currency = cost["currency"]
    header = ("", "messages", f"fees {currency}", "AWS USD", f"fees/1k {currency}", "AWS/1k USD")
    rows: list[tuple[str, ...]] = [("by chain", "", "", "", "", "")]
    rows += [_cost_row(f"  {name}", group) for name, group in cost["by_chain"].items()]
    rows += [("by channel", "", "", "", "", "")]
    rows += [_cost_row(f"  {name}", group) for name, group in cost["by_channel"].items()]
    rows += [_cost_row("total", cost)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                        strict=True)))
             for row in [header, *rows]]
    services = cost["aws_usd_by_service"]
    lines += [
        "",
        "AWS by service (USD): " + ", ".join(f"{k} {services[k]:.6f}" for k in ("lambda", "sqs", "dynamodb", "sns")),
        f"AWS per 1,000 messages without SES's fee: {cost['per_1000_messages']['aws_usd_without_ses']:.4f} USD; "
        f"per 1,000 emails: {cost['per_1000_emails_aws_usd_without_ses']:.4f} USD",
        f"AWS list prices as of {cost['prices_as_of']} ({cost['price_region']}); {cost['allocation']}.",
        f"Channel fees are the strategy's channel costs, in {currency}.",
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cost_row(name: str, group: dict[str, Any]) -> tuple[str, ...]:
    per = group["per_1000_messages"]
    return (name, str(group["messages"]), f"{group['channel_fees']:.2f}", f"{group['aws_usd']:.6f}",
            f"{per['channel_fees']:.2f}", f"{per['aws_usd']:.4f}")
