"""`touchplan keys create` finds the running local stack by itself (cli/stack.py), and says in one line when
there is none."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cli import provision, stack
from cli.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keys_create(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: no AWS or touchplan settings in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOUCHPLAN_"))}
    env["TOUCHPLAN_LOCAL_STATE"] = str(state)
    return subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--role", "ingest", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def moto_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStack]:
    """A moto server on a free port with the local stage's tables, recorded as `touchplan run` records it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            provision.deploy(boto3.session.Session(), "local", "eu-west-1")
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        monkeypatch.setenv("TOUCHPLAN_LOCAL_STATE", str(tmp_path / "local.json"))
        running = RunningStack(url, "http://127.0.0.1:1", "local", "eu-west-1", os.getpid())
        stack.record(running)
        yield running
    finally:
        server.stop()


def test_keys_create_finds_the_running_local_stack(moto_stack: RunningStack, tmp_path: Path) -> None:
    done = _keys_create(tmp_path / "local.json")

    assert done.returncode == 0, done.stderr
    key = done.stdout.splitlines()[-1]
    assert key.startswith("tp_")
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_stack.endpoint_url, region_name="eu-west-1",
                            aws_access_key_id="local", aws_secret_access_key="local")
    roles = [item["role"]["S"] for item in dynamodb.scan(TableName="local-api-keys")["Items"]]
    assert roles == ["ingest"]


def test_with_no_stack_keys_create_says_so_in_one_line(tmp_path: Path) -> None:
    done = _keys_create(tmp_path / "nothing-here.json")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no local stack is running" in done.stderr


def test_a_record_left_by_a_killed_stack_is_no_stack(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = tmp_path / "local.json"
    state.write_text(f'{{"endpoint_url": "http://127.0.0.1:{_free_port()}", "api_url": "http://127.0.0.1:1", '
                     f'"stage": "local", "region": "eu-west-1", "pid": {gone.pid}}}')
    done = _keys_create(state)
    assert done.returncode == 1 and "no local stack is running" in done.stderr


def test_a_record_is_forgotten_only_by_the_stack_that_wrote_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOUCHPLAN_LOCAL_STATE", str(tmp_path / "local.json"))
    stack.record(RunningStack("http://127.0.0.1:5000", "http://127.0.0.1:8000", "local", "eu-west-1", 4242))
    stack.forget(os.getpid())  # another stack stopping leaves it
    assert (tmp_path / "local.json").exists()
    stack.forget(4242)
    assert not (tmp_path / "local.json").exists()
    (tmp_path / "local.json").write_text("{not json")
    assert stack.local_endpoint() is None
