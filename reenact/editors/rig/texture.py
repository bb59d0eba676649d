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

from ...stages.landmarks import LEFT_IRIS, RIGHT_IRIS, interocular
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


# --- the mouth interior as two curtains -------------------------------------------------------------------
#
# What shows between the lips is modelled as two layers: the upper one (upper teeth, palate shadow) hangs
# from the upper inner lip, the lower one (lower teeth, tongue) stands on the lower inner lip. A column of
# the output interior samples the source column at the same relative position between the corners, at
# the same pixel distance from its lip, so a layer is never stretched vertically (no streaks) and the
# source's own lip-edge transition continues across the moved lip edge (no seam). Where the opening
# grows past what the source showed, a procedural cavity with teeth shows through; the two meet in a
# soft fade. Real pixels travel in the flow (so the compositor can replay them at full resolution);
# the procedural part is the fill, weighted by anti-aliased coverage of the moved opening.

MOUTH_UPPER = (78,) + LIPS_INNER_UPPER + (308,)
MOUTH_LOWER = (78,) + LIPS_INNER_LOWER + (308,)
# the source's lower layer: its bottom share of the opening, at most this many IOD (what is right above the
# lower lip; the rest goes with the upper lip, so upper teeth are never split between the two)
LOWER_LAYER_IOD = 0.035
LOWER_LAYER_SHARE = 0.25
# real layers fade into the procedural interior over this many IOD beyond what the source showed
LAYER_FADE_IOD = 0.03
# tooth widths as seen from the front (central incisor, lateral, canine), in IOD; heights of the visible band
UPPER_TEETH_IOD = (0.135, 0.10, 0.08)
LOWER_TEETH_IOD = (0.09, 0.085, 0.075)
UPPER_TEETH_H_IOD = 0.15
LOWER_TEETH_H_IOD = 0.1
# the lower teeth rise into view once the cavity under the upper teeth is this tall (IOD), fully at twice
LOWER_TEETH_FROM_IOD = 0.07
# the inside of a mouth is the lips' colour, darker and redder
CAVITY_TINT = np.array([1.05, 0.82, 0.82], np.float32)


def coverage(poly: np.ndarray, box: tuple[int, int, int, int], ss: int = 4) -> np.ndarray:
    """Anti-aliased area coverage (h, w) float32 of a polygon over the pixels of box (centres at integers)."""
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    m = np.zeros((h * ss, w * ss), np.uint8)
    p = (np.asarray(poly, np.float64) - (x0, y0) + 0.5) * ss - 0.5
    cv2.fillPoly(m, [np.round(p * 16).astype(np.int32)], 255, lineType=cv2.LINE_8, shift=4)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)


