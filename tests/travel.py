"""`TOUCHPLAN_TEST_TRAVEL=<ISO time>` moves the wall clock of the test run to that time, ticking on from there.

`make test-any-date` sets it to prove that no test passes only near today's date. tests/conftest.py starts the
travel for the pytest process; `python -m tests.travel MODULE ARGS...` runs MODULE as `python -m` would, on
the same moved clock, so the local stack the e2e tests start sees the time the tests see.
"""

from __future__ import annotations

import os
import runpy
import sys
from datetime import datetime

import time_machine

ENV = "TOUCHPLAN_TEST_TRAVEL"


def start() -> bool:
    """Moves this process's wall clock (time.time, datetime.now, in every thread) when ENV is set."""
    destination = os.environ.get(ENV)
    if not destination:
        return False
    time_machine.travel(datetime.fromisoformat(destination), tick=True).start()
    return True


if __name__ == "__main__":
    start()
    module, *sys.argv[1:] = sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
