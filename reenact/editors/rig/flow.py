"""Dense backward flow from a moved triangle mesh, fold limiting, and the warp that applies it.

Flow convention (shared with the engines' `warp_blend` graph and cv2.remap): output pixel p samples the
input crop at p + flow[:, p]; flow is (2, S, S) float32 in pixels, x plane then y plane (the graph's
(B, 2, S, S) without the batch); pixel centres sit at integers.
"""
from __future__ import annotations


import cv2
import numpy as np

from .mesh import signed_areas


def rasterize_flow(flow: np.ndarray, src: np.ndarray, dst: np.ndarray, tris: np.ndarray,
                   depth: np.ndarray | None = None) -> None:
    """Write the piecewise-affine backward flow of `tris` (moved from src to dst) into `flow` in place.

    A scanline rasteriser vectorised over every row of every triangle at once, so its cost grows with
    the moved area, not with the triangle count. Where triangles overlap, a z-buffer keeps the nearest
    when `depth` ((K, 3): each triangle's corners at dst, smaller = nearer) is given; without it the
    later triangle wins.
    """
    size_y, size_x = flow.shape[1:]
    d = dst[tris].astype(np.float64)                      # (K, 3, 2)
    s = src[tris].astype(np.float64)
    # affine dst → src per triangle; flow(x, y) = (jx·x + jy·y + off) − (x, y)
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-9
    if depth is not None:
        # depth rides along as a third interpolated value, affine over each moved triangle like the source
        s = np.concatenate([s, np.asarray(depth, np.float64)[..., None]], axis=2)
    if not ok.all():
        d, s, e1, e2, det = d[ok], s[ok], e1[ok], e2[ok], det[ok]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    jx = (f1 * e2[:, 1:] - f2 * e1[:, 1:]) / det[:, None]
    jy = (f2 * e1[:, :1] - f1 * e2[:, :1]) / det[:, None]
    off = s[:, 0] - jx * d[:, 0, :1] - jy * d[:, 0, 1:]
    jx[:, 0] -= 1.0
    jy[:, 1] -= 1.0

    # vertices sorted by y (a stable three-element sort): the long edge v0→v2 bounds every row, v0→v1 and
    # v1→v2 the other side
    x0, y0, x1, y1, x2, y2 = d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1], d[:, 2, 0], d[:, 2, 1]
    x0, y0, x1, y1 = _order(x0, y0, x1, y1)
    x1, y1, x2, y2 = _order(x1, y1, x2, y2)
    x0, y0, x1, y1 = _order(x0, y0, x1, y1)
    # slopes dx/dy of the three edges, 0 for a flat one (divided only where they rise: no errstate needed)
    s02 = np.divide(x2 - x0, y2 - y0, out=np.zeros(len(x0)), where=y2 > y0)
    s01 = np.divide(x1 - x0, y1 - y0, out=np.zeros(len(x0)), where=y1 > y0)
    s12 = np.divide(x2 - x1, y2 - y1, out=np.zeros(len(x0)), where=y2 > y1)
    r0 = np.clip(np.ceil(y0), 0, size_y).astype(np.int64)
    r1 = np.clip(np.floor(y2), -1, size_y - 1).astype(np.int64)
    nrows = np.maximum(r1 - r0 + 1, 0)
    tri = np.repeat(np.arange(len(d)), nrows)
    y = np.repeat(r0 - (np.cumsum(nrows) - nrows), nrows) + np.arange(len(tri))
    yf = y.astype(np.float64)
    xa = x0[tri] + (yf - y0[tri]) * s02[tri]
    # the short side's two edges meet at v1 (y1 − y is exactly −(y − y1), so one product serves both)
    below = yf - y1[tri]
    xb = x1[tri] + below * np.where(below <= 0, s01[tri], s12[tri])
    # the 1e-6 slack makes neighbours overlap on shared edges instead of leaving pinholes
    left = np.clip(np.ceil(np.minimum(xa, xb) - 1e-6), 0, size_x).astype(np.int64)
    right = np.clip(np.floor(np.maximum(xa, xb) + 1e-6), -1, size_x - 1).astype(np.int64)
    npix = np.maximum(right - left + 1, 0)
    # per row the flow is affine in x: value = a·x + c, the rows' a (then c) one plane per value, gathered
    # to the pixels in one call
    k = jx.shape[1]
    per_row = np.empty((2 * k, len(tri)), np.float32)
    per_row[:k] = jx.T.take(tri, axis=1)
    per_row[k:] = jy.T.take(tri, axis=1) * yf + off.T.take(tri, axis=1)
    row = np.repeat(np.arange(len(tri)), npix)
    first = np.cumsum(npix) - npix
    px = np.arange(len(row), dtype=np.int32) + (left - first).astype(np.int32)[row]
    idx = px + (y * size_x).astype(np.int32)[row]
    per_px = per_row.take(row, axis=1)
    pxf = px.astype(np.float32)
    values = [per_px[i] * pxf + per_px[k + i] for i in range(k)]
    if depth is not None:
        z = values.pop()
        # the z-buffer spans only the pixels drawn
        at = idx - idx.min() if len(idx) else idx
        nearest = np.full(int(at.max()) + 1 if len(at) else 0, np.inf, np.float32)
        np.minimum.at(nearest, at, z)
        won = z <= nearest[at]
        idx, values = idx[won], [v[won] for v in values]
    for i in (0, 1):
        flow[i].reshape(-1)[idx] = values[i]


