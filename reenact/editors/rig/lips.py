"""The lips as the mouth's own layer: sealed when the target keeps them together, never thinned away.

The motion basis moves the lip contours; what the lips look like is settled here. Every mesh vertex on
the red of the lips sits at some share of the way from the lip's outer contour to its inner edge, and
keeps that share while the inner edge moves, so a lip that closes over a gap stretches its own texture
across it (thicker, same colour, same shading from outer edge to moist inner edge) instead of the warp
showing teeth between sealed lips or smearing skin into the gap. The same move stops a lip from thinning
past a share of its own thickness.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ...pipeline.types import AU_INDEX, AUVector
from ...stages.geometry import canonical_mesh
from ...stages.landmarks import LIPS_OUTER, MOUTH_CORNERS
from ...jit import compiled
from .deform import _along_at, chain_y, index
from .fills import SKIN_CHROMA, colourful, coverage, length, row_gradient, smoothstep, toned
from .flow import rasterize_flow
from .mesh import LIPS_INNER_LOWER, face_triangles, rest_points
from .mouth import MOUTH_LOWER, MOUTH_UPPER

OUTER_UPPER = LIPS_OUTER[:11]                                   # 61 … 0 … 291
OUTER_LOWER = (61,) + LIPS_OUTER[:10:-1] + (291,)               # 61 … 17 … 291
# AU25 (lips part) at or below which a target keeps the lips sealed; from twice it, they may part freely
SEAL_AU25 = 0.4
# a lip keeps at least this share of its own thickness (the red, outer contour to inner edge), per column.
# Not too thick for an opened mouth: talking_man.mp4's parting lower lip keeps 0.19-0.20 IOD, the rig's fear and
# surprise 0.79-0.95 of his (session 12); darkening its inner edge as his lost judge pairs (disgust read angry)
KEEP_THICKNESS = 0.7
# ... and a mouth whose corners came in (a smile taken away) gets back the fuller lips of a mouth at rest: each
# sealed lip at least (source width / moved width) ** this of its source thickness, upper and lower, reached
# over the first LIP_REST_RAMP of narrowing (a mouth a hair narrower keeps KEEP_THICKNESS). Measured on smile_man.mp4
# (MediaPipe's contours in the canonical frame, columns at 0.2-0.8 of the mouth): from his broad smile (frames
# 22-64) to rest (0-15) the mouth narrows to 0.632 of its width and the upper lip thickens 1.12x (1.04-1.18
# across the columns), the lower 1.06x (0.87-1.16; 1.14 at the middle): far less than a kept volume (1.58x).
# The extra thickness goes into what is left of the gap, the rest moves the lip's outer contour out
LIP_REST_EXP = (0.247, 0.128)
LIP_REST_RAMP = 0.1
# ... and the sealed upper lip at least this share of the lower lip's source thickness, as far: a toothy smile
# pulls the upper lip up over the teeth to 0.28-0.5 of the lower (dev sample4_face3, sample6_face2, held2 obama,
# astronaut 0.63), which that exponent left a thin line; at rest it is 0.65 (closed-mouth tuning stills' median
# of 0.39-0.91; smile_man.mp4 at rest 0.72, and 0.70 in his broad smile; the canonical face 0.71)
UPPER_OF_LOWER = 0.65
# ... fully out to this share of the way from the mouth's middle to its corners, fading out by the second: grown
# by the corners, the outer contour carried the smile's dark corner pits up into a curl (astronaut: fer neutral 0.48
# -> 0.40)
UPPER_SPAN = (0.5, 0.9)
# where sealed lips meet, the texture is taken this share of the lip's thickness inside the source's inner
# edge (at most LIP_EDGE_IOD), so the seam never samples the teeth or the dark gap beside that edge
LIP_EDGE_SHARE = 0.25
LIP_EDGE_IOD = 0.02
# the line where sealed lips meet: its darkness and half-width (px), and how far across it (px) the two lips'
# textures blend; a gap closed by this much (px) or more gets the full line and takes its lips' texture from
# inside them. Measured on smile_man.mp4 at rest (256² crop): the line is 0.72-0.8 of the lips' brightness
# beside it and about 2.5 px across (a Gaussian of that full width at half depth)
SEAM_DARK = 0.27
SEAM_PX = 1.05
# each lip's inner band, this share of its thickness from the line, takes the lip's own colour (fading out
# over the outer 0.4 of it): a closed toothy smile's lip was dark there (its edge against the teeth and the
# cavity, stretched into the sealed lip), which read as a thin hard line drawn between pale lips
LIP_BAND = 0.5
# ... and the lower lip's shading at rest (smile_man.mp4): this dark at the line, reaching the lip's own
# brightness half way down it, and a shadow below its outer contour this deep
LOW_NEAR = 0.9
LOW_SHADE = 0.1
SEAM_SOFT_PX = 1.0
SEAM_FULL_PX = 0.3
# ... and each lip's colour at that line: read this far into the lip (shares of its thickness), the middle one
# by brightness per column, so the line never carries the dark gap or the teeth shadow that the source's edge shows
# (a toothy smile's lips are dark a few pixels in: their inside was in the mouth's shade); smoothed along the
# line over SEAM_ALONG_PX, so the lip's columns do not show as a staircase
SEAM_DEPTHS = (0.15, 0.3, 0.45)
# ... the lower lip's read to here, the reddest (R - G, smoothed along the line) of them: a toothy smile's lower
# lip is pale next to its inner edge (MediaPipe's edge sits on the teeth's rim, the wet lip's red starts a few
# pixels further down: 3 px on dev sample5_face3), and the middle-bright pick took that rim, a pale lower lip
LOW_DEPTHS = SEAM_DEPTHS + (0.6,)
SEAM_ALONG_PX = 1.5
# ... and where a smile was taken away (smile_gone), the upper lip's band gets its red ((R - G) / (R + G + B))
# back to this share of the lower lip's: a smile stretches the upper lip thin and pale over the teeth
# (smile_man.mp4: its red 0.83 of the lower lip's in his broad smile, 0.97 at rest; dev sample4_face3's laugh,
# no redder than the skin), and closed, that pale band over the dark line read as a closed smile's pressed
# upper lip (fer: happy)
UPPER_RED = 0.97
# at the corners of a smile taken away (a mouth narrowed by LIP_REST_RAMP or more, sealed), the warp carries
# the smile's dark corner pits along as short hard strokes that run the closed line on into the cheeks (smile_man.jpg
# at neutral). There the skin is kept no darker than its surroundings (a grey closing over CORNER_CLOSE_IOD) times a
# dimple CORNER_DARK deep at the corner (the darkest seam measured at rest: 0.65 of the lips' brightness), fading
# out CORNER_REACH_IOD beyond it; over a band CORNER_SIDE_IOD (sigma) either side of the mouth's axis, from
# CORNER_INNER_IOD inside the corner (all IOD)
CORNER_REACH_IOD = 0.15
CORNER_INNER_IOD = 0.12
CORNER_SIDE_IOD = 0.06
CORNER_CLOSE_IOD = 0.16
CORNER_DARK = 0.35
# ... and at the corners of a closed smile brought down without narrowing (a smirk on a turned face, whose width
# the rig leaves: sample5_face0 under neutral, its corners down 0.7-0.9 AU12 units, kept the smirk's dark pits and
# read happy): the pits go as the corners come down, all of them by this many AU12 units
CORNER_TAKEN_AU12 = 1.0
# a smile that lifts the upper lip off the teeth stretches it thin and pale: from rest (smile_man.mp4 frames 0, 10)
# to his broad smile (40-60, the lip's inner edge about PALE_RISE_IOD up) his upper lip's colour over the cheek's
# grows per RGB channel by the first at PALE_AT[0] of the way from its outer contour to its inner edge, by the
# second at PALE_AT[1] (the mean of five columns): brighter, most near its inner edge, and much less red. Carried as
# it was, a closed mouth's upper lip kept its resting shade, darkest where the lips had met, and over the teeth it
# read as a thick dark band, a snarl (held2 facexlib_test2: 0.19-0.29 of the cheek's luma, fer angry)
PALE = ((1.05, 1.19, 1.17), (1.12, 1.57, 1.40))
PALE_AT = (0.2, 0.8)
PALE_RISE_IOD = 0.125
# ... as far as the target raises AU12 by this much (a smile; a snarl's raised lip, AU10 alone, keeps its shade)
PALE_AU12 = 2.0
# it pales a bare lip's own red, read in what it multiplies: per pixel it takes out no more red (log R - G over the
# skin's) than the pixel has (a moustache's hair over the lip, held2 breakingbad_face1, turned a cream streak), and
# none where the lip as a whole is bluer (log B - G over the skin's, its mean as the pale weighs it) than the second
# of these, made up, from the first on: pink to lavender lipstick (held sample3_face0 0.41, sample3_face2 0.57,
# sample1_face1 1.45; it turned lavender-white) where a bare lip is -0.08-0.20 (the shared stills, smile_man.mp4,
# held2's). Per pixel, a dark seam's hue is noise (breakingbad_face1's read made up, a dark blot over the teeth)
MADE_UP_BLUE = (0.25, 0.4)


@lru_cache(maxsize=1)
def lip_vertices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper-lip vertex ids, lower-lip vertex ids, triangles of the red of both lips) of the mesh: the
    vertices inside the outer lip contour, split by the inner edges (corners with the upper lip; a lip has
    no height at its corner, so they never move here)."""
    canon = canonical_mesh()[:, :2].astype(np.float32)
    ring = canon[list(LIPS_OUTER)]
    red = [i for i in range(len(canon))
           if cv2.pointPolygonTest(ring, (float(canon[i, 0]), float(canon[i, 1])), True) > -1e-4]
    x, y = canon[red, 0], canon[red, 1]
    mid = 0.5 * (chain_y(canon, MOUTH_UPPER, x) + chain_y(canon, MOUTH_LOWER, x))
    lower = (y > mid) | np.isin(red, LIPS_INNER_LOWER)
    lower &= ~np.isin(red, MOUTH_UPPER)
    red = np.array(red, np.int32)
    tris = face_triangles()
    out = red[~lower], red[lower], tris[np.all(np.isin(tris, red), axis=1)]
    for a in out:
        a.setflags(write=False)
    return out


