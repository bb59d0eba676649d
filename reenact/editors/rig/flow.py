"""Dense backward flow from a moved triangle mesh, fold limiting, and the warp that applies it.

Flow convention (shared with the engines' `warp_blend` graph and cv2.remap): output pixel p samples the
input crop at p + flow[:, p]; flow is (2, S, S) float32 in pixels, x plane then y plane (the graph's
(B, 2, S, S) without the batch); pixel centres sit at integers.
"""
from __future__ import annotations


import cv2
import numpy as np

from ...jit import compiled


def rasterize_flow(flow: np.ndarray, src: np.ndarray, dst: np.ndarray, tris: np.ndarray,
                   depth: np.ndarray | None = None) -> None:
    """Write the piecewise-affine backward flow of `tris` (moved from src to dst) into `flow` in place.

    A scanline rasteriser (compiled: _raster), so its cost grows with the moved area. Where triangles
    overlap, a z-buffer keeps the nearest when `depth` ((K, 3): each triangle's corners at dst, smaller =
    nearer) is given; without it the later triangle wins.
    """
    z = np.zeros((0, 3)) if depth is None else np.asarray(depth, np.float64)
    _raster(flow, np.asarray(src, np.float64), np.asarray(dst, np.float64), np.asarray(tris, np.int64), z,
            depth is not None)


@compiled
def _raster(flow, src, dst, tris, depth, has_depth):  # pragma: no cover (compiled)
    """rasterize_flow in float64 up to each row's affine flow, value = a·x + c, whose a and c are rounded to
    float32 and the pixels' values computed in float32."""
    size_y, size_x = flow.shape[1], flow.shape[2]
    k = 3 if has_depth else 2
    # the z-buffer over the pixels the triangles' corners span, not the whole crop (a pixel without depth)
    zx0, zy0, zx1, zy1 = size_x, size_y, 0, 0
    if has_depth:
        for t in range(tris.shape[0]):
            for i in range(3):
                cx, cy = dst[tris[t, i], 0], dst[tris[t, i], 1]
                zx0, zx1 = min(zx0, int(max(np.floor(cx), 0.0))), max(zx1, int(min(np.ceil(cx) + 1, size_x)))
                zy0, zy1 = min(zy0, int(max(np.floor(cy), 0.0))), max(zy1, int(min(np.ceil(cy) + 1, size_y)))
    nearest = np.full((max(zy1 - zy0, 1), max(zx1 - zx0, 1)), np.inf, np.float32)
    s = np.empty((3, k))
    jx, jy, off = np.empty(k), np.empty(k), np.empty(k)
    a = np.empty(k, np.float32)
    c = np.empty(k, np.float32)
    for t in range(tris.shape[0]):
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        # affine dst → src per triangle; flow(x, y) = (jx·x + jy·y + off) − (x, y)
        e1x, e1y = dst[q, 0] - dst[p, 0], dst[q, 1] - dst[p, 1]
        e2x, e2y = dst[r, 0] - dst[p, 0], dst[r, 1] - dst[p, 1]
        det = e1x * e2y - e1y * e2x
        if not abs(det) > 1e-9:
            continue
        for j in range(2):
            s[0, j], s[1, j], s[2, j] = src[p, j], src[q, j], src[r, j]
        if has_depth:
            # depth rides along as a third interpolated value, affine over each moved triangle like the source
            s[0, 2], s[1, 2], s[2, 2] = depth[t, 0], depth[t, 1], depth[t, 2]
        for j in range(k):
            f1, f2 = s[1, j] - s[0, j], s[2, j] - s[0, j]
            jx[j] = (f1 * e2y - f2 * e1y) / det
            jy[j] = (f2 * e1x - f1 * e2x) / det
            off[j] = s[0, j] - jx[j] * dst[p, 0] - jy[j] * dst[p, 1]
        jx[0] -= 1.0
        jy[1] -= 1.0
        # vertices sorted by y (a stable three-element sort): the long edge v0→v2 bounds every row, v0→v1
        # and v1→v2 the other side
        x0, y0, x1, y1, x2, y2 = dst[p, 0], dst[p, 1], dst[q, 0], dst[q, 1], dst[r, 0], dst[r, 1]
        if y0 > y1:
            x0, y0, x1, y1 = x1, y1, x0, y0
        if y1 > y2:
            x1, y1, x2, y2 = x2, y2, x1, y1
        if y0 > y1:
            x0, y0, x1, y1 = x1, y1, x0, y0
        # slopes dx/dy of the three edges, 0 for a flat one
        s02 = (x2 - x0) / (y2 - y0) if y2 > y0 else 0.0
        s01 = (x1 - x0) / (y1 - y0) if y1 > y0 else 0.0
        s12 = (x2 - x1) / (y2 - y1) if y2 > y1 else 0.0
        r0 = int(min(max(np.ceil(y0), 0.0), np.float64(size_y)))
        r1 = int(min(max(np.floor(y2), -1.0), np.float64(size_y - 1)))
        for y in range(r0, r1 + 1):
            yf = np.float64(y)
            xa = x0 + (yf - y0) * s02
            # the short side's two edges meet at v1 (y1 − y is exactly −(y − y1), so one product serves both)
            below = yf - y1
            xb = x1 + below * (s01 if below <= 0 else s12)
            # the 1e-6 slack makes neighbours overlap on shared edges instead of leaving pinholes
            left = int(min(max(np.ceil(min(xa, xb) - 1e-6), 0.0), np.float64(size_x)))
            right = int(min(max(np.floor(max(xa, xb) + 1e-6), -1.0), np.float64(size_x - 1)))
            for j in range(k):
                a[j] = np.float32(jx[j])
                c[j] = np.float32(jy[j] * yf + off[j])
            # rows as views, and selects instead of branches: loops that compile to vector code
            fx, fy = flow[0, y, left:right + 1], flow[1, y, left:right + 1]
            a0, c0, a1, c1 = a[0], c[0], a[1], c[1]
            if has_depth:
                # the nearest triangle wins, the later one among equally near
                zs, a2, c2 = nearest[y - zy0, left - zx0:right + 1 - zx0], a[2], c[2]
                for i in range(right + 1 - left):
                    xf = np.float32(left + i)
                    zf = a2 * xf + c2
                    near = zf <= zs[i]
                    zs[i] = zf if near else zs[i]
                    fx[i] = a0 * xf + c0 if near else fx[i]
                    fy[i] = a1 * xf + c1 if near else fy[i]
            else:
                for i in range(right + 1 - left):
                    xf = np.float32(left + i)
                    fx[i] = a0 * xf + c0
                    fy[i] = a1 * xf + c1