def _order(xa, ya, xb, yb):
    """Two vertex arrays swapped where the first lies below the second (a compare-and-swap of a stable sort)."""
    swap = ya > yb
    return np.where(swap, xb, xa), np.where(swap, yb, ya), np.where(swap, xa, xb), np.where(swap, ya, yb)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _saving_factor(p: np.ndarray, d: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per triangle (p, d: (T, 3, 2)), the largest t in [0, 1] with twice-area(p + t'·d) ≥ floor for all
    t' ≤ t. The area is quadratic in t, so this is its first root, in closed form."""
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    f1, f2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    c0 = _cross(e1, e2) - floor
    c1 = _cross(e1, f2) + _cross(f1, e2)
    c2 = _cross(f1, f2)
    disc = c1 * c1 - 4 * c2 * c0
    real = disc >= 0
    # stable roots: q = −(c1 + sign(c1)·√disc)/2, roots q/c2 and c0/q
    q = -0.5 * (c1 + np.copysign(np.sqrt(np.where(real, disc, 0)), c1))
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.stack([q / c2, c0 / q])
    roots[~np.isfinite(roots) | (roots <= 0) | ~real[None]] = np.inf
    return np.minimum(np.minimum(roots[0], roots[1]), 1.0)


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
    a0 = signed_areas(src, tris)
    corner = [src[tris[:, i]] for i in range(3)]
    edge = [corner[i] - corner[(i + 1) % 3] for i in range(3)]
    edge2 = np.maximum(np.maximum(*[e[:, 0] ** 2 + e[:, 1] ** 2 for e in edge[:2]]), edge[2][:, 0] ** 2 + edge[2][:, 1] ** 2)
    # an edge-on sliver (height under EDGE_ON of its length, e.g. along a turned jaw) shows as a line: its
    # flipping folds nothing visible, and easing the edit around it would cost the whole jaw
    judged = a0 > EDGE_ON * edge2
    tris, a0 = tris[judged], a0[judged]
    floor = min_ratio * a0 - slack_px2
    scale = np.ones(len(src))
    for _ in range(rounds):
        bad = signed_areas(src + disp * scale[:, None], tris) < floor
        if not bad.any():
            return disp * scale[:, None], float(scale.min())
        tb = tris[bad]
        # 0.999: land just inside the boundary, as the bisection it replaces did
        lo = 0.999 * _saving_factor(src[tb], disp[tb] * scale[tb][..., None], floor[bad])
        # the mean of each bad triangle's corners, and every point's squared distance to them, written out:
        # numpy's reductions over an axis of 2 or 3 cost several times more (the same arithmetic)
        corners = src[tb]
        centre = (corners[:, 0] + corners[:, 1] + corners[:, 2]) / 3
        dx, dy = src[:, :1] - centre[None, :, 0], src[:, 1:] - centre[None, :, 1]
        d2 = dx * dx + dy * dy
        # 0.9: overshoot a little so the next round rarely has the same triangle again
        ease = 1 - (1 - 0.9 * lo[None, :]) * np.exp(-0.5 * d2 / reach_px ** 2)
        scale *= ease.min(1)
    moved = disp * scale[:, None]
    scale *= 0.999 * float(_saving_factor(src[tris], moved[tris], floor).min())
    return disp * scale[:, None], float(scale.min())


def warp(image: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """cv2.remap with the shared flow convention (bilinear, edge replicated), optionally only in a box
    (x0, y0, x1, y1) of the output; returns that part."""
    x0, y0, x1, y1 = box or (0, 0, flow.shape[2], flow.shape[1])
    # relative maps are offsets from each output pixel of the box, which starts at (x0, y0)
    return cv2.remap(image, flow[0, y0:y1, x0:x1] + np.float32(x0), flow[1, y0:y1, x0:x1] + np.float32(y0),
                     cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP, borderMode=cv2.BORDER_REPLICATE)


def jacobian_det(flow: np.ndarray) -> np.ndarray:
    """det ∂(p + flow)/∂p by central differences; ≤ 0 marks a fold."""
    dfx_dy, dfx_dx = np.gradient(flow[0])
    dfy_dy, dfy_dx = np.gradient(flow[1])
    return (1 + dfx_dx) * (1 + dfy_dy) - dfx_dy * dfy_dx
