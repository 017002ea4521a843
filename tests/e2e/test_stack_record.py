"""`touchplan run` records where it runs and removes the record when it stops; `keys create` uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.e2e.stack import ROOT, start_stack, stop_stack


def test_run_records_the_stack_for_keys_create_and_forgets_it_on_exit(tmp_path: Path) -> None:
    state = tmp_path / "local.json"
    stack = start_stack({"TOUCHPLAN_LOCAL_STATE": str(state)})
    try:
        record = json.loads(state.read_text())
        assert (record["endpoint_url"], record["api_url"], record["stage"]) == (stack.moto, stack.api, "local")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TOUCHPLAN_"))}
        done = subprocess.run([sys.executable, "-m", "cli.main", "keys", "create", "--role", "ingest"], cwd=ROOT,
                              env={**env, "TOUCHPLAN_LOCAL_STATE": str(state)}, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        event = {"type": "site_visit", "id": "v-1", "contact": {"email": "nobody@example.com"},
                 "occurred_at": "2026-11-25T10:00:00+03:00", "properties": {}}
        request = urllib.request.Request(  # noqa: S310 - loopback URL only
            f"{stack.api}/v1/events", data=json.dumps(event).encode(), method="POST",
            headers={"Authorization": f"Bearer {done.stdout.splitlines()[-1]}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback URL only
            assert response.status == 202  # the new key is the running stack's
    finally:
        assert stop_stack(stack) == 0
    assert not state.exists()