def seal_share(source: AUVector, target: AUVector) -> tuple[float, float]:
    """(seal, keep): how much of the opening the edit made the target wants shut (1 at AU25 ≤ SEAL_AU25), and
    how much of the source's own lip gap it still wants (1 unless it asks for less lip parting than the
    face shows, so speech in a video keeps its gaps)."""
    k = AU_INDEX["AU25"]
    a, s = float(target.values[k]), float(source.values[k])
    return float(smoothstep((2 * SEAL_AU25 - a) / SEAL_AU25)), min(max(a / s, 0.0), 1.0) if s > 1e-6 else 1.0


def rest_thickness(src: np.ndarray, dst: np.ndarray, seal: float) -> tuple[float, float, float]:
    """(upper, lower, upper of lower): the least share of its source thickness each lip keeps in the moved mouth:
    KEEP_THICKNESS, or, as far as the lips are sealed, a resting mouth's fuller lips as far as the corners came in
    (LIP_REST_EXP; an opening mouth keeps its opening: surprise's dropped jaw on a smile would show the lips' red
    inside it), and the least share of the lower lip's source thickness the upper keeps (UPPER_OF_LOWER, as far)."""
    narrow, ramp = _narrowing(src, dst), smile_gone(src, dst, seal)
    least_u, least_l = (KEEP_THICKNESS + ramp * max(narrow ** e - KEEP_THICKNESS, 0.0) for e in LIP_REST_EXP)
    return least_u, least_l, UPPER_OF_LOWER * ramp


