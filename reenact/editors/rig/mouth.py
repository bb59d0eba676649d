"""The mouth's fills: what shows between the lips when a warp opens them, and the colours it is drawn in.

The real interior travels as two curtains (the source's own, or a remembered open mouth of the same
person); the procedural interior (teeth.py) shows where neither has anything, placed and coloured here.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...imaging import luma
from .deform import chain_y
from .fills import coverage, light, skin, smoothstep
from .mesh import HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER
from .teeth import LOWER_SHOW, OVERBITE, UPPER_SHOW, Palette, Placement

# default for a face that shows no teeth to sample (RGB, before matching the face's light): front teeth
# about as bright as lit cheek skin
TEETH_RGB = np.array([205, 198, 182], np.float32)
# the most of the upper row a raised lip uncovers (IOD): the crowns and a strip of gum
UPPER_MAX_SHOW = 0.24


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
    # the rim of the opening is lip: only its inside counts, and a sliver of lips shows no teeth
    inside = crop[box][cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)
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
    # towards the corners a source opening shows only the upper teeth: no lower layer to carry there; nor
    # where the moved lower lip is steep, as a strip a few pixels tall along it would be a sub-pixel sliver
    # across columns (a dotted edge)
    steep = np.abs(np.gradient(g.bottom[0]))[None, :]
    hl = np.minimum(LOWER_LAYER_SHARE * h_s, LOWER_LAYER_IOD * iod * scale) \
        * smoothstep((0.8 - np.abs(g.u)) / 0.4) * smoothstep(1.5 - steep)
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
    w = smoothstep(np.where(upper, (hu - du) / fu + 0.5, (hl - dl) / fl + 0.5))
    # a layer under a pixel tall is no layer (a closed source has none)
    w = (w * smoothstep(np.where(upper, hu, hl) / scale)).astype(np.float32)
    # the layers' ends run along the lips; where a lip is steep, a vertical fade is sub-pixel across
    # columns, so soften across columns too (only within the opening: the lips around it are no layer)
    w = cv2.GaussianBlur(np.where(g.cover > 0, w, 0), (5, 1), 0.8, borderType=cv2.BORDER_REPLICATE)
    return (np.broadcast_to(xs, ys.shape).astype(np.float32), ys.astype(np.float32), w,
            (hu / scale).astype(np.float32), (hl / scale).astype(np.float32))


def rim_flow(fx: np.ndarray, fy: np.ndarray, cover: np.ndarray) -> None:
    """Give the opening's rim pixels whose centres lie inside it (cover ≥ ½, so no lip triangle drew them:
    they show the hole's layer) the flow of their least-covered neighbour, the lip beside them, in place.
    The fill then blends the interior over the lip by coverage alone."""
    h, w = cover.shape
    pad = np.pad(cover, 1, constant_values=2.0)
    shifts = [(dy, dx) for dy in (0, 1, 2) for dx in (0, 1, 2)]
    best = np.argmin(np.stack([pad[dy:dy + h, dx:dx + w] for dy, dx in shifts]), axis=0)
    rim = (cover >= 0.5) & (cover < 1)
    if not rim.any():
        return
    ys, xs = np.nonzero(rim)
    dy, dx = np.array(shifts)[best[ys, xs]].T - 1
    ny, nx = np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)
    # the neighbour's flow points at its source pixel: from here, one pixel further along the same step
    fx[ys, xs] = fx[ny, nx] + dx
    fy[ys, xs] = fy[ny, nx] + dy


def teeth_colour(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """The person's own teeth colour where the source shows teeth, else a default lit like the face."""
    level = light(crop, src_lm)
    if teeth_visible(crop, src_lm):
        m, box = _mouth_mask(src_lm, crop.shape)
        px = crop[box][cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)
        if len(px) >= 10:
            y = luma(px)
            return np.median(px[y >= np.percentile(y, 50)], 0)
    # the face's light, but only half its colour cast: teeth under warm light are not orange
    gain = float(level.mean())
    return TEETH_RGB * gain * np.sqrt(level / max(gain, 1e-6))


# (outer, inner) lip points whose midpoints sit on the red of the lips, upper and lower, away from the corners
_LIP_BODY = ((0, 13), (37, 82), (267, 312), (17, 14), (84, 87), (314, 317), (39, 81), (269, 311))


def lip_colour(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """Median RGB of the lips' red, sampled halfway between their outer and inner edges (never on teeth or
    a beard)."""
    o, i = np.array(_LIP_BODY).T
    pts = 0.5 * (src_lm[o, :2] + src_lm[i, :2])
    pts = np.clip(np.round(pts).astype(int), 0, crop.shape[0] - 1)
    return np.median(crop[pts[:, 1], pts[:, 0]].astype(np.float32), 0)


def palette(crop: np.ndarray, src_lm: np.ndarray) -> Palette:
    return Palette(teeth=teeth_colour(crop, src_lm), lips=lip_colour(crop, src_lm))


def placement(src: np.ndarray, dst: np.ndarray, jaw: np.ndarray, g: MouthGeometry, hu: np.ndarray,
              hl: np.ndarray, iod: float) -> Placement:
    """Where the procedural rows go (see teeth.py) for a mouth moved from `src` to `dst` (crop meshes).

    Upper row: on the source's midline (the skull's), hanging UPPER_SHOW below the moved upper lip, plus as
    much as that lip rose past the source's (a raised lip uncovers crown, then gum), and at least as low as
    the real upper layer reaches (`hu`, output px per column of g). Lower row: moved with the jaw, its edge
    LOWER_SHOW above the real lower layer (`hl`) on the moved lower lip, but never above the upper edge less
    the overbite.
    """
    mid = 0.5 * float(src[13, 0] + src[14, 0])
    at = np.array([[mid]], np.float32)
    top = float(chain_y(dst, MOUTH_UPPER, at)[0, 0])
    rise = max(float(chain_y(src, MOUTH_UPPER, at)[0, 0]) - top, 0.0)
    # the real layer fades out over LAYER_FADE_IOD: drawn teeth end in its fade, not in a strip below it
    real = float(np.interp(mid, g.gx[0], hu[0])) - 0.5 * LAYER_FADE_IOD * iod
    upper = top + max(min(UPPER_SHOW * iod + rise, UPPER_MAX_SHOW * iod), real)
    lower_mid = mid + float(jaw[0])
    bottom = float(chain_y(dst, MOUTH_LOWER, np.array([[lower_mid]], np.float32))[0, 0])
    lower = max(bottom - float(np.interp(lower_mid, g.gx[0], hl[0])) - LOWER_SHOW * iod, upper - OVERBITE * iod)
    return Placement(mid_x=mid, upper_edge=upper, lower_edge=lower, lower_mid_x=lower_mid)
