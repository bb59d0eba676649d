"""Pixel measures the whole project shares: BT.601 luma and a Reinhard colour match.

A low layer: stages, editors and the eval all use these, so "how bright" and "the same colour" mean one
thing everywhere.
"""
from __future__ import annotations

import cv2
import numpy as np

LUMA_BT601 = (0.299, 0.587, 0.114)
# the colour match never scales a channel's spread by more than this (either way): a weight that covers a
# flat patch must not blow up noise or flatten texture
MAX_SPREAD_GAIN = 2.0
# least total weight for statistics worth matching (pixels)
MIN_WEIGHT = 4.0


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB values (..., 3) → (...). Float input keeps its precision; integers become float64."""
    x = np.asarray(rgb)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    return x @ np.asarray(LUMA_BT601, x.dtype)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L 0–100) of RGB in 0–255, in float32 so nothing is quantised on the way."""
    return cv2.cvtColor(np.clip(np.asarray(rgb, np.float32) * np.float32(1 / 255), 0, 1), cv2.COLOR_RGB2LAB)


def _stats(lab: np.ndarray, w: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and spread per channel of Lab pixels (n, 3) by weights (n,) that sum to `total`."""
    w = w[:, None]
    mean = (lab * w).sum(0) / total
    return mean, np.sqrt(((lab - mean) ** 2 * w).sum(0) / total)


def _weighted(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Where float32 weights (h, w) are not 0, those weights and their sum over the whole array. The statistics
    read only these pixels: numpy sums a whole image's zero products in the same running order, so leaving
    them out changes no bit and spares the Lab conversion of a reference that only a ring weights."""
    w = w.astype(np.float32)
    at = w != 0
    return at, w[at], float(w.sum())


def match_color(img: np.ndarray, ref: np.ndarray, weight: np.ndarray, ref_weight: np.ndarray | None = None
                ) -> np.ndarray:
    """Reinhard transfer in CIE Lab: `img`'s per-channel mean and spread where `weight` set to `ref`'s where
    `ref_weight` (default `weight`; `ref` may be another size then). Returns `img`'s dtype: uint8 rounded,
    float in 0–255. Too little weight on either side returns `img` unchanged."""
    ref_weight = weight if ref_weight is None else ref_weight
    if float(weight.sum()) < MIN_WEIGHT or float(ref_weight.sum()) < MIN_WEIGHT:
        return img
    a = _lab(img)
    at, w, total = _weighted(weight)
    ma, sa = _stats(a[at], w, total)
    at, w, total = _weighted(ref_weight)
    mb, sb = _stats(_lab(ref[at][:, None])[:, 0], w, total)
    gain = np.clip((sb + 0.5) / (sa + 0.5), 1 / MAX_SPREAD_GAIN, MAX_SPREAD_GAIN).astype(np.float32)
    out = cv2.cvtColor((a - ma.astype(np.float32)) * gain + mb.astype(np.float32), cv2.COLOR_LAB2RGB) * 255
    if img.dtype == np.uint8:
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return np.clip(out, 0, 255).astype(img.dtype)
