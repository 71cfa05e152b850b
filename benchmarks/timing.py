"""Timing helpers: a warm-up call (compilation excluded), then repeats; best and median wall time."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    best: float
    median: float
    repeats: int
    first: float  # the warm-up call (includes compilation / tracing)


def measure(fn, repeats: int = 3, budget_s: float = 20.0, warmup: bool = True) -> Timing:
    """Run ``fn`` once to warm up (timed as ``first``), then up to ``repeats`` times (fewer if the
    repeats would exceed ``budget_s``); wall-clock seconds."""
    t0 = time.perf_counter()
    if warmup:
        fn()
    first = time.perf_counter() - t0
    times = []
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) + first > budget_s:
            break
    return Timing(min(times), statistics.median(times), len(times), first)


def table(headers, rows) -> str:
    """A Markdown table (strings as given)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
