"""The median time of a call, after warm-up calls: the one timing loop the benchmarks share."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(fn: Callable[[], object], steps: int, warmup: int = 2,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Median milliseconds of ``steps`` calls of ``fn`` after ``warmup`` untimed ones, by ``clock`` (wall clock by
    default; ``time.process_time`` for this process's CPU time, robust when other jobs share the machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t = clock()
        fn()
        times.append(clock() - t)
    return 1000 * statistics.median(times)
