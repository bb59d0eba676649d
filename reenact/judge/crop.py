"""The face crop FaceExpressionNet expects, as face-api.js makes it from 68 landmarks.

1. box: the landmarks' min/max box, grown by 20 % of its width and height (10 % each side), clipped
   to the image, then x, y, width and height each floored;
2. the RGB crop zero-padded to a square, the extra row/column (odd difference) going after;
3. resized to 112×112 with TensorFlow's legacy bilinear sampling (`src = dst · in/out`, no half-pixel
   centres, no corner alignment), skipped when the square is already 112.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import NoFace, UnsupportedInput
from ..stages.landmarks import N_LANDMARKS, to_ibug68
from .net import INPUT_SIZE

BOX_PADDING = 0.2


def landmarks68(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG points in image pixels from a (478, 2|3) MediaPipe mesh or (68, 2|3) points."""
    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 2 or pts.shape[0] not in (N_LANDMARKS, 68) or pts.shape[1] not in (2, 3):
        raise UnsupportedInput(f"landmarks must be ({N_LANDMARKS}, 2|3) or (68, 2|3) image pixels, "
                               f"got shape {pts.shape}")
    if pts.shape[0] == N_LANDMARKS:
        pts = to_ibug68(pts)
    pts = pts[:, :2]
    if not np.isfinite(pts).all():
        raise UnsupportedInput("landmarks contain NaN or infinity")
    return pts


def face_box(pts68: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the crop in image pixels. Raises NoFace when it misses the image."""
    xs, ys = pts68[:, 0], pts68[:, 1]
    x0, y0 = float(xs.min()), float(ys.min())
    x1, y1 = max(float(xs.max()), 0.0), max(float(ys.max()), 0.0)   # face-api starts its max at 0
    bw, bh = x1 - x0, y1 - y0
    x, y = x0 - bw * BOX_PADDING / 2, y0 - bh * BOX_PADDING / 2
    right, bottom = x + bw + bw * BOX_PADDING, y + bh + bh * BOX_PADDING
    cx, cy = max(x, 0.0), max(y, 0.0)
    cw, ch = min(right - cx, width - cx), min(bottom - cy, height - cy)
    box = math.floor(cx), math.floor(cy), math.floor(cw), math.floor(ch)
    if box[2] <= 0 or box[3] <= 0:
        raise NoFace(f"the face box ({x:.0f}, {y:.0f}, {bw * 1.2:.0f}×{bh * 1.2:.0f}) lies outside "
                     f"the {width}×{height} image")
    return box


def pad_to_square(img: np.ndarray) -> np.ndarray:
    """Zero-pad the shorter side; of an odd difference the larger half goes after (bottom/right)."""
    h, w = img.shape[:2]
    if h == w:
        return img
    diff = abs(h - w)
    after = (diff + 1) // 2          # JavaScript's Math.round(diff / 2)
    before = diff - after
    pad = ((0, 0), (before, after)) if h > w else ((before, after), (0, 0))
    return np.pad(img, pad + ((0, 0),) * (img.ndim - 2))


def resize_bilinear_legacy(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TensorFlow's resize_bilinear(align_corners=False, half_pixel_centers=False), float32 out.

    Source coordinate `dst · in/out`; neighbours floor and min(ceil, in − 1); interpolated along x on
    the two rows, then along y, in float64 as tfjs's cpu backend does, stored as float32.
    """
    h, w = img.shape[:2]

    def taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = np.arange(n_out, dtype=np.float64) * (n_in / n_out)
        lo = np.floor(f).astype(np.intp)
        return lo, np.minimum(np.ceil(f).astype(np.intp), n_in - 1), f - lo

    y0, y1, fy = taps(h, out_h)
    x0, x1, fx = taps(w, out_w)
    extra = (1,) * (np.ndim(img) - 2)
    fx = fx.reshape((1, -1) + extra)
    fy = fy.reshape((-1, 1) + extra)
    rows = [np.asarray(img[r], np.float64) for r in (y0, y1)]   # gather first, convert only what is used
    top, bottom = (r[:, x0] + (r[:, x1] - r[:, x0]) * fx for r in rows)
    return (top + (bottom - top) * fy).astype(np.float32)


def face_input(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(112, 112, 3) float32 RGB 0..255: the box's crop, squared and resized."""
    x, y, w, h = box
    square = pad_to_square(image[y:y + h, x:x + w])
    if square.shape[0] == INPUT_SIZE:
        return square.astype(np.float32)
    return resize_bilinear_legacy(square, INPUT_SIZE, INPUT_SIZE)
