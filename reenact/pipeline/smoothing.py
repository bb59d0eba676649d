"""One Euro filter (Casiez, Roussel & Vogel, CHI 2012) over arrays, timed by frame pts, never the clock."""
from __future__ import annotations

import math

import numpy as np

from ..config import OneEuroConfig


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Adaptive low-pass: steady at rest (min_cutoff), little lag when moving fast (beta)."""

    def __init__(self, cfg: OneEuroConfig):
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self._x is None or self._t is None or t <= self._t:
            # first sample, or time did not advance (still image, repeated pts): nothing to filter against
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.cfg.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.cfg.min_cutoff + self.cfg.beta * np.abs(self._dx)
        tau = 1.0 / (2.0 * np.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.astype(np.float32)
