"""Helpers to start the local stack as a user does: `touchplan run` in a subprocess on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests import travel

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90


@dataclass
class RunningStack:
    api: str
    moto: str
    key: str
    process: subprocess.Popen[str]
    log: Path  # the stack's stdout and stderr: a file, so a chatty stack never blocks on a full pipe
    state: Path  # its record (cli/stack.py), one per stack: parallel test workers each run their own

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _read_banner(process: subprocess.Popen[str], log: Path) -> dict[str, str]:
    banner: dict[str, str] = {}
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and "service-manager key" not in banner:
        for line in log.read_text(errors="replace").splitlines():
            name, sep, value = line.partition(": ")
            if sep:
                banner[name.strip()] = value.strip()
        if "service-manager key" in banner:
            break
        if process.poll() is not None:
            raise RuntimeError(f"touchplan run exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    if "service-manager key" not in banner:
        raise RuntimeError("touchplan run did not print its banner in time")
    return banner


def start_stack(extra_env: dict[str, str] | None = None) -> RunningStack:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOUCHPLAN_", "AWS_"))}
    env.update({"TOUCHPLAN_API_PORT": "0", "TOUCHPLAN_MOTO_PORT": "0", "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    command = ["-m", "cli.main", "run"]
    if os.environ.get(travel.ENV):  # the stack's clock goes on from the tests' moved clock, not from the start
        env[travel.ENV] = datetime.now(UTC).isoformat()
        command = ["-m", "tests.travel", *command[1:]]
    handle, name = tempfile.mkstemp(prefix="touchplan-run-", suffix=".log")
    log = Path(name)
    env.setdefault("TOUCHPLAN_LOCAL_STATE", str(log.with_suffix(".json")))
    with os.fdopen(handle, "w") as out:
        process = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
    try:
        banner = _read_banner(process, log)
    except Exception:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.unlink(missing_ok=True)
        raise
    return RunningStack(banner["API"], banner["moto"], banner["service-manager key"], process, log,
                        Path(env["TOUCHPLAN_LOCAL_STATE"]))


def stop_stack(stack: RunningStack, timeout: float = 30) -> int:
    """Ctrl-C, as a user stops `make run`; past `timeout` the whole process group is killed and this raises with
    the end of the stack's output, every thread's stack included (SIGUSR1: cli/local.py)."""
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stack.process.send_signal(signal.SIGUSR1)
        time.sleep(1)
        os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        tail = "\n".join(stack.log_text().splitlines()[-150:])
        raise AssertionError(f"the stack did not stop within {timeout} s of Ctrl-C; its output ends:\n{tail}") from None
    finally:
        stack.log.unlink(missing_ok=True)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URLs only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URLs only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
