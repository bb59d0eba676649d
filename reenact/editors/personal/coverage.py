"""What an enrolment shows: per AU, how many frames reach each intensity, and what is missing.

An AU counts as covered when at least COVERED_FRAMES frames read it at COVERED_AU or more (FACS
"slight evidence" and up) on the bank's own scale; below that the bank has nothing to answer it with
and the editor can only move the face, not show it. Each missing AU gets a hint: the prompt that
records it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ...pipeline.types import AU_NAMES

COVERED_AU = 1.0
COVERED_FRAMES = 3
# intensity bins reported per AU: [1, 2), [2, 3), [3, 4), [4, 5]
BINS = (1.0, 2.0, 3.0, 4.0)


@dataclass(frozen=True)
class AUCoverage:
    name: str
    peak: float                  # highest reading in the bank
    counts: tuple[int, ...]      # frames per intensity bin (BINS)

    @property
    def covered(self) -> bool:
        return sum(self.counts) >= COVERED_FRAMES


@dataclass(frozen=True)
class Coverage:
    frames: int
    aus: tuple[AUCoverage, ...]

    @property
    def covered(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.aus if a.covered)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.aus if not a.covered)

    def report(self, hints: Mapping[str, str]) -> str:
        """The text of coverage.txt; `hints` maps an AU to the prompt that records it."""
        bins = ", ".join(f"{lo:g}–{hi:g}" for lo, hi in zip(BINS, BINS[1:] + (5.0,)))
        lines = [f"{self.frames} frames. Frames per intensity ({bins}); covered from {COVERED_FRAMES} frames "
                 f"at {COVERED_AU:g} or more.", ""]
        for a in self.aus:
            state = "covered" if a.covered else "MISSING"
            lines.append(f"{a.name}  {state:8s} peak {a.peak:.1f}  frames {' '.join(f'{c:3d}' for c in a.counts)}")
        if self.missing:
            lines += ["", f"missing: {', '.join(self.missing)}. To record them:"]
            asks: dict[str, list[str]] = {}
            for name in self.missing:
                asks.setdefault(hints.get(name, "make the expression that shows it"), []).append(name)
            lines += [f'  "{ask}" ({", ".join(names)})' for ask, names in asks.items()]
            lines.append("then enrol again with this footage added (`reenact enroll --video A.mp4 --video B.mp4 ...`).")
        return "\n".join(lines) + "\n"


def coverage(keys: np.ndarray) -> Coverage:
    """Coverage of (N, 17) AU readings in AU_NAMES order."""
    edges = np.array(BINS + (np.inf,))
    aus = []
    for k, name in enumerate(AU_NAMES):
        v = keys[:, k]
        counts = tuple(int(((v >= lo) & (v < hi)).sum()) for lo, hi in zip(edges, edges[1:]))
        aus.append(AUCoverage(name, float(v.max()) if len(v) else 0.0, counts))
    return Coverage(len(keys), tuple(aus))
