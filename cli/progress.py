"""A one-line progress bar on stderr: done of total, rate and time left, redrawn at most a few times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, unit: str, stream: TextIO | None = None, every: float = 0.25) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.every = every
        self.started = time.monotonic()
        self.drawn = 0.0

    def show(self, done: int, note: str = "", final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.drawn < self.every:
            return
        self.drawn = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        line = (f"\r[{bar}] {done:,}/{self.total:,} {self.unit}  {rate:,.0f}/s  "
                f"{'done in' if final else 'ETA'} {_duration(elapsed if final else left)}  {note}")
        print(line, end="\n" if final else "", file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
