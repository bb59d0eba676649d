"""The procedural eye fill: sclera and a round iris where a raised lid uncovers what the source never showed."""
from __future__ import annotations

import numpy as np

from ...stages.landmarks import LEFT_IRIS, RIGHT_IRIS
from .deform import Deformation, HoleLayer
from .fills import light, median, percentile
from .mesh import HOLES

# defaults for an eye that shows no sclera or iris to sample (RGB, before matching the face's light)
SCLERA_RGB = np.array([226, 220, 214], np.float32)
IRIS_RGB = np.array([70, 50, 40], np.float32)


def eye_fill(crop: np.ndarray, src_lm: np.ndarray, d: Deformation, hole: HoleLayer) -> np.ndarray:
    """(h, w, 3) float32 for an eye box: sclera with the iris as a disc (never stretched), lid shadow on top."""
    x0, y0, x1, y1 = hole.box
    iris = RIGHT_IRIS if hole.name == "right_eye" else LEFT_IRIS
    c = src_lm[iris[0], :2]
    r = float(np.mean(np.linalg.norm(src_lm[list(iris[1:]), :2] - c, axis=1)))
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    dist = np.sqrt((gx - c[0]) ** 2 + (gy - c[1]) ** 2)
    region = crop[y0:y1, x0:x1].astype(np.float32)
    seen = ~hole.missing & hole.inside
    in_iris = dist <= r
    sclera_px = region[seen & ~in_iris]
    iris_px = region[seen & (dist <= 0.8 * r)]
    # the face's light only for the defaults (it costs as much as the rest of the colours)
    level = light(crop, src_lm) if len(sclera_px) < 4 or len(iris_px) < 4 else None
    sclera = (percentile(sclera_px, 75) if len(sclera_px) >= 4 else SCLERA_RGB * level)
    iris_rgb = median(iris_px) if len(iris_px) >= 4 else IRIS_RGB * level
    a = np.clip(r + 0.5 - dist, 0, 1)                             # antialiased iris edge
    pupil = np.clip(0.42 * r + 0.5 - dist, 0, 1)
    # channels first, so every product runs along whole rows (numpy broadcasting over a trailing axis of 3 costs
    # several times more)
    eye = sclera[:, None, None] * (1 - a) + iris_rgb[:, None, None] * a
    eye = eye * (1 - 0.6 * pupil)
    # the lid casts a shadow on the eyeball just below its margin
    top = np.array([d.dst[list(HOLES[hole.name]), 1].min()], np.float32)
    shadow = 1 - 0.35 * np.exp(-np.maximum(gy - top, 0) / max(0.2 * r, 0.5))
    return np.ascontiguousarray(np.clip(eye * shadow, 0, 255).astype(np.float32).transpose(1, 2, 0))