def settle(src: np.ndarray, dst: np.ndarray, seal: float, keep: float, iod: float) -> tuple[np.ndarray, np.ndarray]:
    """Crop-mesh positions with the lips settled: each lip at least `rest_thickness` of its source thickness
    (from what is left of the gap, else its outer contour moves out), and the gap between them no wider than
    the larger of (1 − seal) of the moved gap and `keep` of the source's own gap. Returns (moved positions,
    the source positions to carry the lips from). Compiled: _settled."""
    up, low, _ = lip_vertices()
    least_u, least_l, u_of_l = rest_thickness(src, dst, seal)
    return _settled(src, dst, up, low, _CHAINS, least_u, least_l, u_of_l, seal, keep, iod, _across(src, dst))


def _across(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, float, float]:
    """How a moved column's x maps onto the source's at the same share of the way between the inner corners:
    (the source's middle, the moved middle, the source's width, the moved width, at least 1)."""
    a, b = sorted((float(dst[78, 0]), float(dst[308, 0])))
    sa, sb = sorted((float(src[78, 0]), float(src[308, 0])))
    return 0.5 * (sa + sb), 0.5 * (a + b), sb - sa, max(b - a, 1.0)


# the lips' outer-upper, inner-upper, inner-lower and outer-lower edges, corner to corner
_CHAINS = tuple(index(c) for c in (OUTER_UPPER, MOUTH_UPPER, MOUTH_LOWER, OUTER_LOWER))


