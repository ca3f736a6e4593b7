"""Latency statistics (mean, p50/p90/p99) and throughput for benchmark timings.

Durations go in as **seconds** (what ``time.perf_counter`` differences give) and come out as
**milliseconds** in :class:`LatencySummary`. Percentiles use linear interpolation between the
closest ranks - the default of ``numpy.percentile`` - so p50 of ``[1, 2, 3, 4]`` is 2.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

__all__ = ["LatencyRecorder", "LatencySummary", "percentile", "summarize_latencies", "throughput"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` with linear interpolation."""
    if not values:
        raise ValueError("percentile of an empty sequence is undefined; record some timings")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must lie in [0, 100], got {q!r}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


@dataclass(frozen=True)
class LatencySummary:
    """Summary of per-call latencies, in milliseconds, and calls per second."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float
    #: calls per second if the calls ran back to back: ``count / sum(durations)``.
    throughput_per_s: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize_latencies(durations_s: Sequence[float]) -> LatencySummary:
    """Summarize per-call durations given in seconds."""
    if not durations_s:
        raise ValueError("no latencies to summarize; time at least one call")
    negative = [d for d in durations_s if d < 0]
    if negative:
        raise ValueError(f"latencies must be >= 0 seconds, got {negative[:3]}")
    ms = [d * 1000.0 for d in durations_s]
    total_s = sum(durations_s)
    return LatencySummary(
        count=len(ms),
        mean_ms=sum(ms) / len(ms),
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        min_ms=min(ms),
        max_ms=max(ms),
        throughput_per_s=throughput(len(ms), total_s) if total_s > 0 else math.inf,
    )


def throughput(num_items: int, elapsed_s: float) -> float:
    """Items per second; e.g. ``throughput(len(queries), wall_seconds)``."""
    if num_items < 0:
        raise ValueError(f"num_items must be >= 0, got {num_items}")
    if not elapsed_s > 0:
        raise ValueError(f"elapsed time must be > 0 seconds, got {elapsed_s!r}")
    return num_items / elapsed_s


@dataclass
class LatencyRecorder:
    """Collects durations with a context manager::

    recorder = LatencyRecorder()
    for query in queries:
        with recorder.measure():
            retriever.search(query)
    print(recorder.summary())
    """

    durations_s: list[float] = field(default_factory=list)

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time the ``with`` block; a block that raises is not recorded."""
        start = time.perf_counter()
        yield
        self.durations_s.append(time.perf_counter() - start)

    def add(self, seconds: float) -> None:
        self.durations_s.append(seconds)

    def summary(self) -> LatencySummary:
        return summarize_latencies(self.durations_s)

    def __len__(self) -> int:
        return len(self.durations_s)
