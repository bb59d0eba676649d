"""Quality numbers for edited video: the flicker an edit adds.

flicker: mean absolute frame-to-frame change of grey level inside a region (both frames' masks).
added_flicker: that of the output minus that of the input over the same regions, so a talking face's
own motion cancels and what is left is what the edit added (issue: ≤ 1.0 grey level).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def flicker(frames: Iterable[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """Mean |Δ grey| between consecutive RGB frames where both frames' boolean masks are set."""
    total, count, prev, prev_mask = 0.0, 0, None, None
    for frame, mask in zip(frames, masks):
        grey = frame.astype(np.float32) @ _LUMA
        if prev is not None:
            both = mask & prev_mask
            total += float(np.abs(grey - prev)[both].sum())
            count += int(both.sum())
        prev, prev_mask = grey, mask
    return total / count if count else 0.0


def added_flicker(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
                  masks: Sequence[np.ndarray]) -> float:
    """Flicker of the outputs minus that of the inputs, in grey levels, inside the same masks."""
    return flicker(outputs, masks) - flicker(inputs, masks)
