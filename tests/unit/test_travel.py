"""`make test-any-date` moves the clock of the pytest process and of the local stack the e2e tests start."""

import os
import subprocess
import sys
from pathlib import Path

from tests import travel

ROOT = Path(__file__).resolve().parents[2]


def test_a_module_run_through_the_travel_runner_sees_the_moved_clock() -> None:
    env = {**os.environ, travel.ENV: "2031-07-01T12:00:00+00:00"}
    # `python -m calendar` prints the calendar of the current year: the year the clock says.
    done = subprocess.run([sys.executable, "-m", "tests.travel", "calendar"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.split()[0] == "2031"


def test_without_the_variable_nothing_moves(monkeypatch) -> None:
    monkeypatch.delenv(travel.ENV, raising=False)
    assert travel.start() is False
