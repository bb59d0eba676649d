"""Texture for what a warp exposes: procedural mouth and eye fills, and a per-person memory of real texture.

Fills cover hole pixels whose layer has nothing to show in the source (`HoleLayer.missing`): the inside
of a mouth that opens, sclera uncovered by a raised lid. The memory keeps real examples of the same
person (aligned crops, i.e. the canonical similarity frame, with their meshes) and carries them onto the
moved mesh; procedural fills are the fallback when it has nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..landmarks import LEFT_IRIS, RIGHT_IRIS, interocular
from .deform import Deformation, HoleLayer, chain_y
from .flow import rasterize_flow
from .mesh import HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER, crop_mesh

# Defaults for a face that shows no teeth or sclera to sample (RGB, before matching the face's light).
TEETH_RGB = np.array([222, 214, 196], np.float32)
SCLERA_RGB = np.array([226, 220, 214], np.float32)
IRIS_RGB = np.array([70, 50, 40], np.float32)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _skin(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Median RGB of cheek skin: fills take its brightness and colour cast, so a dim or warm photo
    gets dim or warm teeth."""
    pts = np.round(landmarks[[117, 346, 50, 280, 101, 330], :2]).astype(int)
    pts = np.clip(pts, 0, crop.shape[0] - 1)
    return np.median(crop[pts[:, 1], pts[:, 0]].astype(np.float32), axis=0)


