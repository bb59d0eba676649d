"""Pixel measures the whole project shares: BT.601 luma, a Reinhard colour match and how soft edges are.

A low layer: stages, editors and the eval all use these, so "how bright" and "the same colour" mean one
thing everywhere.
"""
from __future__ import annotations

import cv2
import numpy as np

from .jit import compiled

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


def edge_blur(grey: np.ndarray, reblur: float, share: float, least: float) -> float | None:
    """How blurred the strongest edges of a grey float32 image are, as a Gaussian's variance (px²), by Zhuo &
    Sim's defocus estimate: a step edge blurred by σ keeps 1/√(1 + (R/σ)²) of its gradient when blurred again
    by R (`reblur`); read off the edges, the pixels whose gradient is at or above both its `share`-quantile and
    `least` (Sobel, grey levels). None for fewer than 8 edges or an image under 8 px."""
    if min(grey.shape) < 8:
        return None

    def grad(a):
        return cv2.magnitude(cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3))

    r = _edge_ratio(grad(grey), grad(cv2.GaussianBlur(grey, (0, 0), reblur)), share, least)
    return None if r < 0 else reblur ** 2 / max(r * r - 1, 1e-3)


@compiled
def _edge_ratio(m0, m1, share, least):  # pragma: no cover (compiled)
    """edge_blur's reading of two gradient magnitudes (h, w) float32: the median of m0 / max(m1, 1e-3) over the
    edges (m0 at or above its `share`-quantile and `least`), as `quantile` reads both; −1 for fewer than 8
    edges. numpy's steps in their precision (float32 ratios), in one call instead of about a dozen."""
    flat, blurred = m0.ravel(), m1.ravel()
    n = len(flat)
    k = min(int(share * n), n - 1)
    floor = np.float32(max(np.float64(np.partition(flat, k)[k]), least))   # exact: a float32 or `least`
    ratio = np.empty(n, np.float32)
    count = 0
    for i in range(n):
        if flat[i] >= floor:
            ratio[count] = flat[i] / max(blurred[i], np.float32(1e-3))
            count += 1
    if count < 8:
        return -1.0
    k = min(int(0.5 * count), count - 1)
    return np.float64(np.partition(ratio[:count], k)[k])
