"""`touchplan keys create --role ROLE [--point ID]`: makes an API key and prints it once."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from chalicelib.roles import ROLES


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("keys", help="manage API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is shown once and stored hashed")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--point", help="the point (branch) id of a point-manager key")
    create.add_argument("--label", help="who or what the key is for")
    create.set_defaults(func=create_key)


def create_key(args: argparse.Namespace) -> int:
    from chalicelib.store.keys import ApiKeyRepository

    try:
        key, secret = ApiKeyRepository().create(args.role, args.point, args.label, datetime.now(UTC))
    except ValueError as exc:
        print(f"touchplan keys create: {exc}", file=sys.stderr)
        return 2
    print(f"key id: {key.key_id}  role: {key.role}" + (f"  point: {key.point_id}" if key.point_id else ""))
    print(secret)
    return 0
