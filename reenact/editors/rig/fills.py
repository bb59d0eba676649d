"""What every fill shares: the face's light and skin colour, and anti-aliased coverage of a polygon.

Fills cover what a warp exposes (mouth.py, eyes.py) or replaces with remembered texture (memory.py);
each takes its brightness and colour cast from the face, so a dim or warm photo gets dim or warm fills.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ...imaging import edge_blur, luma
from ...jit import compiled

# the mid-tone skin luma the fills' default colours are written for
SKIN_LUMA = 170.0
# cheek skin's saturation (max − min) / max in a colour photo is at least this (0.2–0.76 over the shared, dev
# and other outside faces; 0 in a grey one)
SKIN_CHROMA = 0.15
# softness: the reblur a photo's edges are compared with (px), the share of a region's strongest gradients
# that count as its edges, the gradient (Sobel, grey levels) below which nothing is an edge, and what a
# sharp, pixel-limited image reads (px): the drawn fills already have that much
REBLUR_PX = 1.0
EDGE_SHARE = 0.1
MIN_EDGE = 32.0
SHARP_PX = 0.95
MAX_SOFT_PX = 2.0


# landmarks on the cheeks, where `skin` reads the skin's colour
_CHEEKS = np.array([117, 346, 50, 280, 101, 330], np.intp)


def skin(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Median RGB of cheek skin (float32)."""
    return _cheeks(crop, landmarks, _CHEEKS)


@compiled
def _cheeks(crop, landmarks, ids):  # pragma: no cover (compiled)
    """skin's median of six: the crop's pixels at the landmarks `ids` (rounded half to even, clipped to the
    crop), the mean of the middle two per channel in float32, as numpy's steps gave it (they cost ten times
    this loop, and skin is read several times an edit)."""
    px = np.empty((len(ids), 3), np.float32)
    last = crop.shape[0] - 1
    for i in range(len(ids)):
        x = min(max(int(np.rint(landmarks[ids[i], 0])), 0), last)
        y = min(max(int(np.rint(landmarks[ids[i], 1])), 0), last)
        for c in range(3):
            v = np.float32(crop[y, x, c])
            j = i
            while j > 0 and px[j - 1, c] > v:   # insertion sort: the same order statistics as np.sort
                px[j, c] = px[j - 1, c]
                j -= 1
            px[j, c] = v
    out = np.empty(3, np.float32)
    for c in range(3):
        out[c] = (px[2, c] + px[3, c]) / np.float32(2)
    return out


def saturation(rgb: np.ndarray) -> float:
    """One colour's saturation, (max − min) / max (0: grey)."""
    # its channels as Python floats: np.min and np.max cost several times the arithmetic (a few colours an edit)
    channels = np.asarray(rgb).tolist()
    lo, hi = min(channels), max(channels)
    return (hi - lo) / max(hi, 1.0)


def colourful(rgb: np.ndarray, typical: float) -> float:
    """How colourful (0 … 1) the photo is, by one of its colours: that colour's saturation against `typical`,
    the least it has in a colour photo (0: a grey photo)."""
    return min(max(saturation(rgb) / typical, 0.0), 1.0)


def toned(rgb: np.ndarray, chroma: float) -> np.ndarray:
    """A drawn colour as colourful as the photo (`chroma`, see `colourful`): its difference from its own grey
    scaled by it, so a grey photo gets grey teeth, whites and irises."""
    if chroma >= 1.0:
        return rgb
    grey = float(luma(rgb))
    return (grey + chroma * (rgb - grey)).astype(np.float32)


