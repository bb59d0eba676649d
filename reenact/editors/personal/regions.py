"""The face's three regions for per-region retrieval: which AUs each one answers to, and where it is.

A region is a soft horizontal band of the pose-free canonical frame (y down, unit inter-ocular
distance, the eye line at y ≈ 0): brows and forehead above the eyes, eyes and cheeks, mouth and jaw
below the nose. The bands sum to 1 everywhere, so blending one exemplar per region never adds up to more
than the face. The same weights serve the mesh (per vertex) and the pixels (per crop pixel, through
the face's own canonical fit), so a region moves and is repainted over the same area.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...pipeline.types import AU_INDEX
from ...stages.geometry import canonical_mesh, similarity_fit
from ...stages.landmarks import RIGID


@dataclass(frozen=True)
class Region:
    name: str
    aus: tuple[str, ...]
    # canonical y where the band ramps in (from above) and out (below); None: open-ended
    top: tuple[float, float] | None
    bottom: tuple[float, float] | None

    @property
    def index(self) -> np.ndarray:
        return np.array([AU_INDEX[a] for a in self.aus])

    def weight(self, y: np.ndarray) -> np.ndarray:
        """Band weight of canonical y values, smooth ramps at both ends."""
        w = np.ones_like(y, dtype=np.float32)
        if self.top is not None:
            w *= _smoothstep(y, *self.top)
        if self.bottom is not None:
            w *= 1 - _smoothstep(y, *self.bottom)
        return w


# Ramps meet: the brows' lower ramp is the eyes' upper one, the eyes' lower ramp the mouth's upper one.
# Upper lids (y ≈ −0.08) are the eyes'; the ramp above them carries the brows' pull on the lid skin.
# The cheeks (y ≈ 0.3) go with the eyes: AU6 raises them. From the nose's base down it is the mouth's.
_BROW_EYE = (-0.32, -0.14)
_EYE_MOUTH = (0.38, 0.62)
REGIONS = (
    Region("brows", ("AU01", "AU02", "AU04"), None, _BROW_EYE),
    Region("eyes", ("AU05", "AU06", "AU07", "AU45"), _BROW_EYE, _EYE_MOUTH),
    Region("mouth", ("AU09", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26"),
           _EYE_MOUTH, None),
)
# how far across the midline (canonical x) a one-sided edit fades out
SIDE_RAMP = 0.12


def _smoothstep(x: np.ndarray, a: float, b: float) -> np.ndarray:
    t = np.clip((np.asarray(x, np.float32) - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def side_weight(x: np.ndarray, side: str) -> np.ndarray | float:
    """Weight of canonical x for a one-sided edit (the subject's right is the image's left, x < 0)."""
    if side == "both":
        return 1.0
    right = 1 - _smoothstep(x, -SIDE_RAMP, SIDE_RAMP)
    return right if side == "right" else 1 - right


@lru_cache(maxsize=1)
def vertex_weights() -> np.ndarray:
    """(len(REGIONS), 478) per-vertex band weights on the population mesh: the same for every face."""
    y = canonical_mesh()[:, 1]
    w = np.stack([r.weight(y) for r in REGIONS])
    w.setflags(write=False)
    return w


def pixel_canonical(landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(2, h, w) canonical x, y of the crop pixels in box (x0, y0, x1, y1), through the 2D similarity of
    the face's rigid points onto the population mesh (expression does not move them)."""
    idx = list(RIGID)
    s, r, t = similarity_fit(landmarks[idx, :2], canonical_mesh()[idx, :2])
    x0, y0, x1, y1 = box
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    m = (s * r).astype(np.float32)
    return np.stack([m[0, 0] * gx + m[0, 1] * gy + t[0], m[1, 0] * gx + m[1, 1] * gy + t[1]]).astype(np.float32)
