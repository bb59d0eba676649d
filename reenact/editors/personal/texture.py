"""The bank's frames in one shared frame (the atlas), and the mesh warps in and out of it.

Every bank frame is carried once, when the bank is loaded, from its own mesh onto a template mesh
(a mean of the bank's open-mouthed meshes, so the mouth's inside has room). Blending several
exemplars is then a weighted sum of aligned images, done where the face's parts line up, and one warp
takes the blend onto the edited face. Warps are piecewise affine over MediaPipe's triangles, the eye
and mouth holes bridged so their insides travel too, through the rig's rasteriser (rig.flow).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ...stages.landmarks import interocular
from ..rig.deform import points_box
from ..rig.flow import rasterize_flow
from ..rig.mesh import HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER, crop_mesh, crop_vertices, hole_triangles
from .bank import Bank
from .regions import REGIONS, vertex_weights

# the template takes its shape from the bank's frames whose mouth is at least this open (percentile)
TEMPLATE_OPEN_PERCENTILE = 75.0
# a vertex belongs to a region's box from this band weight up
IN_REGION = 0.01


@lru_cache(maxsize=4)
def carry_triangles(size: int) -> np.ndarray:
    """The crop mesh's triangles with the holes bridged, holes first: where they overlap, skin wins."""
    holes = [hole_triangles(name) for name in HOLES]
    tris = np.concatenate([*holes, crop_mesh(size).triangles]).astype(np.int32)
    tris.setflags(write=False)
    return tris




def carry(image: np.ndarray, src: np.ndarray, dst: np.ndarray, tris: np.ndarray,
          box: tuple[int, int, int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """`image` carried by `tris` from vertices `src` to `dst` (both (V, 2)), for the output pixels in box.
    `image` may be a cut-out whose top-left pixel is `origin` in src's coordinates. Float32, box-sized."""
    x0, y0, x1, y1 = box
    flow = np.zeros((2, y1 - y0, x1 - x0), np.float32)
    rasterize_flow(flow, src, dst - np.array([x0, y0], np.float32), tris)
    # the flow now leads from each box-relative pixel to its src position; the cut-out starts at origin
    map_x = flow[0] + np.arange(x1 - x0, dtype=np.float32)[None, :] - np.float32(origin[0])
    map_y = flow[1] + np.arange(y1 - y0, dtype=np.float32)[:, None] - np.float32(origin[1])
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap in inter-ocular distances."""
    gap = landmarks[list(LIPS_INNER_LOWER), 1] - landmarks[list(LIPS_INNER_UPPER), 1]
    return float(gap.mean()) / interocular(landmarks)


@dataclass(frozen=True)
class Atlas:
    """The bank's frames on one template mesh, and where each region lies in that frame."""

    template: np.ndarray                              # (V, 2) crop-mesh vertices, bank crop pixels
    textures: np.ndarray                              # (N, S, S, 3) uint8
    boxes: tuple[tuple[int, int, int, int], ...]      # per region, in template pixels


def build_atlas(bank: Bank) -> Atlas:
    size = bank.size
    opening = np.array([mouth_opening(lm) for lm in bank.landmarks])
    open_rows = opening >= np.percentile(opening, TEMPLATE_OPEN_PERCENTILE)
    template = crop_vertices(bank.landmarks[open_rows].mean(0), size)
    tris = carry_triangles(size)
    full = (0, 0, size, size)
    textures = np.stack([np.clip(carry(c, crop_vertices(lm, size), template, tris, full) + 0.5, 0, 255).astype(np.uint8)
                         for c, lm in zip(bank.crops, bank.landmarks)])
    textures.setflags(write=False)
    template.setflags(write=False)
    return Atlas(template, textures, tuple(region_box(template, k, size) for k in range(len(REGIONS))))


def region_box(vertices: np.ndarray, k: int, size: int) -> tuple[int, int, int, int]:
    """Box (x0, y0, x1, y1) around region k's landmarks, with a margin for the ramps' pixels."""
    inside = vertex_weights()[k] > IN_REGION
    return points_box(vertices[:478][inside], size, pad=2)
