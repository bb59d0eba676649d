"""Is the asked expression recognised? The independent judges (reenact.judge) before and after an edit.

A pair (preset, face) counts only when the preset has a judge class and the face did not already show
it (the judge's top class on the input): every shared still already reads "happy", and a smile that was
there before proves nothing about the editor. Each judge decides for itself which pairs count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...judge import EXPRESSIONS, Judgement, default_judge

# a probability rise smaller than this (one percentage point) counts as none
RISE = 0.01
# the judges the eval asks, first the main one (the row's judge_* columns), then the second (fer_*)
JUDGES = ("faceapi", "fer")
# an output on which the tracker finds no face: not judged, and the pair is a miss
LOST = "lost"
# preset name → the judge's class (presets without one, such as contempt, are not judged)
JUDGE_CLASS = {"happy": "happy", "sad": "sad", "anger": "angry", "fear": "fearful", "disgust": "disgusted",
               "surprise": "surprised", "neutral": "neutral"}


@dataclass(frozen=True)
class Recognition:
    """The judge on one face before and after: P(asked class), the top class after, and the verdict."""

    asked: str               # the judge's class
    before: float            # P(asked) on the input
    after: float             # P(asked) on the output
    top: str                 # the judge's top class on the output ("lost": no face found on it)
    already: bool            # the input's top class was already the asked one: the pair does not count

    @property
    def gain(self) -> float:
        return self.after - self.before

    @property
    def recognised(self) -> bool | None:
        """None when the pair does not count."""
        return None if self.already else self.top == self.asked


def judge_faces(images: Sequence[np.ndarray], landmarks: Sequence[np.ndarray], model: str = "faceapi") -> np.ndarray:
    """The judge's mean probabilities (7,) over faces, one per image (e.g. a clip's frames)."""
    js = default_judge(model).judge_batch(list(images), list(landmarks))
    return np.mean([j.probabilities for j in js], axis=0)


def recognition(preset: str, before: np.ndarray | Judgement, after: np.ndarray | Judgement) -> Recognition | None:
    """The verdict for `preset` from the judge's probabilities before and after (None: not judged)."""
    asked = JUDGE_CLASS.get(preset)
    if asked is None:
        return None
    p0 = np.asarray(before.probabilities if isinstance(before, Judgement) else before)
    p1 = np.asarray(after.probabilities if isinstance(after, Judgement) else after)
    k = EXPRESSIONS.index(asked)
    top = LOST if np.isnan(p1).all() else EXPRESSIONS[int(np.argmax(p1))]
    return Recognition(asked, float(p0[k]), float(p1[k]), top, EXPRESSIONS[int(np.argmax(p0))] == asked)


def summary(rows: Sequence) -> str:
    """One line per judge: 'recognised k/n (pct)' over the eval rows whose pair counts (yes or no), per
    preset too, and on how many of them the asked class's probability rose."""
    return "\n".join([_summary(rows, "recognised", "judge_gain", "expression recognised"),
                      _summary(rows, "fer_recognised", "fer_gain", "expression recognised by the second judge (fer)")])


def _summary(rows: Sequence, said: str, gain: str, label: str) -> str:
    counted = [r for r in rows if getattr(r, said) in ("yes", "no")]
    if not counted:
        return f"{label}: no pair counts (no judged preset, or every face already showed it)"
    hit = sum(getattr(r, said) == "yes" for r in counted)
    rose = sum(getattr(r, gain) >= RISE for r in counted)
    per = [f"{p} {sum(getattr(r, said) == 'yes' for r in counted if r.preset == p)}/"
           f"{sum(r.preset == p for r in counted)}" for p in dict.fromkeys(r.preset for r in counted)]
    return (f"{label}: {hit}/{len(counted)} pairs ({100 * hit / len(counted):.0f} %) whose face "
            f"did not already show it ({', '.join(per)}); P(asked) rose by ≥ {RISE:g} on {rose}/{len(counted)}")
