"""Simulation throughput: contact-days per CPU-second of `touchplan simulate`, on the memory store and on moto.

The memory run is the issue's size, 1,000 contacts x 60 days with 15-minute ticks, on the in-memory store and
the in-memory providers (cli/simulate/fakes.py). The moto run is smaller (30 x 5 by default: moto costs about
a CPU-second per simulated hour), for the figure beside it. CPU time is the process's, around `simulate()`.

The memory run is profiled by sampling (every 5 ms of CPU, so the figure stays the unprofiled one): the top 5
functions by own time and by time spent inside them. A progress bar with the rate and an ETA goes to stderr.

Ends with `RESULT simulate_contact_days_per_cpu_second=<memory figure> goal=>=2000`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# isort: split
from cli.simulate import simulation_environment
from cli.simulate.engine import Options, ProgressBar, simulate

ROOT = Path(__file__).resolve().parents[1]
GOAL = 2000
INTERVAL = 0.005


class Sampler:
    """A statistical profile: on every INTERVAL of CPU, the running function and every function on the stack
    (code objects while sampling, names at the end, so a sample costs microseconds)."""

    def __init__(self) -> None:
        self.own: Counter[CodeType] = Counter()
        self.inside: Counter[CodeType] = Counter()
        self.samples = 0

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        self.samples += 1
        if frame is None:
            return
        self.own[frame.f_code] += 1
        seen = set()
        while frame is not None:
            seen.add(frame.f_code)
            frame = frame.f_back
        self.inside.update(seen)

    @contextmanager
    def running(self) -> Iterator[None]:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
            signal.signal(signal.SIGPROF, signal.SIG_DFL)

    def top(self, counter: Counter[CodeType], count: int = 5, ours: bool = False) -> list[str]:
        rows = [(_name(code), n) for code, n in counter.most_common()]
        rows = [(name, n) for name, n in rows if not ours or _ours(name)]
        return [f"  {n / self.samples:6.1%}  {name}" for name, n in rows[:count]]


def _name(code: CodeType) -> str:
    return f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"


def _short(path: str) -> str:
    if path.startswith(str(ROOT)):
        return path[len(str(ROOT)) + 1:]
    return path.split("site-packages/")[-1].split("lib/python3")[-1]


def _ours(name: str) -> bool:
    """Project code below the run's own loop (the engine's simulate, the CLI and this bench contain everything)."""
    return name.startswith(("chalicelib/", "functions/", "cli/", "app.py")) and "(simulate)" not in name and (
        "bench/" not in name)


def measure(label: str, contacts: int, days: int, store: str, seed: int, sampler: Sampler | None = None) -> float:
    bar = ProgressBar(contacts, days, label)
    options = Options(contacts=contacts, days=days, seed=seed, store=store, progress=bar)
    with simulation_environment(None):
        started = time.process_time()
        if sampler is None:
            run = simulate(options)
        else:
            with sampler.running():
                run = simulate(options)
        seconds = time.process_time() - started
    rate = contacts * days / seconds
    print(f"\r{label}: {contacts} contacts x {days} days, {len(run.messages):,} messages in {seconds:,.1f} CPU-s: "
          f"{rate:,.0f} contact-days per CPU-second" + " " * 30, file=sys.stderr)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--moto-contacts", type=int, default=30)
    parser.add_argument("--moto-days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    sampler = Sampler()
    memory = measure("memory", args.contacts, args.days, "memory", args.seed, sampler)
    moto = measure("moto", args.moto_contacts, args.moto_days, "moto", args.seed)
    print(f"\nmemory store: {memory:,.0f} contact-days per CPU-second ({args.contacts} x {args.days})")
    print(f"moto store:   {moto:,.0f} contact-days per CPU-second ({args.moto_contacts} x {args.moto_days}); "
          f"memory is {memory / moto:,.0f}x")
    print(f"\ntop 5 of the memory run's profile by own time ({sampler.samples:,} samples of {INTERVAL * 1000:.0f} ms):")
    print("\n".join(sampler.top(sampler.own)))
    print("top 5 project functions by time inside them:")
    print("\n".join(sampler.top(sampler.inside, ours=True)))
    print(f"RESULT simulate_contact_days_per_cpu_second={memory:.0f} goal=>={GOAL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
