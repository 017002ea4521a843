"""Cold start: import time of each Lambda entry module over a bare `import boto3`, in fresh processes.

Prints the medians and the worst ratio, and ends with `RESULT coldstart_ratio=<worst> goal=1.20`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
ENTRIES = ("app", "functions.queues", "functions.schedules")
GOAL = 1.20

PROBE = (
    "import time, importlib, sys; t = time.perf_counter(); importlib.import_module(sys.argv[1]); "
    "print(time.perf_counter() - t)"
)
# For the record, not the goal: what the step worker's first message adds on top of the import (its services,
# boto3, the strategy file), since each Lambda loads its handler's services on first use.
FIRST_STEP = (
    "import time; t = time.perf_counter(); import functions.queues, chalicelib.services.steps, "
    "chalicelib.services.doi, boto3; from chalicelib.strategy.loader import load_strategy; load_strategy(); "
    "print(time.perf_counter() - t)"
)


def timed(code: str, *args: str) -> float:
    env = {**os.environ, "TOUCHPLAN_STAGE": "bench", "AWS_DEFAULT_REGION": "eu-west-1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def timed_import(module: str) -> float:
    return timed(PROBE, module)


def main() -> None:
    # Warm the bytecode caches once so every measured run compares like with like.
    for module in ("boto3", *ENTRIES):
        timed_import(module)
    samples: dict[str, list[float]] = {m: [] for m in ("boto3", *ENTRIES)}
    for _ in range(RUNS):
        for module in samples:
            samples[module].append(timed_import(module))
    baseline = statistics.median(samples["boto3"])
    print(f"import boto3: median {baseline * 1000:.1f} ms over {RUNS} fresh processes")
    worst = 0.0
    for module in ENTRIES:
        median = statistics.median(samples[module])
        ratio = median / baseline
        worst = max(worst, ratio)
        print(f"import {module}: median {median * 1000:.1f} ms, ratio {ratio:.2f}")
    first_step = statistics.median(timed(FIRST_STEP) for _ in range(RUNS))
    print(f"on_step import plus its first message's services and strategy: median {first_step * 1000:.1f} ms, "
          f"ratio {first_step / baseline:.2f} (for the record)")
    print(f"RESULT coldstart_ratio={worst:.2f} goal={GOAL:.2f}")


if __name__ == "__main__":
    main()
