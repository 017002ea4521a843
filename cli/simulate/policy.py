"""Checks what a simulation asked AWS for against the stage's IAM policy (`.chalice/policy-<stage>.json`).

moto never answers AccessDenied, so a call the policy does not allow passes every test and fails in production.
The evaluation follows IAM for one identity policy: an explicit Deny wins, else some Allow must match; Action,
NotAction, Resource and NotResource; `*` and `?` wildcards (actions case-insensitively, ARNs as written), so
account and region wildcards and `table/x/index/*` work as in AWS. Transactions arrive here already split into
the actions that authorise them (TransactWriteItems: PutItem, UpdateItem, DeleteItem, ConditionCheckItem).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = "prod"


class PolicyError(Exception):
    """The policy file is missing or not a policy."""


@cache
def _pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(patterns: Iterable[str], value: str, ignore_case: bool) -> bool:
    return any(_pattern(p, ignore_case).fullmatch(value) for p in patterns)


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Action" in statement:
        acts = _matches(_listed(statement["Action"]), action, True)
    else:
        acts = not _matches(_listed(statement.get("NotAction")), action, True)
    if "Resource" in statement:
        on = _matches(_listed(statement["Resource"]), resource, False)
    else:
        on = not _matches(_listed(statement.get("NotResource")), resource, False)
    return acts and on


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Mapping[str, Any], ...]

    def allows(self, action: str, resource: str) -> bool:
        applying = [s for s in self.statements if _applies(s, action, resource)]
        if any(s.get("Effect") == "Deny" for s in applying):
            return False
        return any(s.get("Effect") == "Allow" for s in applying)

    def denied(self, requested: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (action, resource) pairs this policy does not allow, in order."""
        return sorted({pair for pair in requested if not self.allows(*pair)})


def policy_for(stage: str) -> tuple[Path, str]:
    """The policy file a run on `stage` is checked against, and the stage that file is written for: the stage's
    own `iam_policy_file` in .chalice/config.json, else prod's (local and test deploy no IAM policy)."""
    chalice = ROOT / ".chalice"
    stages = json.loads((chalice / "config.json").read_text()).get("stages", {})
    named = stage if "iam_policy_file" in stages.get(stage, {}) else DEPLOYED
    return chalice / stages.get(named, {}).get("iam_policy_file", f"policy-{named}.json"), named


def in_stage(resource: str, run_stage: str, policy_stage: str) -> str:
    """`resource` as the policy's stage names it: a run on `test` stands for prod, test-contacts for prod-contacts."""
    if run_stage == policy_stage:
        return resource
    return re.sub(rf"(?<=[:/]){re.escape(run_stage)}(?=[-/])", policy_stage, resource)


def load_policy(path: Path) -> Policy:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        raise PolicyError(f"{path}: expected an IAM policy with a Statement list")
    return Policy(path.name, tuple(statements))


def violations(policy: Policy, requested: Iterable[tuple[str, str]], run_stage: str, policy_stage: str) -> list[str]:
    """One line per action the run made that the policy does not allow, naming the action and the resource (as
    the policy's stage names it)."""
    named = [(action, in_stage(resource, run_stage, policy_stage)) for action, resource in requested]
    return [f"{policy.name} does not allow {action} on {resource}" for action, resource in policy.denied(named)]
