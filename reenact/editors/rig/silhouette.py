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

from .deform import HoleLayer, points_box
from .flow import warp

# a flow step between neighbouring pixels above this (px) is an edge between surfaces, not a stretch
EDGE_JUMP_PX = 1.0
# the eyes' and mouth's layers have edges of their own (lids and lips over what is behind them), left to
# their fills: edges within this many px of a hole are not touched
HOLE_MARGIN_PX = 2


def soft_edges(crop: np.ndarray, flow: np.ndarray, box: tuple[int, int, int, int],
               holes: list[HoleLayer]) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
    """(patch, alpha, box) to lay over the warped crop on surface edges inside `box`; None when there are none."""
    x0, y0, x1, y1 = box
    f = flow[:, y0:y1, x0:x1]
    edge = np.zeros(flow.shape[1:], np.uint8)
    inner = edge[y0:y1, x0:x1]
    step_x = np.abs(np.diff(f, axis=2)).max(0) > EDGE_JUMP_PX
    step_y = np.abs(np.diff(f, axis=1)).max(0) > EDGE_JUMP_PX
    inner[:, 1:] |= step_x
    inner[:, :-1] |= step_x
    inner[1:] |= step_y
    inner[:-1] |= step_y
    for h in holes:
        hx0, hy0, hx1, hy1 = h.box
        near = cv2.dilate(h.inside.astype(np.uint8), np.ones((2 * HOLE_MARGIN_PX + 1,) * 2, np.uint8))
        edge[hy0:hy1, hx0:hx1] &= 1 - near
    ys, xs = np.nonzero(edge)
    if not len(ys):
        return None
    # the average fades out over a pixel on either side, so the patch has no edge of its own
    ebox = points_box(np.stack([xs, ys], 1), crop.shape[0], pad=2)
    ex0, ey0, ex1, ey1 = ebox
    hard = edge[ey0:ey1, ex0:ex1].astype(np.float32)
    alpha = np.maximum(hard, cv2.GaussianBlur(hard, (0, 0), 0.8))
    patch = cv2.blur(warp(crop, flow, ebox), (3, 3)).astype(np.float32)
    return patch, alpha, ebox
