"""Entry point of the `touchplan` command: one sub-command module per area."""

import argparse
import sys
from collections.abc import Sequence

from cli import contacts, explain, keys, local, package, simulate, strategy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchplan", description="touchplan: customer contact strategy engine")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.register(commands)
    keys.register(commands)
    strategy.register(commands)
    explain.register(commands)
    contacts.register(commands)
    simulate.register(commands)
    package.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
