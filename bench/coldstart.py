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


def timed_import(module: str) -> float:
    env = {**os.environ, "TOUCHPLAN_STAGE": "bench", "AWS_DEFAULT_REGION": "eu-west-1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


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
    print(f"RESULT coldstart_ratio={worst:.2f} goal={GOAL:.2f}")


if __name__ == "__main__":
    main()