def light(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Per-channel gain (3,) of this photo's light relative to a neutral mid-tone skin."""
    return lit_by(skin(crop, landmarks))


def lit_by(s: np.ndarray) -> np.ndarray:
    """`light` from the cheeks' skin colour `s` (fills.skin), for a caller that reads that colour as well."""
    return float(luma(s)) / SKIN_LUMA * np.sqrt(s / max(float(s.mean()), 1.0))


def quantile(x: np.ndarray, q: float) -> float:
    """The q-quantile (0 … 1) of an array's values, the nearest rank (np.percentile costs ten times more)."""
    flat = np.ravel(x)
    k = min(int(q * len(flat)), len(flat) - 1)
    return float(np.partition(flat, k)[k])


def percentile(x: np.ndarray, q: float) -> np.ndarray:
    """np.percentile(x, q, axis=0) of an (n, c) float array (n ≥ 1), bit for bit: the two order statistics
    around the linear quantile's position, interpolated as numpy does, without its ten times the cost."""
    n = len(x)
    at = (n - 1) * (q / 100)
    lo = int(math.floor(at))
    hi = min(lo + 1, n - 1)
    part = np.partition(x, [lo, hi] if hi != lo else lo, axis=0)
    a, b = part[lo], part[hi]
    # numpy's lerp, in float64 from the nearer end
    t = at - lo
    diff = (b - a).astype(np.float64)
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def median(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=0) of an (n, c) float array (n ≥ 1), bit for bit."""
    h = len(x) // 2
    if len(x) % 2:
        return np.partition(x, h, axis=0)[h]
    part = np.partition(x, [h - 1, h], axis=0)
    return (part[h - 1] + part[h]) / 2


def slope(crop: np.ndarray, landmarks: np.ndarray) -> float:
    """How the light falls across the face: (image-right cheek − image-left cheek) / their sum, in luma."""
    pts = np.clip(np.round(landmarks[[117, 50, 101, 346, 280, 330], :2]).astype(int), 0, crop.shape[0] - 1)
    y = np.sort(luma(crop[pts[:, 1], pts[:, 0]].astype(np.float32)).reshape(2, 3), axis=1)
    a, b = float(y[0, 1]), float(y[1, 1])                                   # the median of each three
    return (b - a) / max(a + b, 1.0)


def softness(crop: np.ndarray, box) -> float:
    """How much softer than a sharp image the photo's edges are in box (a Gaussian's sigma, px; imaging.edge_blur
    less what a sharp image reads)."""
    x0, y0, x1, y1 = box
    s2 = edge_blur(luma(crop[y0:y1, x0:x1].astype(np.float32)), REBLUR_PX, 1 - EDGE_SHARE, MIN_EDGE)
    if s2 is None:
        return 0.0
    return math.sqrt(min(max(s2 - SHARP_PX ** 2, 0.0), MAX_SOFT_PX ** 2))


def warm() -> None:
    """Compile (or load) the skin's, softness' and coverage's loops now, rather than on the first edit that fills a
    hole."""
    for points in (np.zeros((478, 3), np.float32), np.zeros((478, 3))):
        skin(np.zeros((1, 1, 3), np.uint8), points)
    edge_blur(np.zeros((8, 8), np.float32), REBLUR_PX, 1 - EDGE_SHARE, MIN_EDGE)
    coverage(np.zeros((3, 2), np.float32), (0, 0, 1, 1))


def coverage(poly: np.ndarray, box: tuple[int, int, int, int], ss: int = 4) -> np.ndarray:
    """Anti-aliased area coverage (h, w) float32 of a polygon over the pixels of box (centres at integers): filled
    at ss × ss samples a pixel, averaged as cv2.resize's INTER_AREA (compiled: _fixed, _area)."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    m = np.zeros((h * ss, w * ss), np.uint8)
    cv2.fillPoly(m, [_fixed(np.asarray(poly), x0, y0, ss)], 255, lineType=cv2.LINE_8, shift=4)
    return _area(m, ss)


@compiled
def _fixed(poly, x0, y0, ss):  # pragma: no cover (compiled)
    """The polygon's (n, 2) points on the box's ss-times finer grid in fillPoly's 1/16 px (int32, rounded half to
    even), in float64 as numpy's steps gave them."""
    out = np.empty((len(poly), 2), np.int32)
    for i in range(len(poly)):
        out[i, 0] = np.int32(np.rint(((np.float64(poly[i, 0]) - x0 + 0.5) * ss - 0.5) * 16))
        out[i, 1] = np.int32(np.rint(((np.float64(poly[i, 1]) - y0 + 0.5) * ss - 0.5) * 16))
    return out


@compiled
def _area(m, ss):  # pragma: no cover (compiled)
    """cv2.resize(m, 1/ss, INTER_AREA) of a uint8 mask (each ss × ss block's sum times the float 1/ss², rounded
    half to even, as OpenCV's integer-scale path) / 255, float32; the block rows summed first, a row at a time."""
    h, w = m.shape[0] // ss, m.shape[1] // ss
    out = np.empty((h, w), np.float32)
    scale = np.float32(1.0) / np.float32(ss * ss)
    rows = np.empty(m.shape[1], np.int32)
    for i in range(h):
        rows[:] = 0
        for a in range(i * ss, i * ss + ss):
            for x in range(m.shape[1]):
                rows[x] += m[a, x]
        for j in range(w):
            total = 0
            for x in range(j * ss, j * ss + ss):
                total += rows[x]
            out[i, j] = np.float32(np.uint8(np.rint(np.float32(total) * scale))) * np.float32(1 / 255)
    return out


def row_gradient(row: np.ndarray) -> np.ndarray:
    """np.gradient of a 1-D array (central differences, one-sided at the ends), bit for bit, without its Python
    layer's cost (several times the arithmetic on a mouth's columns)."""
    out = np.empty_like(row)
    out[1:-1] = (row[2:] - row[:-2]) / 2.0
    out[0], out[-1] = row[1] - row[0], row[-1] - row[-2]
    return out


def length(v: np.ndarray):
    """np.linalg.norm of a 1-d vector, bit for bit (its own dot and square root), without its Python layer, which
    costs several times the arithmetic (the rig takes a few lengths per eye and lip a frame)."""
    return np.sqrt(v.dot(v))


def smoothstep(x):
    """0 below 0, 1 above 1, a smooth S between (of an array or a number; compiled loops compile it too)."""
    x = np.minimum(np.maximum(x, 0.0), 1.0)   # np.clip costs several times more on small arrays
    return x * x * (3 - 2 * x)


# smoothstep for compiled loops to call (a compiled function calls compiled ones only)
compiled_smoothstep = compiled(smoothstep)
