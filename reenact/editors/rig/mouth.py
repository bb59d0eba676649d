"""The mouth's fills: what shows between the lips when a warp opens them, and the colours it is drawn in.

The real interior travels as two curtains (the source's own, or a remembered open mouth of the same
person); a procedural cavity with teeth shows where neither has anything.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...imaging import luma
from .deform import chain_y
from .fills import coverage, light, skin, smoothstep
from .mesh import HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER

# default for a face that shows no teeth to sample (RGB, before matching the face's light)
TEETH_RGB = np.array([222, 214, 196], np.float32)


def _mouth_mask(landmarks: np.ndarray, shape) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The inner-lip polygon as a uint8 mask over its bounding box (a pixel of margin, so an erosion sees its
    edge), and that box as slices of the crop."""
    poly = landmarks[list(HOLES["mouth"]), :2]
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 2, shape[1::-1])
    m = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    if m.size:
        cv2.fillPoly(m, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
    return m, (slice(y0, y1), slice(x0, x1))


def teeth_visible(crop: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the inner-lip opening shows teeth: enough of it brighter than most of the cheek skin."""
    m, box = _mouth_mask(landmarks, crop.shape)
    inside = crop[box][m.astype(bool)].astype(np.float32)
    if len(inside) < 10:
        return False
    return float((luma(inside) > 0.8 * float(luma(skin(crop, landmarks)))).mean()) > 0.15


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
    w = smoothstep(np.where(upper, (hu - du) / fu + 0.5, (hl - dl) / fl + 0.5)).astype(np.float32)
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
    level = light(crop, src_lm)
    if teeth_visible(crop, src_lm):
        m, box = _mouth_mask(src_lm, crop.shape)
        px = crop[box][cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)
        if len(px) >= 10:
            y = luma(px)
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
    upper_a = smoothstep(edge - g.du + 0.5) * smoothstep((0.92 - np.abs(g.u)) / 0.2) \
        * smoothstep((0.6 * tooth_h - upper_from) / np.maximum(0.2 * tooth_h, 1e-3))
    upper_shade = (1.0 - 0.18 * smoothstep(t)) * (1 - 0.4 * u2) * (0.7 + 0.3 * smoothstep(g.du / 1.5))
    upper_shade = upper_shade * (1 - 0.16 * np.exp(-0.5 * (gap_u / (0.35 + 0.5 * t)) ** 2)) * _tooth_tone(g.gx - cx, UPPER_TEETH_IOD, iod)
    # cavity: dark red-brown, darkest just below the teeth and at the corners, the tongue rising from below
    below = np.clip((g.du - tooth_h) / np.maximum(h_d - tooth_h, 1e-3), 0, 1)
    tongue = smoothstep((below - 0.35) / 0.5) * smoothstep((0.85 - np.abs(g.u)) / 0.5)
    # darkest in the throat just under the teeth and towards the cheeks; a little light on the tongue's back
    light = (0.18 + 0.08 * smoothstep(below / 0.35) + 0.24 * tongue) * (1 - 0.45 * u2)
    cavity = (lip * CAVITY_TINT)[None, None] * light[..., None]
    # the inner lower lip shows as moist lip, darkening inwards
    rim = np.exp(-np.maximum(g.dl, 0) / max(0.02 * iod, 0.7))
    cavity = cavity + (lip * 0.55 - cavity) * (0.8 * rim)[..., None]
    out = cavity
    # lower teeth: standing on the lower lip, in the lip's shadow, once the jaw has opened enough
    room = h_d - np.maximum(tooth_h, upper_from) - lower_from
    lower_on = smoothstep((room - LOWER_TEETH_FROM_IOD * iod) / (LOWER_TEETH_FROM_IOD * iod))
    low_h = LOWER_TEETH_H_IOD * iod * (1 - 0.35 * u2) * lower_on
    gap_l = _tooth_gaps(g.gx - cx, LOWER_TEETH_IOD, iod)
    ld = g.dl - lower_from
    low_edge = low_h - 0.3 * np.maximum(1.2 - gap_l, 0) ** 2
    lower_a = smoothstep(low_edge - ld + 0.5) * smoothstep(ld + 0.5) * smoothstep((0.6 - np.abs(g.u)) / 0.25) * lower_on
    lower_shade = 0.9 * (1 - 0.4 * u2) * (0.7 + 0.3 * smoothstep(ld / np.maximum(low_h, 1e-3)))
    lower_shade = lower_shade * (1 - 0.2 * np.exp(-0.5 * (gap_l / (0.35 + 0.4 * smoothstep(1 - ld / np.maximum(low_h, 1e-3)))) ** 2))
    out = out + (teeth_rgb * lower_shade[..., None] - out) * lower_a[..., None]
    out = out + (teeth_rgb * upper_shade[..., None] - out) * upper_a[..., None]
    return np.clip(out, 0, 255).astype(np.float32)
