"""The mouth's fills: what shows between the lips when a warp opens them, and the colours it is drawn in.

The real interior travels as two curtains (the source's own, or a remembered open mouth of the same
person); the procedural interior (teeth.py) shows where neither has anything, placed and coloured here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ...imaging import luma
from ...jit import compiled
from ...pipeline.types import AU_INDEX, AUVector
from ...stages.landmarks import LIPS_OUTER
from .basis import LIP_HOLD, free
from .deform import _along_at, chain_y, index, points_box
from .fills import (SKIN_CHROMA, colourful, compiled_smoothstep, coverage, median, quantile, skin,
                    slope, smoothstep, softness, toned)
from .mesh import HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER
from .teeth import (JAW_CLOSED, JAW_OPEN, LOWER_COVER, LOWER_HIDE, LOWER_SHOW, OVERBITE, RETRACT_AUS,
                    RETRACT_FULL, UPPER_SHOW, Palette, Placement)

# teeth for a face that shows none: front teeth a little darker than the lips' highlight (this share of it;
# the lips' brightest share of pixels), ivory (RGB per unit of luma), taking this share of the skin's
# colour cast
TEETH_OF_LIP_HIGHLIGHT = 1.08
LIP_HIGHLIGHT = 0.05
IVORY = np.array([1.04, 1.0, 0.94], np.float32)
SKIN_CAST = 0.35
# ... and never darker than this share of the skin's luma: lips darker than the face (lipstick) made grey teeth
# that read as a grimace (sample2_face0: 0.75). Real teeth on the tuning faces that show them: 0.81-1.55 of the
# skin, median 1.06, all but one from 0.94
TEETH_OF_SKIN = 0.9
# the person's own teeth colour is that of their lit crowns: the brightest quarter of the opening's pixels
# (a drawn crown is that colour where it faces the light, darker towards its sides and edges)
TEETH_LIT = 0.75
# of those, only enamel-like pixels count: enamel has the light's hue (a warm light raises R − G and G − B
# alike), lips, gums and tongue are redder. A pixel's red excess (R − G) − (G − B), per unit of luma, is at
# most this (lit crowns on shared and dev faces: 75th percentile ≤ 0.11; lips 0.32 … 1.08). Where fewer than
# the first share of the lit pixels are enamel-like the default is drawn, from the second on the enamel's
# colour alone, blended in between
ENAMEL_RED = 0.15
ENAMEL_SHARE = (0.1, 0.25)
# the most of the upper row a raised lip uncovers (IOD): the crowns and a strip of gum; of the lower row, its
# crowns and a little gum
UPPER_MAX_SHOW = 0.24
LOWER_MAX_SHOW = 0.14
# a relaxed mouth whose gap the edit grows this far (IOD) opens into a deep cavity: from the first, fully at
# the second (see `deep`)
GAPE = (0.05, 0.15)
# AUs that lift the lips off the upper teeth (a smile, a snarl): lips they hold are no `stretched` mouth
RAISE_AUS = ("AU10", "AU12", "AU14")
_RAISE = [AU_INDEX[a] for a in RAISE_AUS]
_AU20 = AU_INDEX["AU20"]
# the chin (menton and above it): the lower incisors sit nearer the jaw's hinge, so move this share of it
CHIN = (152, 175, 199)
JAW_AT_INCISORS = 0.85


def _mouth_mask(landmarks: np.ndarray, shape) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The inner-lip polygon as a uint8 mask over its bounding box (a pixel of margin, so an erosion sees its
    edge), and that box as slices of the crop."""
    poly = landmarks[index(HOLES["mouth"]), :2]
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + 2, shape[1::-1])
    m = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    if m.size:
        cv2.fillPoly(m, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
    return m, (slice(y0, y1), slice(x0, x1))


def _teeth_pixels(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """RGB (N, 3) float32 of the inner-lip opening when it shows teeth (enough of it brighter than most of
    the cheek skin), else None. The rim of the opening is lip, so only its inside counts, and a sliver of
    an opening shows no teeth."""
    m, box = _mouth_mask(landmarks, crop.shape)
    inside = crop[box][cv2.erode(m, np.ones((3, 3), np.uint8)).astype(bool)].astype(np.float32)
    if len(inside) < 10:
        return None
    lit = np.count_nonzero(luma(inside) > 0.8 * float(luma(skin(crop, landmarks))))
    return inside if lit / len(inside) > 0.15 else None


def teeth_visible(crop: np.ndarray, landmarks: np.ndarray) -> bool:
    return _teeth_pixels(crop, landmarks) is not None


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
# a source's upper teeth start within this top share of its opening (or two pixels) and end within this one
TEETH_START = 0.25
TEETH_SHARE = 0.85
# pixels at least this share of the teeth colour's luma count as teeth
TEETH_LUMA = 0.6
# of a source opening without teeth, only this much under the upper lip is carried (IOD): the lip's edge
LIP_EDGE_IOD = 0.025


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
    cover: np.ndarray     # (h, w) anti-aliased coverage of the opening (the landmarks' polygon, as the mesh has it)
    cx: float             # crop x of the mouth's middle
    poly: np.ndarray      # (n, 2) the opening's landmark polygon
    box: tuple[int, int, int, int]

    @cached_property
    def outline(self) -> np.ndarray:
        """(h, w) coverage of the opening as it is drawn: a smooth curve through the polygon's points (only when
        asked: a sealed mouth draws no interior)."""
        return coverage(rounded(self.poly), self.box)


def mouth_geometry(pts: np.ndarray, box) -> MouthGeometry:
    x0, y0, x1, y1 = box
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    a, b = sorted((float(pts[78, 0]), float(pts[308, 0])))
    u, top, bottom, du, dl = _opening_rows(pts, index(MOUTH_UPPER), index(MOUTH_LOWER), gx[0], gy[:, 0], a, b)
    poly = pts[index(HOLES["mouth"]), :2]
    return MouthGeometry(gx, gy, u, top, bottom, du, dl, coverage(poly, box), 0.5 * (a + b), poly, box)


@compiled
def _opening_rows(pts, upper, lower, gx, gy, a, b):  # pragma: no cover (compiled)
    """mouth_geometry's u, top, bottom (1, w) and du, dl (h, w), float32, over columns gx and rows gy from the
    corners' x a ≤ b: chain_y and numpy's steps in their order and precision, in one call instead of a dozen."""
    w, h = len(gx), len(gy)
    up, low = _along_at(pts, upper, pts, 1, gx), _along_at(pts, lower, pts, 1, gx)
    u, top, bottom = np.empty((1, w), np.float32), np.empty((1, w), np.float32), np.empty((1, w), np.float32)
    centre, half = np.float32(0.5 * (a + b)), np.float32(max(0.5 * (b - a), 1.0))
    for j in range(w):
        top[0, j] = np.float32(up[j])
        bottom[0, j] = np.float32(np.maximum(low[j], np.float64(top[0, j])))
        u[0, j] = np.minimum(np.maximum((gx[j] - centre) / half, np.float32(-1)), np.float32(1))
    du, dl = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    for i in range(h):
        for j in range(w):
            du[i, j] = gy[i] - top[0, j]
            dl[i, j] = bottom[0, j] - gy[i]
    return u, top, bottom, du, dl


# the opening's outline: this many points per inner-lip segment of a smooth curve through the landmarks
ROUND_STEPS = 4


def rounded(poly: np.ndarray, steps: int = ROUND_STEPS) -> np.ndarray:
    """(n·steps, 2) points of a closed centripetal Catmull-Rom curve through a polygon's (n, 2) points: a real
    inner lip is a smooth curve, its landmarks' polygon meets in corners (an angular opening); the curve bulges
    a little past each chord over the lips (whose flow is there to blend with), and the centripetal form
    neither overshoots nor loops at the mouth's sharp corners. Compiled: _rounded."""
    p = np.ascontiguousarray(poly, np.float64)
    out = np.empty((len(p) * steps, 2))
    _rounded(p, steps, out)
    return out


@compiled
def _rounded(p, steps, out):  # pragma: no cover (compiled)
    """rounded's points into `out`: per segment p1 → p2 (its neighbours p0, p3), Barry and Goldman's pyramid over
    the knots −d0, 0, d1, d1 + d2, each knot step the square root of its chord (kept off 0 where points meet)."""
    n = len(p)
    for i in range(n):
        i0, i2, i3 = (i - 1) % n, (i + 1) % n, (i + 2) % n
        d0 = max(np.sqrt(np.sqrt((p[i, 0] - p[i0, 0]) ** 2 + (p[i, 1] - p[i0, 1]) ** 2)), 1e-3)
        d1 = max(np.sqrt(np.sqrt((p[i2, 0] - p[i, 0]) ** 2 + (p[i2, 1] - p[i, 1]) ** 2)), 1e-3)
        d2 = max(np.sqrt(np.sqrt((p[i3, 0] - p[i2, 0]) ** 2 + (p[i3, 1] - p[i2, 1]) ** 2)), 1e-3)
        for k in range(steps):
            t = k / steps * d1
            for c in range(2):
                a1 = (-t * p[i0, c] + (t + d0) * p[i, c]) / d0
                a2 = ((d1 - t) * p[i, c] + t * p[i2, c]) / d1
                a3 = ((d1 + d2 - t) * p[i2, c] + (t - d1) * p[i3, c]) / d2
                b1 = ((d1 - t) * a1 + (t + d0) * a2) / (d1 + d0)
                b2 = ((d1 + d2 - t) * a2 + t * a3) / (d1 + d2)
                out[i * steps + k, c] = ((d1 - t) * b1 + t * b2) / d1


def _teeth_depth(crop: np.ndarray, xs: np.ndarray, top: np.ndarray, h: np.ndarray, thr: float) -> np.ndarray:
    """(1, w): per source column, how far below the upper lip its upper teeth reach (px): the run of pixels
    at least `thr` bright that starts right under the lip (a column whose teeth start lower shows the lip's
    shadow or the lower teeth, not the upper crowns), smoothed across columns."""
    k = np.arange(int(np.ceil(float(h.max()))) + 1, dtype=np.float32)[:, None]
    iy = np.clip(np.round(top + k), 0, crop.shape[0] - 1).astype(int)
    ix = np.clip(np.round(np.broadcast_to(xs, iy.shape)), 0, crop.shape[1] - 1).astype(int)
    bright = (luma(crop[iy, ix]) >= thr) & (k < h)
    first = np.argmax(bright, axis=0)
    after = (k >= first) & ~bright
    end = np.where(after.any(0), np.argmax(after, axis=0), len(k))
    starts = bright.any(0) & (first <= np.maximum(TEETH_START * h[0], 2.0))
    depth = np.where(starts, np.minimum(end, TEETH_SHARE * h[0]), 0)[None, :]
    return cv2.GaussianBlur(depth.astype(np.float32), (5, 1), 1.0, borderType=cv2.BORDER_REPLICATE)


def curtains(src: np.ndarray, g: MouthGeometry, scale: float, iod: float, teeth: tuple | None = None,
             covered: float = 0.0):
    """Where each output pixel of the opening finds its layer in a source mesh `src` (crop px), and how much
    the source can show there. Returns (xs, ys, weight) (h, w) float32 and the upper and lower layers' heights
    (1, w) in output px; `scale` converts output px to source px. `teeth` = (source crop, luma threshold)
    when the source shows teeth: the upper layer then ends with them, and what lies between them and the
    lower layer (a dark gap) is left to the drawn interior; without, only the upper lip's edge is carried.
    `covered` (0 … 1, see `deep`): how far a relaxed upper lip covers the teeth: the upper layer then gives way
    to the drawn row, its biting edge showing.
    """
    a, b = sorted((float(src[78, 0]), float(src[308, 0])))
    xs = (0.5 * (a + b) + g.u * 0.5 * (b - a)).astype(np.float32)           # (1, w)
    top_s = chain_y(src, MOUTH_UPPER, xs)
    h_s = np.maximum(chain_y(src, MOUTH_LOWER, xs) - top_s, 0)             # source opening, source px
    depth = _teeth_depth(teeth[0], xs, top_s, h_s, teeth[1]) if teeth is not None else np.empty((1, 0), np.float32)
    split, hu, hl, fu, fl = _columns(g.u[0], g.top[0], g.bottom[0], h_s[0], depth[0], covered, iod, scale)
    ys, w = np.empty(g.du.shape, np.float32), np.empty(g.du.shape, np.float32)
    _layers(g.du, g.dl, g.cover, scale, split, top_s, h_s, hu, hl, fu, fl, ys, w)
    # the layers' ends run along the lips; where a lip is steep, a vertical fade is sub-pixel across
    # columns, so soften across columns too (only within the opening: the lips around it are no layer)
    w = cv2.GaussianBlur(w, (5, 1), 0.8, borderType=cv2.BORDER_REPLICATE)
    return (np.broadcast_to(xs, ys.shape).astype(np.float32), ys, w,
            (hu / scale).astype(np.float32), (hl / scale).astype(np.float32))


@compiled
def _columns(u, top, bottom, h_s, depth, covered, iod, scale):  # pragma: no cover (compiled)
    """curtains' columns: the layers' split, heights (hu, hl) and fades (fu, fl), (1, w) float64, from the moved
    opening's u, top, bottom (float32), the source opening h_s (float64) and, when the source shows teeth, their
    `depth` (float32; empty without): numpy's steps in their order and precision, in one call instead of about
    thirty."""
    w = len(u)
    split, hu, hl, fu, fl = np.empty((1, w)), np.empty((1, w)), np.empty((1, w)), np.empty((1, w)), np.empty((1, w))
    one, two = np.float32(1), np.float32(2)
    for j in range(w):
        # towards the corners a source opening shows only the upper teeth: no lower layer to carry there; nor
        # where the moved lower lip is steep, as a strip a few pixels tall along it would be a sub-pixel sliver
        # across columns (a dotted edge); the steepness as row_gradient's, in float32
        if j == 0:
            steep = abs(bottom[1] - bottom[0])
        elif j == w - 1:
            steep = abs(bottom[j] - bottom[j - 1])
        else:
            steep = abs((bottom[j + 1] - bottom[j - 1]) / two)
        corner = np.minimum(np.maximum((np.float32(0.8) - abs(u[j])) / np.float32(0.4), np.float32(0)), one)
        flat = np.minimum(np.maximum(np.float32(1.5) - steep, np.float32(0)), one)
        low = np.minimum(LOWER_LAYER_SHARE * h_s[j], LOWER_LAYER_IOD * iod * scale) \
            * np.float64(corner * corner * (np.float32(3) - two * corner)) * np.float64(flat * flat * (np.float32(3) - two * flat))
        up = h_s[j] - low
        h_d = np.float64((bottom[j] - top[j]) * np.float32(scale))
        if len(depth):
            # a lip slid down over the teeth leaves their biting edge showing (drawn: see `placement`); the
            # source's strip right under its lip is the crowns' necks with the dark gaps between them, a sawtooth
            up = np.minimum(np.float64(depth[j]), up) * (1 - covered)
        else:
            # an opening that shows no teeth shows shadow: carried as it is while the edit keeps it about its
            # size (speech stays the person's own), but one the edit opens much wider keeps only its edge under
            # the lip and is drawn, teeth and all (stretched shadow would be a dark crescent)
            grow = np.minimum(np.maximum((h_d / np.maximum(h_s[j], 1.0) - 1.2) / 0.8, 0.0), 1.0)
            up = up + (np.minimum(up, LIP_EDGE_IOD * iod * scale) - up) * (grow * grow * (3 - 2 * grow))
        total = up + low
        # where the output column switches layers: mid-gap when opening, in proportion when closing (occlusion)
        r = 0.5 if h_d >= total else up / np.maximum(total, 1e-6)
        split[0, j] = up + (h_d - total) * r
        # each layer ends where the source's did, softly over the exposed gap but no further into the other
        # layer than it reaches (past it lies the other lip); a gap that does not open keeps a hard occlusion
        fade = np.maximum(np.minimum(h_d - total, LAYER_FADE_IOD * iod * scale), 1e-3)
        fu[0, j] = np.maximum(np.minimum(fade, 2 * low), 1e-3)
        fl[0, j] = np.maximum(np.minimum(fade, 2 * up), 1e-3)
        hu[0, j], hl[0, j] = up, low
    return split, hu, hl, fu, fl


@compiled
def _layers(g_du, g_dl, cover, scale, split, top_s, h_s, hu, hl, fu, fl, ys, w):  # pragma: no cover (compiled)
    """curtains' pixels (float32 (h, w) `g_du`, `g_dl`, `cover` of the MouthGeometry; float64 (1, w) rows),
    in numpy's steps and precision: into `ys` the source row each pixel's layer reads, into `w` how much that
    layer shows (0 outside the opening). Per pixel: the upper layer above `split`, from the upper lip down, else
    the lower from the lower lip up, faded over `fu`/`fl` at its end, and no layer under a pixel tall."""
    s = np.float32(scale)
    for i in range(g_du.shape[0]):
        for j in range(g_du.shape[1]):
            du, dl = np.float64(g_du[i, j] * s), np.float64(g_dl[i, j] * s)
            if du < split[0, j]:
                y, end, layer = top_s[0, j] + du, (hu[0, j] - du) / fu[0, j] + 0.5, hu[0, j]
            else:
                y, end, layer = top_s[0, j] + h_s[0, j] - dl, (hl[0, j] - dl) / fl[0, j] + 0.5, hl[0, j]
            ys[i, j] = np.float32(y)
            shown = np.float32(compiled_smoothstep(end) * compiled_smoothstep(layer / scale))
            w[i, j] = shown if cover[i, j] > 0 else np.float32(0)


@compiled
def opening_flow(fx, fy, cover, outline, w, xs, ys, gx, gy, took):  # pragma: no cover (compiled)
    """The moved opening's flow (fx, fy, in place) from its curtains (xs, ys, their weight w, see `curtains`): real
    layers travel in the flow; where they show nothing the lips' own flow stays, so the rim of the opening blends
    the drawn interior with the lip instead of with whatever a curtain finds there. The rim (rim_flow) is the
    drawn interior's partial pixels (coverage under 1 of both the polygon and its drawn `outline`), the pixels
    the hole's mask `took` where no real layer shows, and the drawn interior's pixels next to the rim: the
    compositor replays the flow on the frame, interpolated between crop pixels, and without the lip's flow
    there the rim's partial pixels show a mix of the lip's source and whatever the hole's flow points at (a
    dotted, stair-stepped edge on a face larger than the crop). numpy's steps (float32), in one call instead of
    about fifteen."""
    h, n = cover.shape
    real = np.zeros((h, n), np.bool_)
    inner = np.empty((h, n), np.float32)
    for i in range(h):
        for j in range(n):
            real[i, j] = cover[i, j] > 0 and w[i, j] > 0
            if real[i, j]:
                fx[i, j], fy[i, j] = xs[i, j] - gx[j], ys[i, j] - gy[i]
                inner[i, j] = 0
            else:
                inner[i, j] = np.minimum(cover[i, j], outline[i, j])
    alpha, rim = np.empty((h, n), np.float32), np.zeros((h, n), np.bool_)
    for i in range(h):
        for j in range(n):
            # next to (or itself) a partial pixel of the drawn interior: cv2.dilate of those by a cross
            near = False
            for a, b in ((i, j), (i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
                if 0 <= a < h and 0 <= b < n and inner[a, b] < 1 and not real[a, b]:
                    near = True
            band = inner[i, j] >= 1 and near
            alpha[i, j] = np.float32(0.999) if band else inner[i, j]
            rim[i, j] = (took[i, j] and not real[i, j]) or band
    _rim(fx, fy, alpha, rim)


def rim_flow(fx: np.ndarray, fy: np.ndarray, cover: np.ndarray, took) -> None:
    """Give the opening's rim pixels that no lip triangle drew (they show the hole's layer): those whose
    centres lie inside it (cover ≥ ½) and those the hole's mask `took` (a boolean mask, or one value for all),
    the flow of their least-covered neighbour that is no such pixel, the lip beside them, in place, so they
    sample what it samples; a rim two pixels deep (the hole's rounded mask along a sliver at a corner) takes it
    from the rim pixels given it. The fill then blends the interior over the lip by coverage alone. Compiled: _rim."""
    if not isinstance(took, np.ndarray):
        took = np.full(cover.shape, bool(took))
    _rim(fx, fy, cover.astype(np.float32, copy=False), took)


@compiled
def _rim(fx, fy, cover, took):  # pragma: no cover (compiled)
    """rim_flow's pixels in rounds, each round's all read first, then written: every rim pixel still waiting takes
    from its first least-covered neighbour (row by row, clamped to the box) with cover < 1 that is not waiting
    (a waiting one shows the hole's layer: taking it would carry the interior onto the lip), its flow plus the
    step to it (float64, stored as float32). When a round gives none, the rest (no lip anywhere beside them)
    take from the first least-covered of all eight neighbours."""
    h, w = cover.shape
    waiting = np.zeros((h, w), np.bool_)
    for y in range(h):
        for x in range(w):
            waiting[y, x] = (cover[y, x] >= 0.5 or took[y, x]) and cover[y, x] < 1
    at = np.argwhere(waiting)
    n = len(at)
    moved = np.empty((n, 2), np.float32)
    step = np.zeros(n, np.bool_)
    left, lip_only = n, True
    while left:
        for i in range(n):
            y, x = at[i, 0], at[i, 1]
            if not waiting[y, x]:
                continue
            by, bx = _least(cover, waiting, y, x, lip_only)
            if by >= 0:
                moved[i, 0] = np.float32(np.float64(fx[by, bx]) + (bx - x))
                moved[i, 1] = np.float32(np.float64(fy[by, bx]) + (by - y))
                step[i] = True
        given = 0
        for i in range(n):
            if step[i]:
                fx[at[i, 0], at[i, 1]], fy[at[i, 0], at[i, 1]] = moved[i, 0], moved[i, 1]
                waiting[at[i, 0], at[i, 1]] = False
                step[i] = False
                given += 1
        left -= given
        lip_only = given > 0


@compiled
def _least(cover, waiting, y, x, lip_only):  # pragma: no cover (compiled)
    """(y, x) of the first least-covered of pixel (y, x)'s eight neighbours, clamped to the box; with `lip_only`
    only those with cover < 1 that are not waiting, (-1, -1) where there is none."""
    h, w = cover.shape
    by, bx = -1, -1
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            if dy or dx:
                ny, nx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)
                if lip_only and (waiting[ny, nx] or cover[ny, nx] >= 1):
                    continue
                if by < 0 or cover[ny, nx] < cover[by, bx]:
                    by, bx = ny, nx
    return by, bx


def warm() -> None:
    """Compile (or load) the rim loop, on flow views as the mouth fill hands it, the curtains' pixels and the
    outline's curve now, rather than on the first edit."""
    flow = np.zeros((2, 3, 3), np.float32)
    rim_flow(flow[0, :2, :2], flow[1, :2, :2], np.full((2, 2), 0.5, np.float32), 0)
    half = np.full((2, 2), 0.5, np.float32)
    opening_flow(flow[0, :2, :2], flow[1, :2, :2], half, half, half, half, half, half[0], half[0], half > 0)
    px, row = np.ones((2, 2), np.float32), np.ones((1, 2))
    _layers(px, px, px, 1.0, row, row, row, row, row, row, row, px.copy(), px.copy())
    _columns(px[0], px[0], px[0], row[0], px[0], 0.0, 1.0, 1.0)
    rounded(np.zeros((3, 2)))
    for pts in (np.zeros((478, 2), np.float32), np.zeros((478, 2))):
        _opening_rows(pts, index(MOUTH_UPPER), index(MOUTH_LOWER), px[0], px[0], 0.0, 1.0)


def _lips_band(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """RGB (N, 3) float32 of the red of the lips: inside their outer contour, outside the opening."""
    poly = src_lm[index(LIPS_OUTER), :2]
    x0, y0, x1, y1 = points_box(poly, crop.shape[0], 0)
    m = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    cv2.fillPoly(m, [np.round(poly - (x0, y0)).astype(np.int32)], 1)
    cv2.fillPoly(m, [np.round(src_lm[index(HOLES["mouth"]), :2] - (x0, y0)).astype(np.int32)], 0)
    return crop[y0:y1, x0:x1][m.astype(bool)].astype(np.float32)


def teeth_colour(crop: np.ndarray, src_lm: np.ndarray, px: np.ndarray | None = None) -> np.ndarray:
    """The person's own teeth colour where the source shows teeth (`px`, its opening's pixels, see
    _teeth_pixels; their lit crowns, as far as they look like enamel: ENAMEL_RED), else `_default_teeth`."""
    if px is None:
        return _default_teeth(crop, src_lm)
    y = luma(px)
    lit = px[y >= quantile(y, TEETH_LIT)]
    enamel = lit[red_excess(lit) <= ENAMEL_RED]
    own = float(smoothstep((len(enamel) / len(lit) - ENAMEL_SHARE[0]) / (ENAMEL_SHARE[1] - ENAMEL_SHARE[0])))
    if own >= 1.0:
        return median(enamel)
    default = _default_teeth(crop, src_lm)
    return default if own <= 0.0 else (own * median(enamel) + (1 - own) * default).astype(np.float32)


def _default_teeth(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """Default teeth lit like the face: a little darker than the lips' highlight, ivory as colourful as the photo."""
    s = skin(crop, src_lm)
    ys = max(float(luma(s)), 1.0)
    band = luma(_lips_band(crop, src_lm))
    y = max(TEETH_OF_LIP_HIGHLIGHT * quantile(band, 1 - LIP_HIGHLIGHT), TEETH_OF_SKIN * ys) if len(band) >= 10 else ys
    return y * ((1 - SKIN_CAST) * toned(IVORY, colourful(s, SKIN_CHROMA)) + SKIN_CAST * s / ys)


def red_excess(rgb: np.ndarray) -> np.ndarray:
    """(N,) how much redder than the light's hue each RGB (N, 3) is: (R − G) − (G − B) per unit of luma
    (a grey or warm-lit white 0, lips and gums 0.3 or more)."""
    rgb = np.atleast_2d(rgb)
    return (rgb[:, 0] - 2 * rgb[:, 1] + rgb[:, 2]) / np.maximum(luma(rgb), 1.0)


# (outer, inner) lip points whose midpoints sit on the red of the lips, upper and lower, away from the corners
_LIP_BODY = ((0, 13), (37, 82), (267, 312), (17, 14), (84, 87), (314, 317), (39, 81), (269, 311))


def lip_colour(crop: np.ndarray, src_lm: np.ndarray) -> np.ndarray:
    """Median RGB of the lips' red, sampled halfway between their outer and inner edges (never on teeth or
    a beard)."""
    o, i = np.array(_LIP_BODY).T
    pts = 0.5 * (src_lm[o, :2] + src_lm[i, :2])
    pts = np.clip(np.round(pts).astype(int), 0, crop.shape[0] - 1)
    return median(crop[pts[:, 1], pts[:, 0]].astype(np.float32))


def palette(crop: np.ndarray, src_lm: np.ndarray) -> Palette:
    px = _teeth_pixels(crop, src_lm)
    # the photo's softness, read around the mouth (lips, their edges, the skin beside them)
    return Palette(teeth=teeth_colour(crop, src_lm, px), lips=lip_colour(crop, src_lm), shows_teeth=px is not None,
                   slope=slope(crop, src_lm), blur=softness(crop, points_box(src_lm[index(LIPS_OUTER), :2],
                                                                             crop.shape[0], 6)))


def retracted(target: AUVector) -> float:
    """How far (0 … 1) the target pulls the lips back or down off the teeth (RETRACT_AUS)."""
    return float(min(max(max(target.values[AU_INDEX[a]] for a in RETRACT_AUS) / RETRACT_FULL, 0.0), 1.0))


def stretched(target: AUVector) -> float:
    """How far (0 … 1) the target stretches the lips sideways without raising them (AU20 with no AU of
    RAISE_AUS: fear's tense mouth), fully at RETRACT_FULL. Such lips, parted by the jaw, open into a dark
    cavity as relaxed ones do (see `deep`), the flattened upper lip over the upper row's edge, but pulled
    down and back off the lower teeth (`retracted`) they bare the lower row, not a grin's two rows."""
    return float(min(max(target.values[_AU20] / RETRACT_FULL, 0.0), 1.0) * free(target, _RAISE, LIP_HOLD))


def deep(src: np.ndarray, dst: np.ndarray, iod: float, relaxed: float) -> float:
    """How far (0 … 1) the edit opens a relaxed mouth (`relaxed`: basis.lips_relaxed, or how far the lips
    are `stretched`): by how much the lips' gap at their middle grows from the source mesh `src` to the moved
    `dst` (crop px), from GAPE[0] to GAPE[1] IOD. The lips then stay over the teeth, only the upper row's
    edge showing, and the inside is a deep, dark cavity (the surprise mouth, FACS 25+26; fear's, its lower
    row bared). Lips that a smile, snarl or tightener holds (a laugh, a shout) keep their teeth bared, and a
    mouth the edit leaves as open as it was (speech) its own look."""
    grow = float(dst[14, 1] - dst[13, 1] - (src[14, 1] - src[13, 1])) / iod
    return relaxed * float(smoothstep((grow - GAPE[0]) / (GAPE[1] - GAPE[0])))


def placement(src: np.ndarray, dst: np.ndarray, jaw: np.ndarray, g: MouthGeometry, hu: np.ndarray,
              hl: np.ndarray, iod: float, retract: float = 0.0, cavity: float = 0.0) -> Placement:
    """Where the procedural rows go (see teeth.py) for a mouth moved from `src` to `dst` (crop meshes).

    Upper row: on the source's midline (the skull's), hanging UPPER_SHOW below the moved upper lip, plus as
    much as that lip rose past the source's (a raised lip uncovers crown, then gum), and at least as low as
    the real upper layer reaches (`hu`, output px per column of g). Lower row: its edge the overbite behind
    the upper one, moved with the jaw (`jaw`, crop px at the incisors), showing at most LOWER_MAX_SHOW above
    the moved lower lip's real layer (`hl`): lips that part while the jaw stays nearly closed uncover at
    least LOWER_SHOW of the lower crowns (teeth on teeth, no dark crescent), a dropped jaw takes a relaxed
    lower lip along over them, so a wide open mouth shows them only where the lip is pulled down past the
    jaw or the target retracts the lips (`retract`, see `retracted`). A deep relaxed mouth (`cavity`, see
    `deep`) shows only the upper row's edge, and no lower teeth unless the lips are retracted off them.
    """
    mid = 0.5 * float(src[13, 0] + src[14, 0])
    at = np.array([[mid]], np.float32)
    top = float(chain_y(dst, MOUTH_UPPER, at)[0, 0])
    rise = max(float(chain_y(src, MOUTH_UPPER, at)[0, 0]) - top, 0.0)
    # the real layer fades out over LAYER_FADE_IOD: drawn teeth end in its fade, not in a strip below it
    real = float(np.interp(mid, g.gx[0], hu[0])) - 0.5 * LAYER_FADE_IOD * iod
    upper = top + max(min(UPPER_SHOW * iod + rise * (1 - cavity), UPPER_MAX_SHOW * iod), real)
    # the basis's jaw (rotations only) or the chin's own move, whichever is larger, carries the lower row
    chin = (dst[index(CHIN)] - src[index(CHIN)]).mean(0) * JAW_AT_INCISORS
    drop = max(float(jaw[1]), float(chin[1]))
    lower_mid = mid + (float(jaw[0]) if drop == float(jaw[1]) else float(chin[0]))
    bottom = float(chain_y(dst, MOUTH_LOWER, np.array([[lower_mid]], np.float32))[0, 0])
    lip = bottom - float(np.interp(lower_mid, g.gx[0], hl[0]))
    opened = float(smoothstep((drop / iod - JAW_CLOSED) / (JAW_OPEN - JAW_CLOSED))) * (1 - retract)
    lower = min(max(upper - OVERBITE * iod + drop + LOWER_COVER * iod * opened, lip - LOWER_MAX_SHOW * iod),
                lip + iod * (LOWER_HIDE * opened - LOWER_SHOW * (1 - opened)))
    return Placement(mid_x=mid, upper_edge=upper, lower_edge=lower, lower_mid_x=lower_mid, cavity=cavity,
                     bared=retract)