@compiled
def _saving_factor(src, disp, scale, tris, floor, which):  # pragma: no cover (compiled)
    """Per triangle `which` (indices into tris), the largest t in [0, 1] with twice-area(p + t'·d) ≥ floor for
    all t' ≤ t (p: its corners in src, d: their disp · scale). The area is quadratic in t, so this is its first
    root, in closed form; numpy's whole-array steps in their precision (the corners' edges float32, the motion's
    float64) and order."""
    out = np.empty(len(which))
    for n in range(len(which)):
        t = which[n]
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        e1x, e1y = src[q, 0] - src[p, 0], src[q, 1] - src[p, 1]
        e2x, e2y = src[r, 0] - src[p, 0], src[r, 1] - src[p, 1]
        dpx, dpy = np.float64(disp[p, 0]) * scale[p], np.float64(disp[p, 1]) * scale[p]
        f1x, f1y = np.float64(disp[q, 0]) * scale[q] - dpx, np.float64(disp[q, 1]) * scale[q] - dpy
        f2x, f2y = np.float64(disp[r, 0]) * scale[r] - dpx, np.float64(disp[r, 1]) * scale[r] - dpy
        c0 = (e1x * e2y - e1y * e2x) - floor[t]
        c1 = (e1x * f2y - e1y * f2x) + (f1x * e2y - f1y * e2x)
        c2 = f1x * f2y - f1y * f2x
        disc = c1 * c1 - 4 * c2 * c0
        real = disc >= 0
        # stable roots: q = −(c1 + sign(c1)·√disc)/2, roots q/c2 and c0/q (a division by 0 is no root)
        k = -0.5 * (c1 + np.copysign(np.sqrt(disc if real else 0.0), c1))
        first = k / c2 if c2 != 0 else np.inf
        second = c0 / k if k != 0 else np.inf
        if not (np.isfinite(first) and first > 0 and real):
            first = np.inf
        if not (np.isfinite(second) and second > 0 and real):
            second = np.inf
        out[n] = min(min(first, second), 1.0)
    return out


@compiled
def _near_bad(src, tris, which):  # pragma: no cover (compiled)
    """(points, bad triangles) float32 squared distances from each point to the mean of each triangle `which`'s
    corners, as numpy's broadcast steps compute them."""
    d2 = np.empty((len(src), len(which)), np.float32)
    for n in range(len(which)):
        t = which[n]
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        cx = (src[p, 0] + src[q, 0] + src[r, 0]) / np.float32(3)
        cy = (src[p, 1] + src[q, 1] + src[r, 1]) / np.float32(3)
        for i in range(len(src)):
            dx, dy = src[i, 0] - cx, src[i, 1] - cy
            d2[i, n] = dx * dx + dy * dy
    return d2


@compiled
def _eased(scale, lo, fall):  # pragma: no cover (compiled)
    """scale (per point, float64) times the least over the bad triangles of 1 − (1 − 0.9·lo)·fall (fall: the
    Gaussian of each point's distance to each, float32), in place, as numpy's broadcast and min(1) give it."""
    for i in range(fall.shape[0]):
        least = np.inf
        for n in range(fall.shape[1]):
            least = min(least, 1 - (1 - 0.9 * lo[n]) * np.float64(fall[i, n]))
        scale[i] *= least


EDGE_ON = 0.02


