"""warp_blend: the warp-and-blend step both editors end with, and its NumPy/OpenCV twin.

    out = warp(crop, flow) · (1 − mask) + fill · mask

Inputs (N = batch, S = crop side, float32):
  crop (N,3,S,S) RGB in 0..1       flow (N,2,S,S) pixels: output pixel p samples crop at p + flow(p),
  mask (N,1,S,S) in 0..1                             channel 0 = x, channel 1 = y
  fill (N,3,S,S) what replaces the crop where mask is 1 (the rig editor passes the warped crop itself
                 with mask 0; an editor that paints, what it paints)
Output: out (N,3,S,S).

Sampling is bilinear with border replication, in OpenCV's pixel-centre convention (centre of pixel i
at coordinate i), so the graph matches `cv2.remap(..., INTER_LINEAR, BORDER_REPLICATE)` up to
OpenCV's 1/32-pixel fixed-point interpolation weights.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import cv2
import numpy as np

from .base import TensorSpec
from .graphs import GRAPHS

_ASTRONAUT_FACE = (120, 0, 220)  # x, y, side of a square around her face in the 512² image


def _nchw(name: str, channels: int) -> TensorSpec:
    return TensorSpec(name, ("batch", channels, "height", "width"))


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    """(S,S,3) uint8 RGB → (3,S,S) float32 in 0..1."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)


def example_inputs(crop: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """A real (S,S,3) uint8 crop → feeds with a smooth swirl-and-zoom flow (reaching past the border),
    a soft blob mask over the mouth and the mirrored crop as fill; item i gets its own swirl phase."""
    s = crop.shape[0]
    y, x = np.mgrid[0:s, 0:s].astype(np.float32) / np.float32(s)
    images = np.broadcast_to(to_nchw(crop), (batch, 3, s, s))
    flow = np.empty((batch, 2, s, s), np.float32)
    for i in range(batch):
        phase = 0.7 * i
        flow[i, 0] = s / 40 * np.sin(2 * np.pi * 1.5 * y + phase) + 0.08 * s * (x - 0.5)
        flow[i, 1] = s / 40 * np.cos(2 * np.pi * 1.2 * x + phase) + 0.08 * s * (y - 0.5)
    mask = np.exp(-((x - 0.5) ** 2 + (y - 0.65) ** 2) / (2 * (1 / 7) ** 2))
    return {
        "crop": np.ascontiguousarray(images),
        "flow": flow,
        "mask": np.ascontiguousarray(np.broadcast_to(mask, (batch, 1, s, s)), dtype=np.float32),
        "fill": np.ascontiguousarray(images[..., ::-1]),
    }


@lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp_blend_cv2(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same op with cv2.remap, one crop at a time."""
    crop, flow, mask, fill = (feeds[k] for k in ("crop", "flow", "mask", "fill"))
    xs, ys = _pixel_grid(*crop.shape[2:])
    out = np.empty_like(crop)
    for i in range(crop.shape[0]):
        # fixed-point maps once per crop, then one remap per channel plane (no HWC transposes)
        m1, m2 = cv2.convertMaps(xs + flow[i, 0], ys + flow[i, 1], cv2.CV_16SC2)
        for c in range(crop.shape[1]):
            out[i, c] = cv2.remap(crop[i, c], m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out += mask * (fill - out)
    return {"out": out}


@GRAPHS.register("warp_blend")
class WarpBlend:
    version = 1
    inputs = (_nchw("crop", 3), _nchw("flow", 2), _nchw("mask", 1), _nchw("fill", 3))
    outputs = (_nchw("out", 3),)
    reference = staticmethod(warp_blend_cv2)

    def module(self):
        from .torch_ops import WarpBlendModule

        return WarpBlendModule()

    def example(self, batch: int, size: int) -> dict[str, np.ndarray]:
        from ..io.image import astronaut  # lazy: engines load without the io stack

        x, y, side = _ASTRONAUT_FACE
        face = cv2.resize(astronaut()[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
        return example_inputs(face, batch)