@compiled
def _settled(src, dst, up, low, chains, least_u, least_l, u_of_l, seal, keep, iod, across):  # pragma: no cover (compiled)
    """settle's arithmetic per lip vertex, in numpy's order and precision: the columns' x (and the source's at
    the same share between the corners, `across`: its middle, the moved middle, widths) in float32, the edges
    read along them (chain_y) and all that follows in float64, the positions moved in float32."""
    n, m = len(up), len(up) + len(low)
    ids = np.empty(m, np.intp)
    ids[:n] = up
    ids[n:] = low
    x, xs = np.empty(m, np.float32), np.empty(m, np.float32)
    mid_s, mid, width_s, width = np.float32(across[0]), np.float32(across[1]), np.float32(across[2]), np.float32(across[3])
    for i in range(m):
        x[i] = dst[ids[i], 0]
        xs[i] = mid_s + (x[i] - mid) * width_s / width
    ou, iu = _along_at(dst, chains[0], dst, 1, x), _along_at(dst, chains[1], dst, 1, x)
    il, ol = _along_at(dst, chains[2], dst, 1, x), _along_at(dst, chains[3], dst, 1, x)
    s0, s1 = _along_at(src, chains[0], src, 1, xs), _along_at(src, chains[1], src, 1, xs)
    s2, s3 = _along_at(src, chains[2], src, 1, xs), _along_at(src, chains[3], src, 1, xs)
    out, src_out = dst.copy(), src.copy()
    for i in range(m):
        tu_s, gap_s, tl_s = s1[i] - s0[i], max(s2[i] - s1[i], 0.0), s3[i] - s2[i]
        tu, tl = max(iu[i] - ou[i], 1e-3), max(ol[i] - il[i], 1e-3)
        gap = max(il[i] - iu[i], 0.0)
        want_u = max(least_u * tu_s - tu, 0.0)
        want_l = max(least_l * tl_s - tl, 0.0)
        fit = min(gap / max(want_u + want_l, 1e-6), 1.0)
        need_u, need_l = want_u * fit, want_l * fit
        # what the gap could not give of the resting lips' surplus over KEEP_THICKNESS moves the outer contour
        # out (a lip pressed thinner than KEEP_THICKNESS with no gap left stays: a tightened or stretched lip)
        out_u = max(want_u - max(max(KEEP_THICKNESS * tu_s - tu, 0.0), need_u), 0.0)
        out_l = max(want_l - max(max(KEEP_THICKNESS * tl_s - tl, 0.0), need_l), 0.0)
        close = max(gap - need_u - need_l - max((1 - seal) * gap, keep * gap_s), 0.0)
        tu2, tl2 = tu + need_u, tl + need_l
        # the upper lip short of u_of_l of the lower once closed grows at its outer contour, over UPPER_SPAN: taken
        # from the gap, the line where the lips meet would sink below the corners, a smile's curve
        u = abs(np.float64(x[i]) - np.float64(mid)) / max(0.5 * np.float64(width), 1e-6)
        fade = min(max((UPPER_SPAN[1] - u) / (UPPER_SPAN[1] - UPPER_SPAN[0]), 0.0), 1.0)
        out_u += max(fade * u_of_l * tl_s - tu2 - close * tu2 / (tu2 + tl2) - out_u, 0.0)
        # every vertex keeps its share of the way from its lip's outer contour to the inner edge
        y = np.float64(dst[ids[i], 1])
        if i < n:
            share = min(max((y - ou[i]) / tu, 0.0), 1.0)
            step = -out_u + share * (need_u + close * tu2 / (tu2 + tl2) + out_u)
        else:
            share = min(max((ol[i] - y) / tl, 0.0), 1.0)
            step = out_l - share * (need_l + close * tl2 / (tu2 + tl2) + out_l)
        out[ids[i], 1] = np.float32(np.float64(out[ids[i], 1]) + step)
        # an inner edge that closed over a gap takes its texture from inside its lip, not from the source's
        # edge pixels (teeth or the dark gap bleed into those)
        thick = tu_s if i < n else tl_s
        pull = (min(LIP_EDGE_SHARE * thick, LIP_EDGE_IOD * iod) * min(max(close / SEAM_FULL_PX, 0.0), 1.0)
                * share ** 4.0)
        src_out[ids[i], 1] = np.float32(np.float64(src_out[ids[i], 1]) + (-pull if i < n else pull))
    return out, src_out


