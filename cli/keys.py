"""`touchplan keys create --role ROLE [--point ID] [--stage NAME]`: makes an API key and prints it once.

Without `--stage` or an AWS environment (AWS_ENDPOINT_URL, TOUCHPLAN_STAGE) the key goes to the running local
stack, found through cli/stack.py.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from chalicelib.roles import ROLES
from cli import stack


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("keys", help="manage API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key; it is shown once and stored hashed")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--point", help="the point (branch) id of a point-manager key")
    create.add_argument("--label", help="who or what the key is for")
    create.add_argument("--stage", help="a deployed stage (default: the running local stack)")
    create.set_defaults(func=create_key)


def create_key(args: argparse.Namespace) -> int:
    try:
        stack.point_at(args.stage)
    except stack.NoStack as exc:
        print(f"touchplan keys create: {exc}", file=sys.stderr)
        return 1
    # Imported only now: the store reads the stage and the endpoint when it is first imported.
    from botocore.exceptions import BotoCoreError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.store.keys import ApiKeyRepository

    try:
        key, secret = ApiKeyRepository().create(args.role, args.point, args.label, datetime.now(UTC))
    except ValueError as exc:
        print(f"touchplan keys create: {exc}", file=sys.stderr)
        return 2
    except (PynamoDBException, BotoCoreError) as exc:
        print(f"touchplan keys create: cannot store the key: {exc}", file=sys.stderr)
        return 1
    print(f"key id: {key.key_id}  role: {key.role}" + (f"  point: {key.point_id}" if key.point_id else ""))
    print(secret)
    return 0
