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

from .deform import HoleLayer
from ...jit import compiled

# a flow step between neighbouring pixels above this (px) is an edge between surfaces, not a stretch
EDGE_JUMP_PX = 1.0
# the eyes' and mouth's layers have edges of their own (lids and lips over what is behind them), left to
# their fills: edges within this many px of an eye or the lips are not touched
HOLE_MARGIN_PX = 2


def soft_edges(crop: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int], holes: list[HoleLayer],
               lips: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """(patch, alpha, box) to lay over the warped crop on surface edges inside `box`; None when there are none.

    `lips`: the moved outer lip outline (crop px); the mouth's fills own the edges inside it."""
    x0, y0, x1, y1 = box
    fx, fy = flow[0, y0:y1, x0:x1], flow[1, y0:y1, x0:x1]
    step_x = cv2.max(cv2.absdiff(fx[:, 1:], fx[:, :-1]), cv2.absdiff(fy[:, 1:], fy[:, :-1])) > EDGE_JUMP_PX
    step_y = cv2.max(cv2.absdiff(fx[1:], fx[:-1]), cv2.absdiff(fy[1:], fy[:-1])) > EDGE_JUMP_PX
    # everything over the box grown by what the dilation below and the patch's fade reach, not the whole crop
    size = crop.shape[0]
    m = max(HOLE_MARGIN_PX, 2)
    wx0, wy0, wx1, wy1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, size), min(y1 + m, size)
    edge = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    inner = edge[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    inner[:, 1:] |= step_x
    inner[:, :-1] |= step_x
    inner[1:] |= step_y
    inner[:-1] |= step_y
    own = np.zeros_like(edge)
    cv2.fillPoly(own, [np.round(lips * 16).astype(np.int32) - np.array([wx0, wy0], np.int32) * 16], 1, shift=4)
    for h in holes:
        hx0, hy0, hx1, hy1 = h.box
        cx0, cy0, cx1, cy1 = max(hx0, wx0), max(hy0, wy0), min(hx1, wx1), min(hy1, wy1)
        if cx1 > cx0 and cy1 > cy0:
            own[cy0 - wy0:cy1 - wy0, cx0 - wx0:cx1 - wx0] |= h.inside[cy0 - hy0:cy1 - hy0, cx0 - hx0:cx1 - hx0]
    edge &= 1 - cv2.dilate(own, np.ones((2 * HOLE_MARGIN_PX + 1,) * 2, np.uint8))
    bx, by, bw, bh = cv2.boundingRect(edge)
    if not bw:
        return None
    bx, by = bx + wx0, by + wy0
    # the average fades out over a pixel on either side, so the patch has no edge of its own
    ex0, ey0, ex1, ey1 = max(bx - 2, 0), max(by - 2, 0), min(bx + bw + 2, size), min(by + bh + 2, size)
    hard = edge[ey0 - wy0:ey1 - wy0, ex0 - wx0:ex1 - wx0].astype(np.float32)
    alpha = np.maximum(hard, cv2.GaussianBlur(hard, (0, 0), 0.8))
    patch = np.zeros(alpha.shape + (3,), np.float32)
    _averaged(patch, alpha, crop, flow, ex0, ey0)
    return patch, alpha, (ex0, ey0, ex1, ey1)


def warm() -> None:
    """Compile (or load) the averaging loop now, rather than on the first edit with a surface edge."""
    one = np.ones((1, 1), np.float32)
    _averaged(np.zeros((1, 1, 3), np.float32), one, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 2), np.float32), 0, 0)


@compiled
def _averaged(patch, alpha, crop, flow, x0, y0):  # pragma: no cover (compiled)
    """The 3 × 3 average of the warped crop (bilinear, edges replicated, as flow.warp) into `patch` (the box
    from (x0, y0)) where `alpha` > 0: only on the edges, not over their whole box (the rest stays 0)."""
    size_y, size_x = crop.shape[0], crop.shape[1]
    for i in range(patch.shape[0]):
        for j in range(patch.shape[1]):
            if alpha[i, j] <= 0:
                continue
            ys, xs = range(max(y0 + i - 1, 0), min(y0 + i + 2, size_y)), range(max(x0 + j - 1, 0), min(x0 + j + 2, size_x))
            n = len(ys) * len(xs)
            for y in ys:
                for x in xs:
                    sx = min(max(x + flow[0, y, x], 0.0), size_x - 1.0)
                    sy = min(max(y + flow[1, y, x], 0.0), size_y - 1.0)
                    xa, ya = min(int(sx), size_x - 2), min(int(sy), size_y - 2)
                    rx, ry = sx - xa, sy - ya
                    for k in range(3):
                        patch[i, j, k] += ((1 - ry) * ((1 - rx) * crop[ya, xa, k] + rx * crop[ya, xa + 1, k])
                                           + ry * ((1 - rx) * crop[ya + 1, xa, k] + rx * crop[ya + 1, xa + 1, k])) / n
