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
from .flow import warp

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
    patch = cv2.blur(warp(crop, flow, (ex0, ey0, ex1, ey1)), (3, 3)).astype(np.float32)
    return patch, alpha, (ex0, ey0, ex1, ey1)