def _smooth(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class MouthGeometry:
    """Per-pixel mouth coordinates of the moved opening in a box."""

    gx: np.ndarray        # (1, w) crop x
    gy: np.ndarray        # (h, 1) crop y
    u: np.ndarray         # (1, w) −1 … 1 corner to corner
    top: np.ndarray       # (1, w) y of the upper inner lip
    bottom: np.ndarray    # (1, w)
    du: np.ndarray        # (h, w) px below the upper lip
    dl: np.ndarray        # (h, w) px above the lower lip
    cover: np.ndarray     # (h, w) anti-aliased coverage of the opening
    cx: float             # crop x of the mouth's middle


def mouth_geometry(pts: np.ndarray, box) -> MouthGeometry:
    x0, y0, x1, y1 = box
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    top = chain_y(pts, MOUTH_UPPER, gx).astype(np.float32)
    bottom = np.maximum(chain_y(pts, MOUTH_LOWER, gx), top).astype(np.float32)
    a, b = sorted((float(pts[78, 0]), float(pts[308, 0])))
    u = np.clip((gx - 0.5 * (a + b)) / max(0.5 * (b - a), 1.0), -1, 1)
    return MouthGeometry(gx, gy, u, top, bottom, gy - top, bottom - gy,
                         coverage(pts[list(HOLES["mouth"])], box), 0.5 * (a + b))


def curtains(src: np.ndarray, g: MouthGeometry, scale: float, iod: float):
    """Where each output pixel of the opening finds its layer in a source mesh `src` (crop px), and how much
    the source can show there. Returns (xs, ys, weight) (h, w) float32 and the upper and lower layers' heights
    (1, w) in output px; `scale` converts output px to source px.
    """
    a, b = sorted((float(src[78, 0]), float(src[308, 0])))
    xs = (0.5 * (a + b) + g.u * 0.5 * (b - a)).astype(np.float32)           # (1, w)
    top_s = chain_y(src, MOUTH_UPPER, xs)
    h_s = np.maximum(chain_y(src, MOUTH_LOWER, xs) - top_s, 0)             # source opening, source px
    hl = np.minimum(LOWER_LAYER_SHARE * h_s, LOWER_LAYER_IOD * iod * scale)
    hu = h_s - hl
    h_d = (g.bottom - g.top) * scale
    total = hu + hl
    # where the output column switches layers: mid-gap when opening, in proportion when closing (occlusion)
    r = np.where(h_d >= total, 0.5, hu / np.maximum(total, 1e-6))
    split = hu + (h_d - total) * r
    du, dl = g.du * scale, g.dl * scale
    upper = du < split
    ys = np.where(upper, top_s + du, top_s + h_s - dl)
    # each layer ends where the source's did, softly over the exposed gap but no further into the other
    # layer than it reaches (past it lies the other lip); a gap that does not open keeps a hard occlusion
    fade = np.clip(np.minimum(h_d - total, LAYER_FADE_IOD * iod * scale), 1e-3, None)
    fu = np.maximum(np.minimum(fade, 2 * hl), 1e-3)
    fl = np.maximum(np.minimum(fade, 2 * hu), 1e-3)
    w = _smooth(np.where(upper, (hu - du) / fu + 0.5, (hl - dl) / fl + 0.5)).astype(np.float32)
    # the layers' ends run along the lips; where a lip is steep, a vertical fade is sub-pixel across
    # columns, so soften across columns too (it only moves weight within the opening)
    w = cv2.GaussianBlur(w, (5, 1), 0.8, borderType=cv2.BORDER_REPLICATE)
    return (np.broadcast_to(xs, ys.shape).astype(np.float32), ys.astype(np.float32), w,
            (hu / scale).astype(np.float32), (hl / scale).astype(np.float32))


def _tooth_gaps(x: np.ndarray, widths, iod: float) -> np.ndarray:
    """Distance (px) from each column to the nearest boundary between teeth, the midline included."""
    edges = np.cumsum((0.0,) + tuple(widths)) * iod
    edges = np.concatenate([-edges[::-1], edges[1:]])
    return np.min(np.abs(x[..., None] - edges), axis=-1)


def _tooth_tone(x: np.ndarray, widths, iod: float) -> np.ndarray:
    """Brightness of each tooth: the central incisors brightest, each tooth further back a little darker."""
    edges = np.cumsum((0.0,) + tuple(widths)) * iod
    k = np.searchsorted(edges, np.abs(x)) - 1
    return np.float32(1.0) - np.float32(0.07) * np.clip(k, 0, len(widths)).astype(np.float32)


def teeth_colour(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """The person's own teeth colour where the source shows teeth, else a default lit like the face."""
    level = _light(crop, src_lm)
    if teeth_visible(crop, src_lm):
        m = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(src_lm[list(HOLES["mouth"]), :2]).astype(np.int32)], 1)
        px = crop[cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)
        if len(px) >= 10:
            y = _luma(px)
            return np.median(px[y >= np.percentile(y, 50)], 0)
    return TEETH_RGB * 0.88 * level


# (outer, inner) lip points whose midpoints sit on the red of the lips, upper and lower, away from the corners
_LIP_BODY = ((0, 13), (37, 82), (267, 312), (17, 14), (84, 87), (314, 317), (39, 81), (269, 311))


