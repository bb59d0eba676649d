"""Capture-to-output latency of a live run: every frame stamped when captured and when the sink has it.

Stamps are `time.perf_counter()` seconds. The log keeps the last `keep` per-frame records (for the
panel's recent figures and for tests) and a fixed log-spaced histogram of the whole run, so a run of
any length has whole-run percentiles in constant memory.
"""
from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

# histogram bins: 1 % wide, from 0.1 ms to 100 s
_LO_S, _STEP = 1e-4, 1.01
_BINS = int(math.ceil(math.log(1e2 / _LO_S) / math.log(_STEP))) + 1


@dataclass(frozen=True)
class Stamp:
    """One delivered frame: its index and when it was captured and delivered (perf_counter s)."""

    index: int
    captured: float
    delivered: float

    @property
    def latency_s(self) -> float:
        return self.delivered - self.captured


@dataclass(frozen=True)
class LatencySummary:
    frames: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0

    def line(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, max {self.max_ms:.1f} ms"


class LatencyLog:
    """Written by the live runner's output thread, read by anyone (the panel, a soak probe): locked."""

    def __init__(self, keep: int = 4096):
        self._lock = threading.Lock()
        self._recent: deque[Stamp] = deque(maxlen=keep)
        self._hist = np.zeros(_BINS, np.int64)
        self._max = 0.0
        self._count = 0

    def record(self, index: int, captured: float, delivered: float) -> None:
        stamp = Stamp(index, captured, delivered)
        lat = max(stamp.latency_s, _LO_S)
        b = min(int(math.log(lat / _LO_S) / math.log(_STEP)), _BINS - 1)
        with self._lock:
            self._recent.append(stamp)
            self._hist[b] += 1
            self._max = max(self._max, stamp.latency_s)
            self._count += 1

    def stamps(self) -> list[Stamp]:
        """The most recent per-frame records, oldest first."""
        with self._lock:
            return list(self._recent)

    def summary(self, since: float | None = None) -> LatencySummary:
        """Whole run (histogram, 1 % resolution), or exact over recent frames delivered after `since`."""
        with self._lock:
            if since is not None:
                recent = itertools.takewhile(lambda s: s.delivered >= since, reversed(self._recent))
                lat = np.array([s.latency_s for s in recent])
                if not lat.size:
                    return LatencySummary()
                p50, p95 = np.percentile(lat, (50, 95))
                return LatencySummary(int(lat.size), 1e3 * p50, 1e3 * p95, 1e3 * float(lat.max()))
            if not self._count:
                return LatencySummary()
            cum = np.cumsum(self._hist)
            # a bin's upper edge: never reports less than the true percentile
            edge = [_LO_S * _STEP ** (int(np.searchsorted(cum, q * self._count)) + 1) for q in (0.5, 0.95)]
            return LatencySummary(self._count, 1e3 * min(edge[0], self._max), 1e3 * min(edge[1], self._max),
                                  1e3 * self._max)