def _light(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Per-channel gain of this photo's light relative to a neutral mid-tone skin (luma 170)."""
    skin = _skin(crop, landmarks)
    return float(_luma(skin)) / 170.0 * np.sqrt(skin / max(float(skin.mean()), 1.0))


def mouth_fill(crop: np.ndarray, src_lm: np.ndarray, d: Deformation, hole: HoleLayer) -> np.ndarray:
    """(h, w, 3) float32 for the mouth box: a shaded cavity with the upper teeth under the upper lip."""
    x0, y0, x1, y1 = hole.box
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    top = chain_y(d.dst, LIPS_INNER_UPPER, gx)
    bottom = chain_y(d.dst, LIPS_INNER_LOWER, gx)
    height = np.maximum(bottom - top, 1e-3)
    v = np.clip((gy - top) / height, 0, 1)                       # 0 at the upper lip, 1 at the lower
    cx = 0.5 * (d.dst[61, 0] + d.dst[291, 0])
    half = max(0.5 * abs(d.dst[291, 0] - d.dst[61, 0]), 1.0)
    u = np.clip((gx - cx) / half, -1, 1)                          # −1 … 1 corner to corner
    level = _light(crop, src_lm)
    iod = interocular(src_lm)
    # lip colour, darkened, for the cavity; darkest in the middle and towards the corners
    body = [12, 15, 38, 268, 86, 316]  # mid-lip points: the red, not its (maybe bearded) border
    lips = crop[np.clip(np.round(src_lm[body, 1]).astype(int), 0, crop.shape[0] - 1),
                np.clip(np.round(src_lm[body, 0]).astype(int), 0, crop.shape[1] - 1)]
    lip = np.median(lips.astype(np.float32), 0)
    depth = 0.35 + 0.65 * np.sin(np.pi * v) * (1 - 0.5 * u * u)
    dark = lip * 0.4
    # a dark red cavity, deepest in the middle, with the tongue's back rising from below
    tongue = np.clip((v - 0.55) / 0.45, 0, 1) ** 2 * (1 - u * u)
    cavity = dark * (1.45 - 0.9 * depth)[..., None] + (lip * 0.25) * tongue[..., None]
    # upper teeth: a band hanging from the upper lip, as tall as a quarter of an incisor's width…
    # shown only as far as the opening allows, shaded towards the corners and the cutting edge
    tooth_h = np.minimum(0.11 * iod, 0.45 * height)
    t = (gy - top) / np.maximum(tooth_h, 1e-3)
    teeth_a = 0.85 * np.clip(1.5 - 1.5 * t, 0, 1) * np.clip((1 - np.abs(u)) * 2.5, 0, 1)
    shade = (0.92 - 0.25 * np.clip(t, 0, 1)) * (1 - 0.35 * u * u)
    # faint gaps between the incisors (central pair and their neighbours)
    w_inc = 0.085 * iod
    gap = np.exp(-0.5 * (np.minimum.reduce([np.abs(gx - cx - k * w_inc) for k in (-2, -1, 0, 1, 2)]) / 0.6) ** 2)
    teeth = TEETH_RGB * 0.9 * level * (shade * (1 - 0.25 * gap))[..., None]
    out = cavity * (1 - teeth_a[..., None]) + teeth * teeth_a[..., None]
    return np.clip(out, 0, 255).astype(np.float32)


def extend_interior(warped: np.ndarray, hole: HoleLayer, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Continue a mouth's own visible interior into rows the lips uncover, at most `reach` rows: teeth
    grow on a little under a lifted lip and over a dropped one (further, they would turn to stripes).
    Returns (patch, where); the rest, and the gap between the upper and lower layers when the jaw
    opens wider, is left to the procedural cavity.
    """
    seen = hole.inside & ~hole.missing
    h, w = seen.shape
    rows = np.arange(h)[:, None]
    has = seen.any(0)
    top = np.where(has, seen.argmax(0), h)
    bottom = np.where(has, h - 1 - seen[::-1].argmax(0), -1)
    above = hole.missing & (rows < top)
    below = hole.missing & (rows > bottom)
    src = np.clip(np.where(above, top, np.where(below, bottom, rows)), 0, h - 1)
    patch = warped[src, np.arange(w)[None, :]].astype(np.float32)
    # darker with distance from the real edge: further under the lip, less light
    far = np.abs(rows - src)
    patch *= (1.0 - 0.06 * np.minimum(far, 4))[..., None]
    return patch, (above | below) & (far <= reach)


def eye_fill(crop: np.ndarray, src_lm: np.ndarray, d: Deformation, hole: HoleLayer) -> np.ndarray:
    """(h, w, 3) float32 for an eye box: sclera with the iris as a disc (never stretched), lid shadow on top."""
    x0, y0, x1, y1 = hole.box
    iris = RIGHT_IRIS if hole.name == "right_eye" else LEFT_IRIS
    c = src_lm[iris[0], :2]
    r = float(np.mean(np.linalg.norm(src_lm[list(iris[1:]), :2] - c, axis=1)))
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    dist = np.sqrt((gx - c[0]) ** 2 + (gy - c[1]) ** 2)
    region = crop[y0:y1, x0:x1].astype(np.float32)
    seen = ~hole.missing & hole.inside
    in_iris = dist <= r
    level = _light(crop, src_lm)
    sclera_px = region[seen & ~in_iris]
    iris_px = region[seen & (dist <= 0.8 * r)]
    sclera = (np.percentile(sclera_px, 75, axis=0) if len(sclera_px) >= 4 else SCLERA_RGB * level)
    iris_rgb = np.median(iris_px, 0) if len(iris_px) >= 4 else IRIS_RGB * level
    a = np.clip(r + 0.5 - dist, 0, 1)[..., None]                  # antialiased iris edge
    pupil = np.clip(0.42 * r + 0.5 - dist, 0, 1)[..., None]
    eye = sclera * (1 - a) + iris_rgb * a
    eye = eye * (1 - 0.6 * pupil)
    # the lid casts a shadow on the eyeball just below its margin
    top = np.array([d.dst[list(HOLES[hole.name]), 1].min()], np.float32)
    shadow = 1 - 0.35 * np.exp(-np.maximum(gy - top, 0) / max(0.2 * r, 0.5))
    return np.clip(eye * shadow[..., None], 0, 255).astype(np.float32)


@dataclass(frozen=True)
class Example:
    """One remembered frame of one region: the aligned crop, its landmarks and how clear the state was."""

    crop: np.ndarray
    landmarks: np.ndarray
    score: float


@dataclass
class TextureMemory:
    """Per-track real texture: the clearest example seen of each region state.

    States: mouth 'closed' (lips together) and 'open' (teeth showing); eyes 'open' and 'closed'.
    Examples are aligned crops with their meshes, so recalling one is a mesh warp onto the moved mesh.
    """

    slots: dict[tuple[str, str], Example] = field(default_factory=dict)

    def get(self, region: str, state: str) -> Example | None:
        return self.slots.get((region, state))

    def observe(self, crop: np.ndarray, landmarks: np.ndarray) -> None:
        """Keep this frame for every region whose state it shows more clearly than the stored example."""
        gap, eye = openness(landmarks)
        found = []
        if gap < 0.015:
            found.append(("mouth", "closed", -gap))
        elif gap > 0.08 and teeth_visible(crop, landmarks):
            found.append(("mouth", "open", gap))
        if eye > 0.2:
            found.append(("eyes", "open", eye))
        elif eye < 0.05:
            found.append(("eyes", "closed", -eye))
        for region, state, score in found:
            old = self.slots.get((region, state))
            if old is None or score > old.score:
                self.slots[(region, state)] = Example(crop, landmarks, score)


def openness(landmarks: np.ndarray) -> tuple[float, float]:
    """Inner-lip gap and mean eye aperture, in IOD."""
    iod = interocular(landmarks)
    gap = float(np.mean(landmarks[list(LIPS_INNER_LOWER), 1] - landmarks[list(LIPS_INNER_UPPER), 1])) / iod
    eye = float(np.mean([landmarks[145, 1] - landmarks[159, 1], landmarks[374, 1] - landmarks[386, 1]])) / iod
    return gap, eye


def teeth_visible(crop: np.ndarray, landmarks: np.ndarray) -> bool:
    m = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(landmarks[list(HOLES["mouth"]), :2]).astype(np.int32)], 1)
    inside = crop[m.astype(bool)].astype(np.float32)
    if len(inside) < 10:
        return False
    return float((_luma(inside) > 0.8 * float(_luma(_skin(crop, landmarks)))).mean()) > 0.15


def recall(example: Example, dst: np.ndarray, tris: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The example's pixels carried by `tris` (crop-mesh triangles, hole strips allowed) onto `dst`, cut to box."""
    size = example.crop.shape[0]
    src = np.concatenate([example.landmarks[:, :2].astype(np.float32), crop_mesh(size).ring])
    x0, y0, x1, y1 = box
    flow = np.zeros((2, y1 - y0, x1 - x0), np.float32)
    shift = np.array([x0, y0], np.float32)
    rasterize_flow(flow, src - shift, dst - shift, tris)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :] + flow[0]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None] + flow[1]
    return cv2.remap(example.crop, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)


def match_color(patch: np.ndarray, patch_w: np.ndarray, ref: np.ndarray, ref_w: np.ndarray) -> np.ndarray:
    """Per-channel mean and spread of `patch` (where patch_w) set to those of `ref` (where ref_w); float."""
    def stats(img, w):
        total = float(w.sum())
        m = (img * w[..., None]).sum((0, 1)) / total
        return m, np.sqrt(((img - m) ** 2 * w[..., None]).sum((0, 1)) / total) + 1.0

    if patch_w.sum() < 4 or ref_w.sum() < 4:
        return patch
    mp, sp = stats(patch, patch_w)
    mr, sr = stats(ref, ref_w)
    return (patch - mp) * np.clip(sr / sp, 0.5, 2.0) + mr
