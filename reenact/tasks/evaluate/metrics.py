"""Image and AU metrics of the eval: BT.601 luma, SSIM, PSNR, L1, flicker, face regions, AU errors."""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ...imaging import luma
from ...stages.compositor import hull_mask
from ...stages.landmarks import LIPS_OUTER
from ...config import CompositorConfig
from ...stages.targets import Target
from ...pipeline.types import AU_INDEX, AU_NAMES, AUVector


_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
# the reconstruction eval's mouth region: the lips' hull grown by this much (crop px at 256²), where the
# expression change is
MOUTH_GROW_PX = 7
_SSIM_RADIUS = 5  # of the 11×11 window


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two images' luma: Gaussian 11×11 window, σ 1.5, K1 0.01, K2 0.03, L 255."""
    x, y = luma(a), luma(b)

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + _C1) * (2 * sxy + _C2)) / ((mx * mx + my * my + _C1) * (sxx + syy + _C2))


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (slice(max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)),
            slice(max(xs.min() - pad, 0), min(xs.max() + pad + 1, w)))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM, over `mask` (bool) when given; NaN for an empty mask."""
    if mask is None:
        return float(ssim_map(a, b).mean())
    if not mask.any():
        return math.nan
    # the window's reach around the mask: the same values as on the whole image, at a fraction of the cost
    box = _bbox(mask, _SSIM_RADIUS)
    return float(ssim_map(a[box], b[box])[mask[box]].mean())


def psnr_of_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _squared_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return (d if mask is None else d[mask]) ** 2


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all channels (over `mask` when given); inf when bit-exact."""
    return psnr_of_mse(float(_squared_error(a, b, mask).mean()))


def l1(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference in grey levels over all channels (over `mask` when given)."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float((d if mask is None else d[mask]).mean())


def frame_flicker(prev: np.ndarray, cur: np.ndarray, mask: np.ndarray) -> float:
    """Mean |Δ luma| between two consecutive frames inside `mask`."""
    box = _bbox(mask, 0)
    return float(np.abs(luma(cur[box]) - luma(prev[box]))[mask[box]].mean())


def flicker(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None) -> float:
    """Mean frame-to-frame |Δ luma| of a clip, frame t against t−1 inside mask t (whole frame when
    `masks` is None; a None mask skips the pair)."""
    vals = [frame_flicker(frames[t - 1], frames[t],
                          np.ones(frames[t].shape[:2], bool) if masks is None else masks[t])
            for t in range(1, len(frames)) if masks is None or masks[t] is not None]
    return float(np.mean(vals)) if vals else math.nan


def face_masks(landmarks: np.ndarray, shape: tuple[int, ...], cfg: CompositorConfig = CompositorConfig()
               ) -> tuple[np.ndarray, np.ndarray]:
    """(face region, may change) as bool (H, W): the compositor's hull mask ≥ 0.5, and > 0.

    The hull mask's Gaussian tail reaches about 4σ (a few pixels more where it is blurred at reduced
    resolution) and the compositor stops at 1/512 (2.9σ), so outside the support is background with a
    margin for the crop↔image resampling.
    """
    h, w = shape[:2]
    m = hull_mask(landmarks, max(h, w), cfg)[:h, :w]
    return m >= 0.5, m > 0


def mouth_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool: the outer lips' hull grown by MOUTH_GROW_PX."""
    m = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks[list(LIPS_OUTER), :2]).astype(np.int32)), 1)
    k = 2 * MOUTH_GROW_PX + 1
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0


def au_errors(target: Target, strength: float, before: AUVector, after: AUVector,
              video: bool = False) -> tuple[float, float]:
    """(AU error on the target's AUs, mean |change| of the others) of one reading pair."""
    intended = target.resolve(before, strength, video=video).clipped().values
    named = np.zeros(len(AU_NAMES), bool)
    named[[AU_INDEX[a] for a in target.named]] = True
    err = np.abs(after.values - intended)[named]
    other = np.abs(after.values - before.values)[~named]
    return float(err.mean()) if err.size else math.nan, float(other.mean()) if other.size else math.nan


def _mean(xs: Sequence[float]) -> float:
    return float(np.nanmean(xs)) if len(xs) and not np.all(np.isnan(xs)) else math.nan
