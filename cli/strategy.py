"""`touchplan strategy check|map`: validate a strategy file and draw its communication map."""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

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