def lip_colour(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """Median RGB of the lips' red, sampled halfway between their outer and inner edges (never on teeth or
    a beard)."""
    o, i = np.array(_LIP_BODY).T
    pts = 0.5 * (src_lm[o, :2] + src_lm[i, :2])
    pts = np.clip(np.round(pts).astype(int), 0, crop.shape[0] - 1)
    return np.median(crop[pts[:, 1], pts[:, 0]].astype(np.float32), 0)


def procedural_mouth(crop: np.ndarray, src_lm: np.ndarray, g: MouthGeometry, iod: float,
                     upper_from: np.ndarray | float = 0.0, lower_from: np.ndarray | float = 0.0) -> np.ndarray:
    """(h, w, 3) float32: a dark cavity, shaded, with the upper teeth hanging from the upper lip and the lower
    teeth rising from the lower lip once the jaw has dropped far enough. `upper_from` and
    `lower_from` (px, per column) are how much of each side real layers already cover."""
    h_d = np.maximum(g.bottom - g.top, 1e-3)
    u2 = g.u * g.u
    lip = lip_colour(crop, src_lm)
    teeth_rgb = teeth_colour(crop, src_lm)
    cx = g.cx
    # upper teeth: a band under the upper lip, never more than about half the opening
    tooth_h = np.minimum(UPPER_TEETH_H_IOD * iod, 0.55 * h_d) * (1 - 0.25 * u2)
    gap_u = _tooth_gaps(g.gx - cx, UPPER_TEETH_IOD, iod)
    # each crown's cutting edge rounds off towards its neighbours
    edge = tooth_h - 0.35 * np.maximum(1.5 - gap_u, 0) ** 2
    t = g.du / np.maximum(tooth_h, 1e-3)
    # real teeth that show most of a crown end with their own edge: no procedural strip under them
    upper_a = _smooth(edge - g.du + 0.5) * _smooth((0.92 - np.abs(g.u)) / 0.2) \
        * _smooth((0.6 * tooth_h - upper_from) / np.maximum(0.2 * tooth_h, 1e-3))
    upper_shade = (1.0 - 0.18 * _smooth(t)) * (1 - 0.4 * u2) * (0.7 + 0.3 * _smooth(g.du / 1.5))
    upper_shade = upper_shade * (1 - 0.16 * np.exp(-0.5 * (gap_u / (0.35 + 0.5 * t)) ** 2)) * _tooth_tone(g.gx - cx, UPPER_TEETH_IOD, iod)
    # cavity: dark red-brown, darkest just below the teeth and at the corners, the tongue rising from below
    below = np.clip((g.du - tooth_h) / np.maximum(h_d - tooth_h, 1e-3), 0, 1)
    tongue = _smooth((below - 0.35) / 0.5) * _smooth((0.85 - np.abs(g.u)) / 0.5)
    # darkest in the throat just under the teeth and towards the cheeks; a little light on the tongue's back
    light = (0.18 + 0.08 * _smooth(below / 0.35) + 0.24 * tongue) * (1 - 0.45 * u2)
    cavity = (lip * CAVITY_TINT)[None, None] * light[..., None]
    # the inner lower lip shows as moist lip, darkening inwards
    rim = np.exp(-np.maximum(g.dl, 0) / max(0.02 * iod, 0.7))
    cavity = cavity + (lip * 0.55 - cavity) * (0.8 * rim)[..., None]
    out = cavity
    # lower teeth: standing on the lower lip, in the lip's shadow, once the jaw has opened enough
    room = h_d - np.maximum(tooth_h, upper_from) - lower_from
    lower_on = _smooth((room - LOWER_TEETH_FROM_IOD * iod) / (LOWER_TEETH_FROM_IOD * iod))
    low_h = LOWER_TEETH_H_IOD * iod * (1 - 0.35 * u2) * lower_on
    gap_l = _tooth_gaps(g.gx - cx, LOWER_TEETH_IOD, iod)
    ld = g.dl - lower_from
    low_edge = low_h - 0.3 * np.maximum(1.2 - gap_l, 0) ** 2
    lower_a = _smooth(low_edge - ld + 0.5) * _smooth(ld + 0.5) * _smooth((0.6 - np.abs(g.u)) / 0.25) * lower_on
    lower_shade = 0.9 * (1 - 0.4 * u2) * (0.7 + 0.3 * _smooth(ld / np.maximum(low_h, 1e-3)))
    lower_shade = lower_shade * (1 - 0.2 * np.exp(-0.5 * (gap_l / (0.35 + 0.4 * _smooth(1 - ld / np.maximum(low_h, 1e-3)))) ** 2))
    out = out + (teeth_rgb * lower_shade[..., None] - out) * lower_a[..., None]
    out = out + (teeth_rgb * upper_shade[..., None] - out) * upper_a[..., None]
    return np.clip(out, 0, 255).astype(np.float32)