def warm() -> None:
    """Compile (or load) the lips' loops now, rather than on the first edit that settles or seams them."""
    rest = rest_points(256).copy()   # the average face, writable, as a deformation's points are
    settle(rest, rest, 1.0, 1.0, 1.0)
    _seam_columns(rest, rest, rest, np.zeros(1, np.float32), 0.0, 1.0, index(MOUTH_UPPER), index(MOUTH_LOWER),
                  index(OUTER_UPPER), index(OUTER_LOWER))
    row, rgb = np.zeros(1), np.zeros((1, 3), np.float32)
    _seam_pixels(np.zeros((1, 1, 3), np.float32), np.zeros((1, 1), np.float32), np.zeros((1, 1, 3), np.float32), 0,
                 row, row, row, row, row, row, rgb, rgb)


def carry(flow: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """Redraw the red of the lips into a backward flow for settled positions (see `settle`)."""
    rasterize_flow(flow, src, dst, lip_vertices()[2])


def seam(src: np.ndarray, dst_before: np.ndarray, dst_after: np.ndarray, warped: np.ndarray,
         box, gone: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(colour (h, w, 3), alpha (h, w)) of the line where settled lips meet over a gap (the source's, or the
    moved one's): there the flow jumps from one lip's texture to the other's along its edge pixels, which saw
    the gap, the teeth or their shadow. Each lip's edge instead takes the lip's own colour from inside it
    (SEAM_DEPTHS, LOW_DEPTHS; from `warped`, the box of the crop warped with the lips' flow), the two lips
    blend across the line over SEAM_SOFT_PX, darkened at its middle, as strongly as the gap was wide (up to
    SEAM_FULL_PX); nothing where the lips already met. `gone` (smile_gone): how far a smile was taken away, as far
    as which the upper lip's colour gets its red back (UPPER_RED)."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    a, b = sorted(float(dst_after[i, 0]) for i in MOUTH_CORNERS)
    closed, mid, *thick = _seam_columns(src, dst_before, dst_after, gx[0], a, b, index(MOUTH_UPPER), index(MOUTH_LOWER),
                                        index(OUTER_UPPER), index(OUTER_LOWER))
    img = warped.astype(np.float32)
    lip, reach = [], []
    for t, sign, depths in zip(thick, (-1.0, 1.0), (SEAM_DEPTHS, LOW_DEPTHS)):
        depths = np.asarray(depths, np.float32)
        ys = mid + sign * depths[:, None] * t                                              # (depths, w)
        seen = cv2.remap(img, np.broadcast_to(gx - x0, ys.shape).astype(np.float32), (ys - y0).astype(np.float32),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)                 # (depths, w, 3)
        if sign < 0:
            k = np.argsort(seen.sum(-1), axis=0)[len(depths) // 2]
        else:
            red = seen[..., 0] - seen[..., 1]
            red[len(SEAM_DEPTHS) // 2] += 1e-3    # a grey picture has no red to go by: the upper lip's middle depth
            k = np.argmax(cv2.GaussianBlur(red, (0, 0), sigmaX=SEAM_ALONG_PX, sigmaY=0.1), axis=0)
        cols = np.arange(w)
        lip.append(cv2.GaussianBlur(seen[k, cols][None], (0, 0), sigmaX=SEAM_ALONG_PX, sigmaY=0.1)[0])
        reach.append(cv2.GaussianBlur((depths[k] * t[0])[None], (0, 0), sigmaX=SEAM_ALONG_PX, sigmaY=0.1)[0])
    if gone > 0:
        lip[0] = _reddened(lip[0], lip[1], gone)
    up, low = reach
    up = np.maximum(up, LIP_BAND * thick[0][0])
    low = np.maximum(low, LIP_BAND * thick[1][0])
    colour, alpha = np.empty_like(img), np.empty(img.shape[:2], np.float32)
    _seam_pixels(colour, alpha, img, y0, mid[0], row_gradient(mid[0]), closed[0], up, low, thick[1][0], lip[0], lip[1])
    return colour, alpha


@compiled
def _seam_columns(src, before, after, gx, a, b, upper, lower, outer_upper, outer_lower):  # pragma: no cover (compiled)
    """seam's rows (1, w) float64 over the columns gx (float32): how `closed` the line is (the wider of the
    source's and the unsettled gap, against the settled one), the settled lips' `mid` line and their thickness from
    it, upper and lower (chain_y's along the inner and outer edges): numpy's steps in their order and precision,
    in one call instead of about twenty."""
    up_s, low_s = _along_at(src, upper, src, 1, gx), _along_at(src, lower, src, 1, gx)
    up_b, low_b = _along_at(before, upper, before, 1, gx), _along_at(before, lower, before, 1, gx)
    top, bottom = _along_at(after, upper, after, 1, gx), _along_at(after, lower, after, 1, gx)
    out_up, out_low = _along_at(after, outer_upper, after, 1, gx), _along_at(after, outer_lower, after, 1, gx)
    w = len(gx)
    closed, mid, thick_up, thick_low = np.empty((1, w)), np.empty((1, w)), np.empty((1, w)), np.empty((1, w))
    zero, one = np.float32(0), np.float32(1)
    for j in range(w):
        gap = bottom[j] - top[j]
        c = np.minimum(np.maximum((np.maximum(low_s[j] - up_s[j], low_b[j] - up_b[j]) - gap) / SEAM_FULL_PX, 0.0), 1.0)
        # only where the lips now meet (a pixel apart at most), from corner to corner (float32, as gx)
        along = np.minimum(np.maximum(np.minimum(gx[j] - np.float32(a), np.float32(b) - gx[j]), zero), one)
        closed[0, j] = c * (np.minimum(np.maximum(1 - gap, 0.0), 1.0) * np.float64(along))
        m = 0.5 * (top[j] + bottom[j])
        mid[0, j] = m
        thick_up[0, j], thick_low[0, j] = np.maximum(m - out_up[j], 0.0), np.maximum(out_low[j] - m, 0.0)
    return closed, mid, thick_up, thick_low


@compiled
def _seam_pixels(colour, alpha, img, y0, mid, slope, closed, up, low, tl, up_rgb, low_rgb):  # pragma: no cover (compiled)
    """seam's per-pixel layers into `colour` (h, w, 3) and `alpha` (h, w), float32, over `img` (the warped box, its
    first row at crop y0), from the per-column line `mid`, its `slope`, how `closed` it is, the lips' reach `up`,
    `low` and the lower lip's thickness `tl` (float64), and the lips' colours (w, 3) float32: numpy's steps in
    their order and precision (float64, the colour rounded to float32 before it is laid over `img`), about 40
    whole-box numpy calls in one loop."""
    for j in range(img.shape[1]):
        fu, fl = max(0.4 * up[j], 1.0), max(0.4 * low[j], 1.0)
        # the line's width across itself, not down the column: where it slopes (the corners of a frown) a
        # column-wise width thins it into dashes
        steep = np.sqrt(1 + slope[j] * slope[j])
        sig = 0.3 * tl[j] + 0.5
        for i in range(img.shape[0]):
            d = np.float64(y0 + i) - mid[j]
            # from the upper lip's colour to the lower's across the line, darkened at its middle
            mix = _clip01(0.5 + d / (2 * SEAM_SOFT_PX))
            q = d / steep / SEAM_PX
            dark = 1 - SEAM_DARK * closed[j] * np.exp(-0.5 * (q * q))
            # the whole band the lips' own colour replaces, fading out over its outer 0.4 (a pixel at least)
            a = closed[j] * _clip01((up[j] + d) / fu + 1 if d < 0 else (low[j] - d) / fl + 1)
            # the lower lip shaded as at rest, down to its shadow on the chin (a toothy smile's lower lip is lit flat)
            below = d - tl[j]
            g = (below - 0.3 * tl[j]) / sig
            shade = (1 - (1 - LOW_NEAR) * _clip01(1 - d / max(0.5 * tl[j], 1.0))
                     - LOW_SHADE * np.exp(-0.5 * (g * g)))
            region = closed[j] * (1.0 if d > 0 else 0.0) * (1.0 if below < 0.3 * tl[j] + 3 * sig else 0.0)
            if not region > 0:
                shade = 1.0
            for k in range(3):
                c = np.float32((np.float64(up_rgb[j, k]) * (1 - mix) + np.float64(low_rgb[j, k]) * mix) * dark)
                colour[i, j, k] = np.float32((np.float64(c) * a + np.float64(img[i, j, k]) * (1 - a)) * shade)
            alpha[i, j] = np.float32(a if a >= region or np.isnan(a) else region)   # np.maximum


@compiled
def _clip01(x):  # pragma: no cover (compiled)
    """np.clip(x, 0, 1) of a float64, bit for bit: NaN passes and -0.0 becomes 0 (eyes._unit keeps -0.0)."""
    if np.isnan(x):
        return x
    x = x if x > 0.0 else 0.0
    return x if x < 1.0 else 1.0


def _reddened(upper: np.ndarray, lower: np.ndarray, gone: float) -> np.ndarray:
    """The upper lip's colour per column (w, 3) with its red back as far as a smile was taken away (`gone`)."""
    total_u, total_l = upper.sum(1), np.maximum(lower.sum(1), 1e-3)
    # red as a share of brightness: the lower lip's colour at the upper lip's brightness blends linearly in it
    red_u, red_l = (upper[:, 0] - upper[:, 1]) / np.maximum(total_u, 1e-3), (lower[:, 0] - lower[:, 1]) / total_l
    lack = np.clip((UPPER_RED * red_l - red_u) / np.maximum(red_l - red_u, 1e-6), 0, 1) * (red_l > red_u) * gone
    return (upper + lack[:, None] * (lower * (total_u / total_l)[:, None] - upper)).astype(np.float32)


def paled(src: np.ndarray, dst: np.ndarray, iod: float, size: int, smile: float, skin: np.ndarray,
          read) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """(crop box, ratio (h, w, 3) float32) that pales the moved upper lip as a smile stretches it over the teeth
    (PALE): per column, as far as its inner edge rose over the source's (at the same share between the corners, up
    to PALE_RISE_IOD) and the target raises AU12 (`smile`, its change, up to PALE_AU12), its colour shift as strong
    as the photo is colourful (fills.colourful of the cheeks' `skin`: a grey photo's lip only brightens), and per
    pixel only on a bare lip's own red (MADE_UP_BLUE) of what it multiplies (`read`(box): appearance.laid_over);
    None where nothing pales."""
    gate = min(max(smile / PALE_AU12, 0.0), 1.0)
    if gate <= 0:
        return None
    ring = np.concatenate([dst[index(OUTER_UPPER), :2], dst[index(MOUTH_UPPER[::-1]), :2]])
    x0, y0 = np.maximum(np.floor(ring.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(ring.max(0)).astype(int) + 2, size)
    if x1 <= x0 or y1 <= y0:
        return None
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    mid_s, mid, wide_s, wide = _across(src, dst)
    xs = mid_s + (gx - mid) * wide_s / wide
    outer, inner = chain_y(dst, OUTER_UPPER, gx), chain_y(dst, MOUTH_UPPER, gx)
    rise = (chain_y(src, MOUTH_UPPER, xs) - inner) / iod
    strength = gate * np.clip(rise / PALE_RISE_IOD, 0, 1) * coverage(ring, (x0, y0, x1, y1))
    if not strength.max() > 0:
        return None
    t = np.clip(((gy - outer) / np.maximum(inner - outer, 1e-3) - PALE_AT[0]) / (PALE_AT[1] - PALE_AT[0]), 0, 1)
    lo, hi = np.log(PALE)
    lo, hi = (toned(v, colourful(skin, SKIN_CHROMA)) for v in (lo, hi))
    log = strength[..., None] * (lo + (hi - lo) * t[..., None])
    # only a bare lip's own red (MADE_UP_BLUE): the red it takes out (G's gain over R's) is at most the pixel's
    over = np.log(read((x0, y0, x1, y1)) + 8.0) - np.log(skin + 8.0)
    takes = log[..., 1] - log[..., 0]
    bare = np.where(takes > 1e-3, np.clip((over[..., 0] - over[..., 1]) / np.maximum(takes, 1e-3), 0, 1), 1)
    blue = float(((over[..., 2] - over[..., 1]) * log[..., 1]).sum() / log[..., 1].sum())
    bare *= 1 - smoothstep((blue - MADE_UP_BLUE[0]) / (MADE_UP_BLUE[1] - MADE_UP_BLUE[0]))
    return (x0, y0, x1, y1), np.exp(log * bare[..., None]).astype(np.float32)


def corner_box(dst: np.ndarray, iod: float, size: int) -> tuple[int, int, int, int]:
    """The crop box around the moved mouth's corners that `corner_tails` redraws."""
    pad = int(np.ceil((CORNER_REACH_IOD + CORNER_CLOSE_IOD) * iod)) + 2
    c = dst[index(MOUTH_CORNERS), :2]
    x0, y0 = np.floor(c.min(0)).astype(int) - pad
    x1, y1 = np.ceil(c.max(0)).astype(int) + pad
    return max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)


def _narrowing(src: np.ndarray, dst: np.ndarray) -> float:
    """Source mouth width / moved mouth width (corner to corner)."""
    return float(length(src[291] - src[61])) / max(float(length(dst[291] - dst[61])), 1.0)


def smile_gone(src: np.ndarray, dst: np.ndarray, seal: float, taken: float = 0.0) -> float:
    """How far the edit took a smile's corners away: the mouth narrowed (0 up to 1 over LIP_REST_RAMP), or its
    corners brought down by `taken` AU12 units (Deformation.smile's larger side; full at CORNER_TAKEN_AU12), as far
    as its lips are sealed (`seal`, seal_share's); 0 where it closed no smile."""
    narrowed = (_narrowing(src, dst) - 1) / LIP_REST_RAMP
    return float(min(max(narrowed, taken / CORNER_TAKEN_AU12, 0.0), 1.0)) * seal


def corner_tails(dst: np.ndarray, gone: float, warped: np.ndarray, box,
                 iod: float) -> tuple[np.ndarray, np.ndarray]:
    """(colour (h, w, 3), alpha (h, w)) over `box` (corner_box; `warped`: what the edit shows there): at each
    corner of a smile taken away (`gone`, smile_gone's), the skin lifted to at least its surroundings times a soft dimple (CORNER_*), so
    the closed line ends at the corners as a resting mouth's does instead of hooking on into the cheeks."""
    x0, y0, x1, y1 = box
    img = warped.astype(np.float32)
    k = 2 * int(round(CORNER_CLOSE_IOD * iod / 2)) + 1
    around = cv2.GaussianBlur(cv2.morphologyEx(img, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)), (0, 0), k / 4)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    centre = 0.5 * (dst[61, :2] + dst[291, :2])
    reach, side, inner = CORNER_REACH_IOD * iod, CORNER_SIDE_IOD * iod, CORNER_INNER_IOD * iod
    floor = np.zeros(img.shape[:2], np.float32)
    weight = np.zeros(img.shape[:2], np.float32)
    for i in MOUTH_CORNERS:
        u = dst[i, :2] - centre
        u = u / max(float(length(u)), 1e-6)
        s = (gx - dst[i, 0]) * u[0] + (gy - dst[i, 1]) * u[1]            # along, beyond the corner
        n = -(gx - dst[i, 0]) * u[1] + (gy - dst[i, 1]) * u[0]           # across
        t = np.clip(s / reach, 0, 1)
        w = np.exp(-0.5 * (n / side) ** 2) * np.clip(1 + s / inner, 0, 1) * (1 - smoothstep(t))
        dimple = 1 - CORNER_DARK * (1 - t)
        take = w > weight
        floor = np.where(take, dimple, floor)
        weight = np.maximum(weight, w)
    floor = np.where(weight > 0, floor, 1).astype(np.float32)
    colour = cv2.merge([np.maximum(c, a * floor) for c, a in zip(cv2.split(img), cv2.split(around))])
    return colour, (weight * gone).astype(np.float32)
