"""What rendering every template costs: `touchplan strategy check` against loading the strategy without rendering.

Run: .venv/bin/python bench/strategy_check.py. Both runs read and validate the shipped strategy file from disk;
the check then renders every occasion x channel x locale x variant x field for the minimal and the full contact
in each situation (DOI, each chain with the minimal and full payload of its starting events). Each check starts
with an empty template cache, as a fresh process (the CLI, a cold Lambda) does. Median of several runs each.
"""

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.delivery.templates import TemplateRenderer, default_renderer
from chalicelib.strategy.loader import DEFAULT_PATH, parse_file
from chalicelib.strategy.rendering import template_errors
from cli.strategy import run_check

GOAL = 10.0
RUNS = 15


def median_seconds(run: Callable[[], object], runs: int = RUNS) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def check() -> None:
    default_renderer.cache_clear()  # nothing compiled yet, as in a fresh process
    with contextlib.redirect_stdout(io.StringIO()):
        assert run_check(argparse.Namespace(strategy=str(DEFAULT_PATH))) == 0


def main() -> None:
    strategy = parse_file(DEFAULT_PATH)
    renderer = TemplateRenderer(cache_size=4096)
    template_errors(strategy, renderer)
    sources = renderer._compile.cache_info().currsize
    check()  # imports and first-touch costs out of the way for both
    load = median_seconds(lambda: parse_file(DEFAULT_PATH))
    checked = median_seconds(check)
    warm = median_seconds(lambda: template_errors(strategy, renderer))
    print(f"shipped strategy: {len(strategy.occasions)} occasions, {sources} distinct template sources")
    print(f"load without rendering (YAML, shape, template syntax): {load * 1000:7.1f} ms")
    print(f"strategy check (load + render everything, cold cache):   {checked * 1000:7.1f} ms")
    print(f"rendering alone with every template compiled:            {warm * 1000:7.1f} ms")
    ratio = checked / load
    print(f"RESULT strategy_check_ratio={ratio:.1f} goal=<={GOAL:g}")


if __name__ == "__main__":
    main()
