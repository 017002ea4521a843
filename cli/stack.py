"""Where the running local stack is: `touchplan run` records it, commands that use its data look it up.

The record is a small JSON file (`.touchplan/local.json` in the repo, or `$TOUCHPLAN_LOCAL_STATE`) holding the
moto URL, the API URL, the stage and the runner's pid. It is removed when the stack stops; a record left by a
killed stack is ignored because its process or its port is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
NO_STACK = "no local stack is running (start one with `touchplan run`, or set AWS_ENDPOINT_URL or --stage)"


@dataclass(frozen=True)
class RunningStack:
    endpoint_url: str  # the moto server every AWS client of the stack talks to
    api_url: str
    stage: str
    region: str
    pid: int

    def environment(self) -> dict[str, str]:
        """What boto3, pynamodb and settings need to use this stack (set it before importing the store)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "TOUCHPLAN_STAGE": self.stage,
        }


def state_path() -> Path:
    return Path(os.environ.get("TOUCHPLAN_LOCAL_STATE") or ROOT / ".touchplan" / "local.json")


def record(stack: RunningStack) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{stack.pid}")
    draft.write_text(json.dumps(asdict(stack)))
    draft.replace(path)  # readers never see half a file


def forget(pid: int) -> None:
    """Removes the record if it is still this process's (another stack may have started since)."""
    found = _read(state_path())
    if found is not None and found.pid == pid:
        state_path().unlink(missing_ok=True)


class NoStack(Exception):
    """Nothing to talk to: the message is the one line a command prints."""


def point_at(stage: str | None) -> None:
    """Points the app's settings (read later, on first import of the store) at the data a command should use:
    the deployed `stage`, else the environment's own `AWS_ENDPOINT_URL` / `TOUCHPLAN_STAGE`, else the running
    local stack. Raises NoStack when that endpoint does not answer or no stack runs."""
    if stage:
        os.environ["TOUCHPLAN_STAGE"] = stage
        return
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        if not _listening(endpoint):
            raise NoStack(f"nothing answers at AWS_ENDPOINT_URL={endpoint} (is the local stack running?)")
        return
    if "TOUCHPLAN_STAGE" in os.environ:
        return
    running = local_endpoint()
    if running is None:
        raise NoStack(NO_STACK)
    os.environ.update(running.environment())
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):  # a developer's real credentials never go to moto
        os.environ.pop(name, None)


def local_endpoint() -> RunningStack | None:
    """The running local stack, or None when none is running."""
    found = _read(state_path())
    if found is None or not _alive(found.pid) or not _listening(found.endpoint_url):
        return None
    return found


def _read(path: Path) -> RunningStack | None:
    try:
        data = json.loads(path.read_text())
        return RunningStack(
            endpoint_url=str(data["endpoint_url"]), api_url=str(data["api_url"]), stage=str(data["stage"]),
            region=str(data["region"]), pid=int(data["pid"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        return False
    with contextlib.suppress(OSError), socket.create_connection((parts.hostname, parts.port), timeout=1):
        return True
    return False
