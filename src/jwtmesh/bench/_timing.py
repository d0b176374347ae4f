"""Timing helpers: nanosecond clocks, GC off in tight loops, robust statistics.

Everything compared in one section is interleaved (round-robin blocks with a
rotating start), so drift on a shared machine hits every contender alike.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "Stats",
    "gc_paused",
    "percentile",
    "rotate",
    "settle",
    "stats",
    "time_block",
    "time_calls",
]

clock = time.perf_counter_ns
T = TypeVar("T")


@dataclass(frozen=True)
class Stats:
    """Summary of a sample of durations, in microseconds."""

    n: int
    median_us: float
    p99_us: float
    mean_us: float
    min_us: float


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)

    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def stats(samples_ns: Sequence[float]) -> Stats:
    """Median, p99, mean and minimum of ``samples_ns``, converted to microseconds."""
    us = [s / 1000.0 for s in samples_ns]

    return Stats(
        n=len(us),
        median_us=statistics.median(us),
        p99_us=percentile(us, 99),
        mean_us=statistics.fmean(us),
        min_us=min(us),
    )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the garbage collector off for the block (it catches up between blocks).

    No collection on entry: a full one costs tens of milliseconds once the
    web stack is imported; :func:`settle` does it once per section instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle() -> None:
    """One full collection before a section starts measuring."""
    gc.collect()


def time_calls(func: Callable[[int], object], count: int) -> list[int]:
    """Time ``func(i)`` for i in range(count), one duration (ns) per call."""
    samples = [0] * count
    for i in range(count):
        start = clock()
        func(i)
        samples[i] = clock() - start

    return samples


def time_block(func: Callable[[], object], count: int) -> float:
    """Mean duration (ns) of ``func()`` over ``count`` back-to-back calls.

    One clock read per block keeps the timer's own cost out of sub-microsecond
    measurements.
    """
    start = clock()
    for _ in range(count):
        func()

    return (clock() - start) / count


def rotate(items: Sequence[T], shift: int) -> list[T]:
    """``items`` starting at position ``shift``: each repeat starts with another contender."""
    if not items:
        return []
    k = shift % len(items)

    return [*items[k:], *items[:k]]