def limit_folds(src: np.ndarray, disp: np.ndarray, tris: np.ndarray, reach_px: float, min_ratio: float = 0.1,
                slack_px2: float = 1.0, rounds: int = 4) -> tuple[np.ndarray, float]:
    """Scale displacements down around triangles that would fold, smoothly and locally.

    A triangle is fine while it keeps its orientation and at least min_ratio of its area. For each
    offending one the largest scale that saves it is found, and the motion is eased towards that
    scale with a Gaussian of `reach_px` around it, so a too-strong corner pull saturates there while
    the brows keep their full edit. A last uniform scale guarantees the result if rounds run out.
    Only triangles front-facing in the source and not edge-on are judged (hidden ones are never drawn), and
    `slack_px2` (twice the area, px²) lets sub-pixel slivers, such as a closed mouth's inner corners,
    flip: they cover no pixel of their own. Returns (displacements, smallest scale applied).
    """
    a0, judged = _judged(src, tris, src.dtype.type(EDGE_ON))
    tris, a0 = tris[judged], a0[judged]
    floor = min_ratio * a0 - slack_px2
    scale = np.ones(len(src))
    for _ in range(rounds):
        bad = np.flatnonzero(_folding(src, disp, scale, tris, floor))
        if not len(bad):
            return disp * scale[:, None], float(scale.min())
        # 0.999: land just inside the boundary, as the bisection it replaces did
        lo = 0.999 * _saving_factor(src, disp, scale, tris, floor, bad)
        # 0.9: overshoot a little so the next round rarely has the same triangle again (the Gaussian as numpy
        # takes it, its own vectorised float32 exp)
        _eased(scale, lo, np.exp(np.float32(-0.5) * _near_bad(src, tris, bad) / np.float32(reach_px ** 2)))
    scale *= 0.999 * float(_saving_factor(src, disp, scale, tris, floor, np.arange(len(tris))).min())
    return disp * scale[:, None], float(scale.min())


@compiled
def _judged(src, tris, edge_on):  # pragma: no cover (compiled)
    """limit_folds' triangles: twice their signed areas (mesh.signed_areas) and which are judged, front-facing
    and not edge-on: an edge-on sliver (height under EDGE_ON of its length, e.g. along a turned jaw) shows as
    a line, its flipping folds nothing visible, and easing the edit around it would cost the whole jaw."""
    a0 = np.empty(len(tris), src.dtype)
    judged = np.zeros(len(tris), np.bool_)
    for t in range(len(tris)):
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        a0[t] = (src[q, 0] - src[p, 0]) * (src[r, 1] - src[p, 1]) - (src[q, 1] - src[p, 1]) * (src[r, 0] - src[p, 0])
        # the longest edge, squared
        e0x, e0y = src[p, 0] - src[q, 0], src[p, 1] - src[q, 1]
        e1x, e1y = src[q, 0] - src[r, 0], src[q, 1] - src[r, 1]
        e2x, e2y = src[r, 0] - src[p, 0], src[r, 1] - src[p, 1]
        longest = max(max(e0x * e0x + e0y * e0y, e1x * e1x + e1y * e1y), e2x * e2x + e2y * e2y)
        judged[t] = a0[t] > edge_on * longest
    return a0, judged


@compiled
def _folding(src, disp, scale, tris, floor):  # pragma: no cover (compiled)
    """Which triangles the displacements, scaled per point, leave under their floor of twice the area:
    mesh.signed_areas of src + disp·scale, in float64 as numpy's broadcast computes it."""
    bad = np.zeros(len(tris), np.bool_)
    for t in range(len(tris)):
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        px, py = src[p, 0] + disp[p, 0] * scale[p], src[p, 1] + disp[p, 1] * scale[p]
        ax, ay = src[q, 0] + disp[q, 0] * scale[q] - px, src[q, 1] + disp[q, 1] * scale[q] - py
        bx, by = src[r, 0] + disp[r, 0] * scale[r] - px, src[r, 1] + disp[r, 1] * scale[r] - py
        bad[t] = ax * by - ay * bx < floor[t]
    return bad


def warp(image: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """cv2.remap with the shared flow convention (bilinear, edge replicated), optionally only in a box
    (x0, y0, x1, y1) of the output; returns that part."""
    x0, y0, x1, y1 = box or (0, 0, flow.shape[2], flow.shape[1])
    # relative maps are offsets from each output pixel of the box, which starts at (x0, y0)
    return cv2.remap(image, flow[0, y0:y1, x0:x1] + np.float32(x0), flow[1, y0:y1, x0:x1] + np.float32(y0),
                     cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)


def warped_crop(crop: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """The whole crop through a backward `flow` that is zero outside `box` (None: all zero), warped over that box
    only: a zero flow reads each pixel itself, exactly."""
    out = crop.copy()
    if box is not None:
        x0, y0, x1, y1 = box
        out[y0:y1, x0:x1] = warp(crop, flow, box)
    return out


def jacobian_det(flow: np.ndarray) -> np.ndarray:
    """det ∂(p + flow)/∂p by central differences; ≤ 0 marks a fold."""
    dfx_dy, dfx_dx = np.gradient(flow[0])
    dfy_dy, dfy_dx = np.gradient(flow[1])
    return (1 + dfx_dx) * (1 + dfy_dy) - dfx_dy * dfy_dx
