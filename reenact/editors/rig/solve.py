"""AU change → per-side basis coefficients.

The basis is calibrated per AU (`Basis.gain`, against real motion), so a change of δ in AU k is δ
units of basis k, clipped to the AU's anatomical limit.
"""
from __future__ import annotations

import numpy as np

from ...pipeline.types import AU_INDEX, AU_MAX, AUVector
from .basis import Basis

_AU12 = AU_INDEX["AU12"]
# the AUs that narrow the eyes: the cheek raiser and the lid tightener
NARROWING = (AU_INDEX["AU06"], AU_INDEX["AU07"])


def coefficients(source: AUVector, target: AUVector, basis: Basis,
                 side: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """Per-side coefficients (each (17,)) that move a face from `source` to `target` AUs."""
    delta = (target - source).values.astype(np.float64)
    delta[np.abs(delta) < 1e-3] = 0
    if side == "both":
        c = np.clip(delta, -basis.limit, basis.limit)
        return c, c
    # a unilateral target raises its AUs on one side; what relaxes (a whole-face target's other AUs
    # going to rest) relaxes on both. The AU vector is bilateral (the estimator averages the two
    # sides), so a rise on one side moves twice as far
    both = np.clip(np.minimum(delta, 0), -basis.limit, basis.limit)
    one = np.clip(np.where(delta > 0, 2 * delta, delta), -basis.limit, basis.limit)
    return (one, both) if side == "right" else (both, one)


def smile_share(source: AUVector, target: AUVector, rest: float = 1.0) -> float:
    """The share (0–1) of the face's own smile (AU12) that moving from `source` to `target` takes away: all
    of it where the target smiles not at all, whatever the still's reading (the mouth's shape says how far).
    A smile the reading missed (AU12 0) goes as far as `rest` takes the face (EditRequest.rest)."""
    was, goal = float(source.values[_AU12]), float(target.values[_AU12])
    if goal <= 0:
        return 1.0 if was > 0 else rest
    return (was - goal) / was if was > goal else 0.0


def narrowed(source: AUVector, least: float) -> float:
    """How far (AU units) the face's own reading narrows its eyes (AU6 + AU7), at least `least`
    (deform.NARROWED_MIN), at most the AU range: the fall that opens them all the way to rest."""
    return float(min(max(source.values[list(NARROWING)].sum(), least), AU_MAX))
