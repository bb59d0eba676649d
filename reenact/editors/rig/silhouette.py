"""Anti-aliased silhouettes where moved skin covers what lies behind it.

The depth test (deform.dense_flow) gives each pixel one surface: where a dropped chin covers the collar,
or a turned face's cheek slides past the nose, the flow jumps from one surface to the other between two
pixels, and the edge comes out pixel-stepped, with the source's own edge shading as a dotted line. A
renderer would anti-alias it by coverage; here the pixels on such an edge take the 3×3 average of the
warped crop, which is what coverage sampling of a straight edge gives to within a pixel's blur.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...jit import compiled
from .deform import HoleLayer

# a flow step between neighbouring pixels above this (px) is an edge between surfaces, not a stretch
EDGE_JUMP_PX = 1.0
# the eyes' and mouth's layers have edges of their own (lids and lips over what is behind them), left to
# their fills: edges within this many px of an eye or the lips are not touched
HOLE_MARGIN_PX = 2
_MARGIN = np.ones((2 * HOLE_MARGIN_PX + 1,) * 2, np.uint8)   # that square, for a dilation


def soft_edges(warped: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int], holes: list[HoleLayer],
               lips: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """(patch, alpha, box) to lay over the warped crop on surface edges inside `box`; None when there are none.

    `warped`: the whole crop through `flow` (flow.warped_crop); `lips`: the moved outer lip outline (crop px); the
    mouth's fills own the edges inside it."""
    x0, y0, x1, y1 = box
    # everything over the box grown by what the dilation below and the patch's fade reach, not the whole crop
    size = warped.shape[0]
    m = max(HOLE_MARGIN_PX, 2)
    wx0, wy0, wx1, wy1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, size), min(y1 + m, size)
    # within HOLE_MARGIN_PX (a square) of what the fills own
    near = cv2.dilate(owned(lips, holes, (wx0, wy0, wx1, wy1)), _MARGIN)
    edge, (bx, by, bw, bh) = _edges(flow, x0, y0, x1, y1, wx0, wy0, near, np.float32(EDGE_JUMP_PX))
    if not bw:
        return None
    bx, by = bx + wx0, by + wy0
    # the average fades out over a pixel on either side, so the patch has no edge of its own
    ex0, ey0, ex1, ey1 = max(bx - 2, 0), max(by - 2, 0), min(bx + bw + 2, size), min(by + bh + 2, size)
    hard = edge[ey0 - wy0:ey1 - wy0, ex0 - wx0:ex1 - wx0].astype(np.float32)
    alpha = np.maximum(hard, cv2.GaussianBlur(hard, (0, 0), 0.8))
    patch = cv2.blur(warped[ey0:ey1, ex0:ex1], (3, 3)).astype(np.float32)
    return patch, alpha, (ex0, ey0, ex1, ey1)


def owned(lips: np.ndarray, holes: list[HoleLayer], box: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 (h, w) over box: 1 inside the moved lips' outline or a hole, whose edges their fills own."""
    x0, y0, x1, y1 = box
    own = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(own, [np.round(lips * 16).astype(np.int32) - np.array([x0, y0], np.int32) * 16], 1, shift=4)
    for h in holes:
        hx0, hy0, hx1, hy1 = h.box
        cx0, cy0, cx1, cy1 = max(hx0, x0), max(hy0, y0), min(hx1, x1), min(hy1, y1)
        if cx1 > cx0 and cy1 > cy0:
            own[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] |= h.inside[cy0 - hy0:cy1 - hy0, cx0 - hx0:cx1 - hx0]
    return own


def warm() -> None:
    """Compile (or load) the edge loop now, rather than on the first edit that moves a surface past another."""
    _edges(np.zeros((2, 2, 2), np.float32), 0, 0, 2, 2, 0, 0, np.zeros((2, 2), np.uint8), np.float32(EDGE_JUMP_PX))


@compiled
def _edges(flow, x0, y0, x1, y1, wx0, wy0, near, jump):  # pragma: no cover (compiled)
    """(edge mask over `near`'s box from (wx0, wy0), its bounding rect (x, y, w, h) as cv2.boundingRect's): both
    pixels of every pair of neighbours inside (x0, y0, x1, y1) whose flows differ by more than `jump` in x or
    y, less those where `near` is set."""
    edge = np.zeros(near.shape, np.uint8)
    n = x1 - x0
    jumps = np.empty(max(n, 1), np.bool_)
    for y in range(y0, y1):
        # rows as views indexed from 0, the comparisons apart from the (rare) marking: loops that compile to
        # vector code
        fx, fy, row = flow[0, y, x0:x1], flow[1, y, x0:x1], edge[y - wy0, x0 - wx0:x1 - wx0]
        for x in range(n - 1):
            jumps[x] = max(abs(fx[x + 1] - fx[x]), abs(fy[x + 1] - fy[x])) > jump
        for x in range(n - 1):
            if jumps[x]:
                row[x] = 1
                row[x + 1] = 1
        if y + 1 < y1:
            gx, gy, below = flow[0, y + 1, x0:x1], flow[1, y + 1, x0:x1], edge[y + 1 - wy0, x0 - wx0:x1 - wx0]
            for x in range(n):
                jumps[x] = max(abs(gx[x] - fx[x]), abs(gy[x] - fy[x])) > jump
            for x in range(n):
                if jumps[x]:
                    row[x] = 1
                    below[x] = 1
    h, w = near.shape
    lo_x, lo_y, hi_x, hi_y = w, h, -1, -1
    for i in range(h):
        row, close = edge[i], near[i]
        marked = 0
        for j in range(w):     # most rows have no edge: a vector OR skips them
            marked |= row[j]
        if not marked:
            continue
        for j in range(w):
            if not row[j]:
                continue
            if close[j]:
                row[j] = 0
            else:
                lo_x, lo_y, hi_x, hi_y = min(lo_x, j), min(lo_y, i), max(hi_x, j), max(hi_y, i)
    if hi_x < 0:
        return edge, (0, 0, 0, 0)
    return edge, (lo_x, lo_y, hi_x - lo_x + 1, hi_y - lo_y + 1)
