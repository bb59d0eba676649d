"""Which bank frames answer a request, per region, and how the answer is kept steady in time.

Distance to a bank frame: the squared AU differences over the region's AUs, plus a head-pose term (a
frame seen from the same angle shades and hides the same way). The k nearest get Gaussian weights whose
width is the nearest one's distance (at least H_MIN_AU), so an exact match dominates and a query between
frames blends them. Ties go to the earlier frame (a stable sort): the same query always gets the same
answer.

In video, answers are eased over pts time: each new answer fades in with time constant FADE_S (no
popping from one exemplar to the next), and frames already in the answer are favoured by HYSTERESIS_AU2,
so a rival must be clearly nearer to take over while the query jitters between two.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .bank import Bank
from .regions import Region

# squared AU-distance worth one degree² of head-pose difference
POSE_WEIGHT = 0.1
# the weights' width never drops below this (AU): readings jitter by about this much
H_MIN_AU = 0.5
# favour for frames already in the previous answer (AU²)
HYSTERESIS_AU2 = 0.1
# time constant of the cross-fade between answers (s of pts)
FADE_S = 0.1
# a track unseen for this long starts over, as after a cut
MAX_GAP_S = 0.5
# weights below this share are dropped after fading, so an answer stays a few frames
MIN_SHARE = 0.02


class Retriever:
    def __init__(self, bank: Bank):
        self.keys = bank.keys
        self.pose = bank.pose

    def nearest(self, query: np.ndarray, region: Region, pose: np.ndarray, k: int, *,
                favour: np.ndarray | None = None, exclude: np.ndarray | None = None) -> np.ndarray:
        """(N,) weights summing to 1 on the k frames nearest `query` (17 AUs) for `region`, seen at `pose`
        (yaw, pitch). `favour`: the previous answer (its frames get the hysteresis margin); `exclude`:
        (N,) bool, frames that may not answer (training leaves a target's neighbours out)."""
        idx = region.index
        d2 = ((self.keys[:, idx] - query[idx]) ** 2).sum(1) + POSE_WEIGHT * ((self.pose - pose) ** 2).sum(1)
        rank = d2 if favour is None else d2 - HYSTERESIS_AU2 * (favour > 0)
        if exclude is not None:
            rank = np.where(exclude, np.inf, rank)
        order = np.argsort(rank, kind="stable")[:k]
        order = order[np.isfinite(rank[order])]
        w = np.zeros(len(d2), np.float64)
        if len(order):
            width2 = max(float(d2[order[0]]), H_MIN_AU ** 2)
            w[order] = np.exp(-0.5 * (rank[order] - rank[order[0]]) / width2)
            w /= w.sum()
        return w


@dataclass
class Fade:
    """One track's eased answers, by (region, role)."""

    time: float
    answers: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    def step(self, t: float) -> float:
        """Advance to pts time t; the share a new answer gets now (1: start over)."""
        dt, self.time = t - self.time, t
        if dt <= 0 or dt > MAX_GAP_S:
            self.answers.clear()
            return 1.0
        return 1.0 - math.exp(-dt / FADE_S)

    def ease(self, key: tuple[str, str], new: np.ndarray, share: float) -> np.ndarray:
        old = self.answers.get(key)
        w = new if old is None else share * new + (1 - share) * old
        w = np.where(w >= MIN_SHARE, w, 0.0)
        w /= max(float(w.sum()), 1e-12)
        self.answers[key] = w
        return w
