"""Appearance per AU: the skin's own creases, bulges and folds as a multiplicative shading image.

FACS describes every AU by its motion and by the appearance changes it makes: horizontal forehead lines
(AU1/AU2), vertical furrows between the brows (AU4), crow's feet and a bagged lower lid (AU6), and so on.
The rig's flow gives the motion; this module gives the appearance. Each pattern in
configs/appearance.yaml is a small height field (grooves along curves through landmarks, bulges,
dimpling), rendered once in the canonical frame: the average face where the aligner puts it in the crop.
Per edit:
1. each pattern is weighted by the AU change on its own side;
2. it is lit by the light this face shows (a directional term from the height field's slope, plus
   occlusion in the grooves);
3. it lands on the moved skin through the least-squares affine of the moved landmarks around it;
4. the sum is exponentiated into a ratio image per RGB channel (1 = no change) that multiplies the
   warped crop, and that the compositor replays on the frame.
A pattern whose AUs go down lifts the face's own creases there instead: its dark valleys, read through
the rig's flow, are brightened towards their surroundings, so taking a smile away softens the nasolabial
fold the face showed. A smile's patterns also even out the skin's broad shading as their AUs fall: the
fold's wide shadow and the bulge of the cheek beside it, the bagged lower lid, are taken towards the
brightness of the bare skin around them (lips, eyes and nostrils left out), so the cheeks stop reading
as raised. A `reveal` pattern evens out the broad shading as its AUs rise instead: the upper lid that a
raised brow pulls out of the socket's shadow.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from ...config import load_dataclass
from ...errors import ConfigError
from ...pipeline.types import AU_INDEX, AU_NAMES, au_key
from ...jit import compiled
from ...stages.geometry import canonical_mesh
from ...stages.landmarks import FACE_OVAL, LEFT_EYE, LIPS_OUTER, MOUTH_CORNERS, N_LANDMARKS, RIGHT_EYE, interocular
from .basis import MIDLINE
from .deform import Deformation, shapes_mouth
from .fills import length
from .flow import warped_crop
from .mesh import N_MESH, face_triangles, rest_points

CONFIG_FILE = "appearance.yaml"
# the AUs that deepen the nasolabial fold themselves: as they rise, a lifted fold keeps its thin core (shading)
_DEEPENS_FOLD = [AU_INDEX[a] for a in ("AU09", "AU10", "AU20")]
# skin this colourful (mean |R − G| and |B − G| over G) gets the full tint; greyer skin less, grey none
FULL_CHROMA = 0.15
# offsets (dy, dx), each (9, 1), of a 3 × 3 patch, for sampling the light
_NEIGHBOURS = tuple(np.stack(np.meshgrid(np.arange(-1, 2), np.arange(-1, 2), indexing="ij")).reshape(2, 9, 1)
                    .astype(np.float32))
# BT.601 luma's weights of R, G, B: the brightness a pattern's depth is
LUMA = np.array([0.299, 0.587, 0.114])
# |log shade| below this changes no pixel by half a level (at 255): it is set to exactly 0
MIN_LOG = 1.0 / 512
SIDES = ("right", "mid")
# landmarks this far (IOD) around a pattern's curves and bumps carry it onto a face
ANCHOR_MARGIN_IOD = 0.1
# a pattern weaker than this (share of its full strength) is left out: it would change a pixel by a level or two
MIN_STRENGTH = 0.05
# a lift weaker than this is left out: it costs as much as a strong one and does little
MIN_LIFT = 0.15
# what is not bare skin, kept out of the brightness a smile's broad shading is evened towards: the lips,
# the eyes and the nose's base with its wings and nostrils, each grown by HOLE_MARGIN_IOD
NOSE_BASE = (49, 64, 98, 97, 2, 326, 327, 294, 279, 4)
NOT_SKIN = (LIPS_OUTER, RIGHT_EYE, LEFT_EYE, NOSE_BASE)
_NOT_SKIN = tuple(np.array(ids) for ids in NOT_SKIN)
_OVAL = np.array(FACE_OVAL)
HOLE_MARGIN_IOD = 0.05
# ... except around the corners of a mouth whose lips meet within this (IOD) at its middle: an open mouth's
# corners are dark with its opening (lifted, an angry mouth's corners paled), a closed one's with skin
CLOSED_MOUTH_IOD = 0.04
# the wide blur of the broad shading runs at up to 1/4 resolution, keeping >= 2 px of sigma there
WIDE_BLUR_MAX_K = 4
WIDE_BLUR_LOW_PX = 2.0


@dataclass(frozen=True)
class PatternConfig:
    """One appearance pattern, written for the subject's right half of the face (image left).

    Points are [landmark, dx, dy]: a landmark of the canonical mesh plus an offset in inter-ocular
    distances (x to the image right, y down). Heights are in crop pixels.
    """

    aus: dict = field(default_factory=dict)   # AU → weight: the pattern's strength is Σ weight·ΔAU over the AUs that
                                              # rise on its side, its lift the same over those that fall
    side: str = "right"        # right (mirrored onto the left, each half driven by its own side) | mid
    grooves: tuple = ()        # polylines of points; on `mid` each is mirrored too, joined if it ends on the midline
    depths: tuple = ()         # per groove, × depth (default 1)
    depth: float = 1.0         # px, the groove's depth
    width: float = 0.02        # IOD, the groove's Gaussian σ
    ridge: tuple = ()          # (offset IOD, σ IOD, height px): skin bunched beside each groove; + is the
                               # groove's right-hand side in image coordinates (lateral for a fold drawn downwards)
    bumps: tuple = ()          # [landmark, dx, dy, rx, ry, height]: Gaussian bulges (IOD, IOD, IOD, IOD, IOD, px)
    envelope: tuple = ()       # [landmark, dx, dy, rx, ry]: a Gaussian window over the whole pattern
    taper: float = 0.3         # share of each groove's length over which its ends fade in
    wobble: float = 0.0        # IOD: grooves meander sideways by up to this, and (when > 0) come and go in depth
    texture: float = 0.0       # px: dimpling (band-pass noise) inside the envelope, e.g. the chin boss
    soften: bool = True        # whether a falling AU lifts the face's own creases under this pattern
    fold: bool = False         # its crease is a wide fold: lifted up to the rims of a valley fold_width wide
    flatten: float = 0.0       # how far a falling AU also evens out the skin's broad shading under the
                               # pattern (its grooves, ridges and bumps), 0–1
    reveal: bool = False       # its AUs rising even out the broad shading under it, `flatten` as far, instead
                               # of drawing its relief: skin pulled out of a shadow and stretched smooth
    taut: bool = False         # with `reveal`: its AUs rising also lift the face's own creases under it (skin pulled taut)
    scattered: bool = True     # its shade is a groove in skin, coloured by the light scattered into it by its
                               # width (_tint); false: a line that is not (the lashes, the lips' seam), a wide shadow's


@dataclass(frozen=True)
class AppearanceConfig:
    enabled: bool = True
    saturation: float = 3.0    # ΔAU (weighted) at which a pattern reaches tanh(1) of its full strength
    occlusion: float = 0.2     # log shade per px of groove depth: light that does not reach a groove's floor
    relief: float = 0.5        # share of the Lambertian play of light on the slopes that shows through skin
    light_prior: tuple = (0.0, -0.2)   # light direction (x, y per unit of z) added to the face's own
    light_max: float = 0.8     # the fitted light's slope is clipped to this
    lift_sigma: tuple = (1.0, 10.0)    # px: a crease is read at the first scale, filled if at most the second wide
    lift_max: float = 0.5      # most log brightening of a lifted crease
    fold_lift_max: float = 1.0  # most log brightening of a lifted fold's valley
    fold_width: float = 10.0   # px: a `fold` pattern's valley is filled if at most this wide
    flatten_sigma: tuple = (1.0, 0.2)  # (px, IOD): broad shading is what the skin shows at the first scale
                                       # less what the bare skin around shows at the second
    flatten_range: tuple = (-0.15, 0.3)  # log shade limits of that evening out (a bulge darkens, a fold lightens)
    tint: tuple = (1.0, 1.0, 1.1)     # a wide shadow's log shade per RGB channel (measured on the nasolabial fold)
    scatter: tuple = (0.035, 0.013, 0.0065)  # IOD: how far light of each RGB channel spreads under the skin (a
                                             # Gaussian σ): a groove narrower than that is filled with its light
    steady_s: float = 0.05     # in video the shading eases towards each frame's with this time constant
    log_range: tuple = (-0.7, 0.15)    # the patterns' log shade is clipped to this: a crease darkens, a lit edge glints
    patterns: dict[str, PatternConfig] = field(default_factory=dict)


def load_appearance() -> AppearanceConfig:
    cfg = load_dataclass(CONFIG_FILE, AppearanceConfig)
    for name, p in cfg.patterns.items():
        try:
            _check(p)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{CONFIG_FILE}: pattern {name}: {e}") from None
    return cfg


def _check(p: PatternConfig) -> None:
    """Raise ValueError/TypeError naming what is malformed in a pattern."""
    if p.side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}")
    for k in p.aus:
        au_key(k)

    def rows(what: str, items, n: int) -> None:
        for item in items:
            if len(item) != n or not 0 <= int(item[0]) < N_LANDMARKS:
                raise ValueError(f"{what} {list(item)}: expected [landmark 0–{N_LANDMARKS - 1}] and {n - 1} numbers")
            [float(x) for x in item]

    for g in p.grooves:
        rows("groove point", g, 3)
    rows("bump", p.bumps, 6)
    rows("envelope", [p.envelope] if p.envelope else [], 5)
    if p.ridge and len(p.ridge) != 3:
        raise ValueError("ridge: expected [offset, σ, height]")


@dataclass(frozen=True)
class Template:
    """One pattern on one side, in the canonical crop: lighting-free parts, combined per frame."""

    weights: np.ndarray        # (17,) AU weights
    side: int                  # 0: driven by the right side's change, 1: the left's, 2: their mean
    soften: bool
    fold: bool
    reveal: bool
    taut: bool
    tint: np.ndarray           # (3,) its log shade per RGB channel (scattered, _tint)
    box: tuple[int, int, int, int]
    shading: np.ndarray        # (h, w, 3): occlusion (as log shade) and the relief's slope in x and y; the
                               # log shade is −(these · (1, light x, light y))
    support: np.ndarray        # (h, w) in [0, 1]: where a falling AU lifts the face's own creases
    even: np.ndarray           # (h, w) in [0, 1]: where and how far it evens out the broad shading
    anchors: np.ndarray        # (m,) landmark ids around the pattern
    solve: np.ndarray          # (3, m): their canonical positions' least-squares inverse, → the affine onto a face


@dataclass(frozen=True)
class Shading:
    image: np.ndarray          # (S, S, 3) float32 per RGB channel, exactly 1 where nothing changes
    box: tuple[int, int, int, int]


def _meander(n: int, seed: int, cycles: float = 2.0) -> np.ndarray:
    """A smooth random curve in [-1, 1] over n samples: a few sines of random phase."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, n)
    out = sum(a * np.sin(2 * np.pi * (f * cycles * s + rng.random())) for a, f in ((1.0, 0.6), (0.5, 1.3), (0.3, 2.9)))
    return out / 1.8


def spline(points: np.ndarray, per_segment: int = 16) -> np.ndarray:
    """Dense Catmull-Rom curve through the points."""
    if len(points) < 3:
        t = np.linspace(0, 1, per_segment * max(len(points) - 1, 1) + 1)[:, None]
        return points[0] * (1 - t) + points[-1] * t
    p = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        a, b, c, d = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * b + (c - a) * t + (2 * a - 5 * b + 4 * c - d) * t ** 2 + (3 * b - a - 3 * c + d) * t ** 3))
    out.append(points[-1:])
    return np.concatenate(out)


def _gauss(v: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * (v / sigma) ** 2)


class _Canvas:
    """A pattern's height field and occlusion over its box in the canonical crop, built term by term."""

    def __init__(self, box):
        x0, y0, x1, y1 = box
        self.box = box
        self.x, self.y = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        self.height = np.zeros(self.x.shape)
        self.occlusion = np.zeros(self.x.shape)

    def groove(self, curve: np.ndarray, depth: float, width: float, ridge, taper: float, wobble: float,
               flip: bool, seed: int) -> None:
        """A trough of Gaussian profile along a curve, fading in at its ends, with skin bunched beside it."""
        tangent = np.gradient(curve, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
        curve = curve + wobble * _meander(len(curve), seed)[:, None] * normal
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
        length = max(arc[-1], 1e-6)
        px, py = self.x.ravel(), self.y.ravel()
        near = np.argmin((px[:, None] - curve[None, :, 0]) ** 2 + (py[:, None] - curve[None, :, 1]) ** 2, axis=1)
        v = ((px - curve[near, 0]) * normal[near, 0] + (py - curve[near, 1]) * normal[near, 1])
        v = v.reshape(self.x.shape) * (-1 if flip else 1)
        u = arc[near].reshape(self.x.shape)
        ramp = np.clip(np.minimum(u, length - u) / max(taper * length, 1e-6), 0, 1)
        along = ramp * ramp * (3 - 2 * ramp)
        if wobble > 0:
            # real creases come and go along their length
            along *= np.clip(1 + 0.5 * np.interp(u, arc, _meander(len(curve), seed + 1, 4.0)), 0.2, None)
        trough = depth * along * _gauss(v, width)
        self.height -= trough
        self.occlusion += trough
        if ridge:
            offset, sigma, height = ridge
            self.height += height * along * _gauss(v - offset, sigma)

    def bump(self, centre: np.ndarray, rx: float, ry: float, height: float) -> None:
        self.height += height * _gauss(self.x - centre[0], rx) * _gauss(self.y - centre[1], ry)

    def dimples(self, height: float, seed: int, scale: float) -> None:
        """Band-pass noise: the dimpled skin of a pushed-up chin boss."""
        rng = np.random.default_rng(seed)
        n = rng.standard_normal(self.x.shape).astype(np.float32)
        band = cv2.GaussianBlur(n, (0, 0), 0.03 * scale) - cv2.GaussianBlur(n, (0, 0), 0.08 * scale)
        band /= band.std() + 1e-9
        self.height += height * band
        self.occlusion += 0.5 * height * np.maximum(-band, 0)

    def window(self, centre: np.ndarray, rx: float, ry: float) -> None:
        w = _gauss(self.x - centre[0], rx) * _gauss(self.y - centre[1], ry)
        self.height *= w
        self.occlusion *= w


def anchor_points(spec, rest: np.ndarray, iod: float) -> np.ndarray:
    """(K, 2) canonical-crop positions of [landmark, dx, dy] points (offsets in IOD)."""
    return np.array([rest[int(p[0])] + iod * np.array([p[1], p[2]], float) for p in spec], np.float64)


def _render(name: str, p: PatternConfig, rest: np.ndarray, iod: float, mirror_x: float | None,
            size: int) -> tuple[_Canvas, np.ndarray] | None:
    """One pattern drawn on a canvas, and the (2, 2) corners of where its curves and bumps lie; `mirror_x`
    renders its mirror image about that x (the left side of a `right` pattern), `mid` patterns get their
    mirrored half added."""
    flip = (lambda q: np.c_[2 * mirror_x - q[:, 0], q[:, 1]]) if mirror_x is not None else (lambda q: q)
    midline = float(rest[list(MIDLINE), 0].mean())
    curves = []   # (curve, depth factor, whether its normal is mirrored)
    for i, g in enumerate(p.grooves):
        pts = flip(anchor_points(g, rest, iod))
        k = float(p.depths[i]) if i < len(p.depths) else 1.0
        if p.side == "mid":
            other = np.c_[2 * midline - pts[:, 0], pts[:, 1]]
            if abs(pts[-1, 0] - midline) < 1.0:
                curves.append((spline(np.concatenate([pts, other[-2::-1]])), k, False))
                continue
            curves.append((spline(other), k, True))
        curves.append((spline(pts), k, mirror_x is not None))
    bumps = [(flip(anchor_points([b[:3]], rest, iod))[0], b[3] * iod, b[4] * iod, float(b[5])) for b in p.bumps]
    if p.side == "mid":
        bumps += [(np.array([2 * midline - c[0], c[1]]), rx, ry, h) for c, rx, ry, h in bumps]
    env = (flip(anchor_points([p.envelope[:3]], rest, iod))[0], p.envelope[3] * iod, p.envelope[4] * iod) if p.envelope else None
    reach = 3 * max([p.width] + ([abs(p.ridge[0]) + p.ridge[1]] if p.ridge else [])) * iod + p.wobble * iod + 2
    extent = [c for c, _, _ in curves] + [np.array([c - 3 * np.array([rx, ry]), c + 3 * np.array([rx, ry])])
                                          for c, rx, ry, _ in bumps]
    if env is not None and p.texture:
        extent.append(np.array([env[0] - 2.5 * np.array(env[1:]), env[0] + 2.5 * np.array(env[1:])]))
    if not extent:
        return None
    allp = np.concatenate(extent)
    x0, y0 = np.maximum(np.floor(allp.min(0) - reach).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(allp.max(0) + reach).astype(int) + 1, size)
    canvas = _Canvas((int(x0), int(y0), int(x1), int(y1)))
    seed = zlib.crc32(name.encode()) + (7 if mirror_x is not None else 0)
    ridge = (p.ridge[0] * iod, p.ridge[1] * iod, float(p.ridge[2])) if p.ridge else None
    for i, (curve, k, mirrored) in enumerate(curves):
        canvas.groove(curve, p.depth * k, p.width * iod, ridge, p.taper, p.wobble * iod, mirrored, seed + 11 * i)
    for c, rx, ry, h in bumps:
        canvas.bump(c, rx, ry, h)
    if env is not None:
        if p.texture:
            canvas.dimples(p.texture, seed + 5, iod)
        canvas.window(*env)
    return canvas, np.array([allp.min(0), allp.max(0)])


def _tint(cfg: AppearanceConfig, width: float | None) -> np.ndarray:
    """(3,) log shade per RGB channel of a groove of Gaussian σ `width` (IOD; None: not in skin): light
    scattered under the skin blurs it per channel by `scatter`, which keeps width / √(width² + scatter²) of its
    depth; scaled to shade the brightness (BT.601 luma) as deep as the pattern's depth says. Red travels
    furthest, so a narrow crease is filled with red light and its shadow is redder than a wide fold's."""
    tint = np.asarray(cfg.tint, np.float64)
    if width is not None:
        tint = tint * width / np.hypot(width, np.asarray(cfg.scatter, np.float64))
    return (tint / (LUMA @ tint)).astype(np.float32)


def _templates(cfg: AppearanceConfig, size: int) -> tuple[Template, ...]:
    rest = rest_points(size).astype(np.float64)
    iod = interocular(rest)
    mirror_x = float(rest[list(MIDLINE), 0].mean())
    out = []
    for name, p in cfg.patterns.items():
        weights = np.zeros(len(AU_NAMES), np.float32)
        for k, w in p.aus.items():
            weights[AU_INDEX[au_key(k)]] = float(w)
        for side, mirror in ((0, None), (1, mirror_x)) if p.side == "right" else ((2, None),):
            made = _render(name, p, rest, iod, mirror, size)
            if made is None:
                continue
            canvas, (lo, hi) = made
            occ = canvas.occlusion.astype(np.float32)
            gy, gx = np.gradient(canvas.height)
            shading = np.stack([cfg.occlusion * occ, cfg.relief * gx, cfg.relief * gy], -1).astype(np.float32)
            support = cv2.GaussianBlur(occ, (0, 0), p.width * iod)
            support = np.clip(1.5 * support / max(float(support.max()), 1e-6), 0, 1).astype(np.float32)
            even = cv2.GaussianBlur(np.abs(canvas.height).astype(np.float32), (0, 0), p.width * iod)
            even = (p.flatten * np.clip(1.5 * even / max(float(even.max()), 1e-6), 0, 1)).astype(np.float32)
            # keep only the part that can change a pixel (a pattern at full strength, the light at its most)
            used = ((np.abs(shading).max(-1) * (1 + cfg.light_max) >= MIN_LOG) | (support * cfg.lift_max >= MIN_LOG)
                    | (even * max(-cfg.flatten_range[0], cfg.flatten_range[1]) >= MIN_LOG))
            x, y, w, h = cv2.boundingRect(used.view(np.uint8))
            if w == 0 or h == 0:    # it changes no pixel (e.g. `depth: 0`, a pattern switched off)
                continue
            shading, support, even = (a[y:y + h, x:x + w].copy() for a in (shading, support, even))
            box = (canvas.box[0] + x, canvas.box[1] + y, canvas.box[0] + x + w, canvas.box[1] + y + h)
            # the landmarks around the pattern carry it onto a face: their least-squares affine
            margin = ANCHOR_MARGIN_IOD * iod
            inside = np.all((rest[:N_MESH] >= lo - margin) & (rest[:N_MESH] <= hi + margin), axis=1)
            anchors = np.nonzero(inside)[0].astype(np.int32)
            solve = np.linalg.pinv(np.c_[rest[anchors], np.ones(len(anchors))]).astype(np.float32)
            for a in (shading, support, even, weights, anchors, solve):
                a.setflags(write=False)
            tint = _tint(cfg, p.width if p.scattered else None)
            tint.setflags(write=False)
            out.append(Template(weights=weights, side=side, soften=p.soften, fold=p.fold, reveal=p.reveal, taut=p.taut,
                                tint=tint, box=box, shading=shading, support=support, even=even, anchors=anchors, solve=solve))
    return tuple(out)


@lru_cache(maxsize=4)
def _light_basis(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(landmark ids, (3, K) least-squares solver) for fitting brightness = a + b·nx + c·ny over bare skin
    that faces many ways: forehead, nose and upper cheeks (no brows, eyes, lips or beard)."""
    m = canonical_mesh().astype(np.float64)
    tris = face_triangles()
    normal = np.zeros_like(m)
    cross = np.cross(m[tris[:, 1]] - m[tris[:, 0]], m[tris[:, 2]] - m[tris[:, 0]])
    for k in range(3):
        np.add.at(normal, tris[:, k], -cross)   # z grows away from the camera: outward is −(e1 × e2)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    rest = rest_points(size)
    iod = interocular(rest)
    brow_y = rest[[70, 105, 107, 336, 334, 300], 1].min()
    eye_y = rest[[33, 133, 362, 263], 1].mean()
    mouth_y = rest[list(MOUTH_CORNERS), 1].mean()
    y = rest[:N_MESH, 1]
    keep = (y < brow_y - 0.08 * iod) | ((y > eye_y + 0.25 * iod) & (y < mouth_y - 0.3 * iod))
    ids = np.nonzero(keep)[0]
    a = np.c_[np.ones(len(ids)), normal[ids, 0], normal[ids, 1]]
    return ids, np.linalg.pinv(a)


class Appearance:
    """Per-AU shading for the rig: `shading()` gives the ratio image one edit multiplies its crop by."""

    def __init__(self, cfg: AppearanceConfig | None = None):
        self.cfg = cfg or load_appearance()
        self._built: dict[int, tuple] = {}   # per crop size, rendered once (see _build)
        self._last: dict[int, tuple] = {}    # per track: (seconds, crop box, log shade there)

    def reset(self) -> None:
        self._last.clear()

    def _build(self, size: int):
        """(templates, their AU weights (T, 17), sides (T,), whether each softens (T,), whether each reveals
        (T,), the templates packed for _stamp) for a crop size."""
        if size not in self._built:
            temps = _templates(self.cfg, size)
            self._built[size] = (temps, np.array([t.weights for t in temps]).reshape(-1, len(AU_NAMES)),
                                 np.array([t.side for t in temps], np.int64), np.array([t.soften for t in temps], bool),
                                 np.array([t.reveal for t in temps], bool), _Packed.of(temps))
        return self._built[size]

    def warm(self, size: int = 256) -> None:
        """Render the templates for a crop size and compile (or load) the compiled loops now, rather than on
        a video's first frame."""
        packed = self._build(size)[-1]
        packed.place(np.zeros(2, np.intp), np.ones(2, np.float32), rest_points(size), np.ones(3, np.float32), 1.0, size)
        _stamp(np.zeros((1, 1, 3), np.float32), 0, 0, packed.flat, packed.offsets, packed.dims, np.zeros(1, np.int64),
               np.zeros((1, 4), np.int64), np.zeros((1, 2, 3)), np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32))
        pixel = np.zeros((1, 1, 3), np.float32)
        # a crop's box: a view, contiguous only where it spans the crop's width (a (1, 1) view counts as contiguous)
        for under in (np.zeros((2, 2, 3), np.uint8)[:, :1], np.zeros((1, 1, 3), np.uint8)):
            _lit(np.zeros(under.shape, np.float32), under, np.float32(-1), np.float32(1))
        _lifted(pixel, 0, 0, pixel, pixel, np.zeros((1, 1), np.float32), pixel, 0, 0, np.zeros((1, 1), np.float32))
        _changed(pixel, np.float32(MIN_LOG))
        # a plane of the lift's grid and a fill mask's box (a view)
        _nonzero_box(np.zeros((1, 1), np.float32))
        _nonzero_box(np.zeros((2, 2), np.float32)[:, :1])
        # the fills under a lift, at full resolution (boxes of the whole crop's) and at half (resized strips)
        mask, fill = np.zeros((2, 2), np.float32), np.zeros((2, 2, 3), np.float32)
        for weighted in (False, True):
            _laid(fill, (0, 0), fill, (0, 0), mask, (0, 0), 1, 1, weighted)
        plane = np.zeros((1, 1), np.float32)
        _evened(pixel, plane, _masked(pixel, plane), pixel, 0, 0, np.float32(-1), np.float32(1))
        _onto(np.zeros((4, 1, 1), np.float32), np.ones((4, 1, 1), np.float32), np.zeros((2, 3)), np.ones((1, 1), np.float32))
        _weigh(np.zeros((4, 1, 1), np.float32), 0, 0, np.zeros(1, np.int64), np.ones(1), np.zeros(1, np.int64), np.ones(1),
               np.zeros((2, 1), np.float32), np.zeros(1, np.int64), np.array([[0, 0, 1, 1]], np.int64))

    def shading(self, crop: np.ndarray, d: Deformation, flow: np.ndarray, flow_box: tuple[int, int, int, int] | None,
                right: np.ndarray, left: np.ndarray, track: tuple[int, float] | None = None,
                laid: tuple[np.ndarray, np.ndarray] | None = None, warped: np.ndarray | None = None) -> Shading | None:
        """The ratio image for per-side AU changes `right`, `left` (17 each); None when it would be all 1.

        `d` is the rig's deformation of this face: each pattern lands on its moved landmarks, so it sits on
        the moved skin. `flow` is the rig's backward flow, zero outside `flow_box` (None: nothing moves): a
        lift reads the creases of the source face where the flow has taken them, under what the edit lays over
        the warped crop (`laid`: (fill, fill_mask), as the rig blends them; None: nothing), for the ratio
        multiplies that; `warped`: the whole crop through the flow (flow.warped_crop; None: warped here). `track`
        (id, seconds) eases a video's shading from that track's previous frame; a still has none.
        """
        cfg, size = self.cfg, crop.shape[0]
        temps, weights, sides, soften, reveal, packed = self._build(size)
        delta = np.array([right, left, 0.5 * (right + left)], np.float32)[sides]
        # the AUs that rise draw a pattern, those that fall lift the face's own creases under it: disgust on a
        # smiling face fades the smile's nasolabial fold and deepens it again as AU9 pulls the nose up
        rise, fall = (np.tanh((weights * np.maximum(sign * delta, 0)).sum(1) / cfg.saturation) for sign in (1, -1))
        # below a floor a pattern is left out, and its strength counts from that floor, so nothing jumps
        add = np.flatnonzero((rise > MIN_STRENGTH) & ~reveal)
        lift = [(i, float(_above(fall[i], MIN_LIFT))) for i in np.flatnonzero((fall > MIN_LIFT) & soften & ~reveal)]
        # a revealing pattern only evens out (creases lifted only where it is taut): a raised brow pulls the lid
        # skin out of the socket's shadow
        lift += [(i, float(_above(rise[i], MIN_LIFT))) for i in np.flatnonzero((rise > MIN_LIFT) & reveal)]
        if not len(add) and not lift:
            return None
        moved = d.dst[:N_LANDMARKS]
        placed = None   # (crop box, inverse affines, log shade mixes) of the patterns drawn, for _stamp
        if len(add):
            lx, ly, chroma = self.light(crop, d.src[:N_LANDMARKS])
            # skin's shadows are coloured by the light it scatters (_tint); a grey image's stay grey
            placed = packed.place(add, _above(rise[add], MIN_STRENGTH), moved, np.array([1.0, lx, ly], np.float32),
                                  min(chroma / FULL_CHROMA, 1.0), size)
        lifted = None
        if lift:
            # where creases are lifted only needs to be roughly right: all patterns through one affine
            cx0, cy0, cx1, cy1 = _union([temps[i].box for i, _ in lift])
            weight = np.zeros((4, cy1 - cy0, cx1 - cx0), np.float32)
            # a fold is lifted as one where the mouth is left at rest; beside a mouth the target shapes (corners
            # pulled down, lips parted) it is lifted as a crease (surprise on jesper.jpg, its fold lifted as one,
            # read neutral to face-api), its thin core as deep as a fold's either way; a revealing pattern lifts no core
            at_rest = not shapes_mouth(right, left)
            # a target that deepens the fold itself (AU9, AU10, AU20) keeps its line: beside fear's stretched
            # mouth it reads as fear, beside disgust's raised lip as disgust
            core = 1.0 - min(max(float(right[_DEEPENS_FOLD].max()), float(left[_DEEPENS_FOLD].max()), 0.0) / 5.0, 1.0)
            creases = [-1 if temps[i].reveal and not temps[i].taut else 2 if temps[i].fold and at_rest else 0
                       for i, _ in lift]
            cores = [core if temps[i].fold and not temps[i].reveal else 0.0 for i, _ in lift]
            _weigh(weight, cx0, cy0, np.array([i for i, _ in lift], np.int64), np.array([s for _, s in lift]),
                   np.array(creases, np.int64), np.array(cores), packed.lifting, packed.lift_offsets, packed.boxes)
            if warped is None:
                warped = warped_crop(crop, flow, flow_box)
            lifted = self.lift(crop, flow if flow_box else None, weight, (cx0, cy0, cx1, cy1),
                               (_face_solver(size) @ moved[:N_MESH]).T, moved, laid, warped)
        if placed is None and lifted is None:
            return None
        box = _union(([placed[0]] if placed is not None else []) + ([lifted[0]] if lifted is not None else []))
        bx0, by0, bx1, by1 = box
        log = np.zeros((by1 - by0, bx1 - bx0, 3), np.float32)
        if placed is not None:
            _stamp(log, bx0, by0, packed.flat, packed.offsets, packed.dims, *placed[1:])
            _lit(log, crop[by0:by1, bx0:bx1], np.float32(cfg.log_range[0]), np.float32(cfg.log_range[1]))
        if lifted is not None:
            (x0, y0, x1, y1), up = lifted
            log[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0] += up
        if track is not None:
            box, log = self._steady(track, box, log)
            bx0, by0 = box[:2]
        changed, (x, y, w, h) = _changed(log, np.float32(MIN_LOG))
        if not w:
            return None
        image = np.ones((size, size, 3), np.float32)    # exactly 1 wherever nothing changes
        x0, y0, x1, y1 = bx0 + x, by0 + y, bx0 + x + w, by0 + y + h
        cv2.copyTo(cv2.exp(log[y:y + h, x:x + w]), changed[y:y + h, x:x + w].view(np.uint8), image[y0:y1, x0:x1])
        if track is not None:
            self._last[track[0]] = (track[1], (x0, y0, x1, y1), log[y:y + h, x:x + w])
        return Shading(image=image, box=(x0, y0, x1, y1))

    def _steady(self, track: tuple[int, float], box: tuple[int, int, int, int],
                log: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """This frame's log shade eased from the track's last one (crop coordinates, so the head's own
        motion is already taken out): the landmarks' jitter would otherwise shimmer on every crease."""
        track_id, t = track
        self._last = {k: v for k, v in self._last.items() if 0 <= t - v[0] <= self.cfg.steady_s * 10}
        last = self._last.get(track_id)
        if last is None or not 0 < t - last[0] <= 3 * self.cfg.steady_s:
            return box, log
        _, prev_box, prev = last
        keep = float(np.exp(-(t - last[0]) / self.cfg.steady_s))
        both = _union([box, prev_box])
        ux0, uy0, ux1, uy1 = both
        out = np.zeros((uy1 - uy0, ux1 - ux0, 3), np.float32)
        x0, y0, x1, y1 = box
        out[y0 - uy0:y1 - uy0, x0 - ux0:x1 - ux0] = log
        out *= 1 - keep
        x0, y0, x1, y1 = prev_box
        out[y0 - uy0:y1 - uy0, x0 - ux0:x1 - ux0] += keep * prev
        return both, out

    def light(self, crop: np.ndarray, landmarks: np.ndarray) -> tuple[float, float, float]:
        """The face's light as (x, y) slope per unit of z (image axes, towards the light), from how its
        brightness varies with the canonical surface's normal over bare skin, plus the configured prior;
        and how colourful that skin is (0 for a grey image, whose shadows must stay grey)."""
        size = crop.shape[0]
        ids, solve = _light_basis(size)
        # each sample: the mean of a 3 × 3 patch, bilinear (no jumps as a landmark crosses a pixel)
        at = landmarks[ids, :2].astype(np.float32)
        rgb = cv2.remap(crop, at[None, :, 0] + _NEIGHBOURS[1], at[None, :, 1] + _NEIGHBOURS[0], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE).mean(0)
        # green carries most of the brightness and least of the colour
        a, b, c = solve @ rgb[:, 1]
        slope = np.array([b, c]) / max(a, 1.0)
        n = float(length(slope))
        if n > self.cfg.light_max:
            slope *= self.cfg.light_max / n
        lx, ly = slope + np.asarray(self.cfg.light_prior, np.float64)
        chroma = float(np.abs(rgb[:, [0, 2]] - rgb[:, 1:2]).mean() / max(a, 1.0))
        return float(lx), float(ly), chroma

    def _broad(self, shade: np.ndarray, weight: np.ndarray, log: np.ndarray, skin: np.ndarray, iod: float,
               part: tuple[int, int, int, int]) -> None:
        """Into `shade` over `part` (x0, y0, x1, y1) of the half-resolution grid, where it is used, as far as
        `weight` says: the log shade per RGB channel that takes each pixel at flatten_sigma[0] to the bare skin
        around it at flatten_sigma[1] (IOD; `iod`: the face's, full-resolution px), in brightness and colour (a
        shadow is redder than the skin it lies on): a normalised blur over the bare `skin` only (_bare_skin), so
        the lips, eyes and nostrils neither darken nor redden what is evened out."""
        # the skin around: log·mask and mask blurred together (made contiguous, one layout for the loop)
        around = np.ascontiguousarray(_wide_blur(_masked(log, skin), self.cfg.flatten_sigma[1] * iod / 2, part))
        fine = cv2.GaussianBlur(log, (0, 0), self.cfg.flatten_sigma[0] / 2)
        lo, hi = self.cfg.flatten_range
        _evened(shade, weight, around, fine, part[0], part[1], np.float32(lo), np.float32(hi))

    def lift(self, crop: np.ndarray, flow: np.ndarray | None, weight: np.ndarray, box: tuple[int, int, int, int],
             affine: np.ndarray, moved: np.ndarray, laid: tuple[np.ndarray, np.ndarray] | None,
             warped: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(crop box, log shade per RGB channel) that lifts the crease-sized dark valleys of the crop, as the
        backward `flow` (None: none) shows it, up to the skin on either side, and evens out its broad shading
        towards the bare skin around, each as far as its plane of `weight` ((4, h, w) over canonical
        `box`, seen through `affine`: creases, evening, folds filled as folds, every fold's core) says. `moved`: the edit's landmarks, where lips,
        eyes and nose are; `laid`: the fills over the warped crop, `warped`: that crop, whole (shading).

        A grey closing at half resolution fills every valley at most lift_sigma[1] wide up to the lower of
        its two rims; where folds are lifted, one fold_width wide (a smile's nasolabial fold is wider than a
        crease: filled as one, its sides stayed dark beside its lifted core, a line down the cheek). The creases
        are lifted to that at full resolution, where their weight reaches: a fold the removal squeezed together
        is a few pixels wide, and lifted at half resolution it spilled over its rims, a bright stripe beside a
        dark core. A fold's valley is read there unblurred and lifted up to fold_lift_max, so its thin dark
        core is filled to its rims too. The broad shading is evened at half resolution, read with the creases
        filled, so it does not lift them a second time.
        """
        size = crop.shape[0]
        landed = _landing(box, affine, size)
        if landed is None:
            return None
        fine, wide = self.cfg.lift_sigma
        # which of the planes weigh anything, each read once
        even, folds, cores = (bool(weight[k].any()) for k in (1, 2, 3))
        iod = interocular(moved)
        broad = self.cfg.flatten_sigma[1] * iod if even else 0.0
        x0, y0, x1, y1 = landed
        pad = 2 * int(np.ceil(1.5 * max(wide, broad)))
        # an even-sized padded box, so each half-resolution pixel is a whole 2 × 2 block
        px0, py0 = max(x0 - pad, 0), max(y0 - pad, 0)
        px1, py1 = px0 + (min(x1 + pad, size) - px0) // 2 * 2, py0 + (min(y1 + pad, size) - py0) // 2 * 2
        half_size = ((px1 - px0) // 2, (py1 - py0) // 2)
        if flow is None:
            seen = cv2.resize(crop[py0:py1, px0:px1], half_size, interpolation=cv2.INTER_AREA)
        else:
            # the moved crop at half resolution: the crop's 2 × 2 means read through the flow. Half-resolution
            # pixel k of the padded box is centred at full px0 + 2k + 0.5, which reads the crop at that plus
            # the flow, i.e. at half-resolution (px0 + 2k + flow) / 2
            fx, fy = flow[0, py0 + 1:py1:2, px0 + 1:px1:2], flow[1, py0 + 1:py1:2, px0 + 1:px1:2]
            kx = np.arange(px0, px1, 2, dtype=np.float32)[None, :]
            ky = np.arange(py0, py1, 2, dtype=np.float32)[:, None]
            sx, sy = (kx + fx) * 0.5, (ky + fy) * 0.5
            # only the half-resolution crop those read, bilinear, whole 2 × 2 blocks (the same means as the
            # whole crop's); shifted by whole pixels, the coordinates stay exact and the image's own edges replicate
            n = size // 2
            c0, r0 = min(max(int(sx.min()), 0), n - 1), min(max(int(sy.min()), 0), n - 1)
            c1, r1 = max(min(int(sx.max()) + 2, n), c0 + 1), max(min(int(sy.max()) + 2, n), r0 + 1)
            small = cv2.resize(crop[2 * r0:2 * r1, 2 * c0:2 * c1], (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA)
            seen = cv2.remap(small, sx - np.float32(c0), sy - np.float32(r0), cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        seen = _under(seen, laid, (px0, py0, px1, py1), half_size)
        # per channel, so a lifted crease takes its surroundings' colour as well as their brightness
        half = cv2.GaussianBlur(np.log(seen + 8.0), (0, 0), fine / 2)
        filled = _closed(half, wide, fine)
        # the weight onto the same half-resolution grid: pixel i's centre is at 2i + 0.5 in the padded box
        (a, b, c), (d, e, f) = np.asarray(affine, np.float64).tolist()
        cx0, cy0 = box[:2]
        m = 0.5 * np.array([[a, b, a * cx0 + b * cy0 + c - px0 - 0.5], [d, e, d * cx0 + e * cy0 + f - py0 - 0.5]])
        # creases and shading are the skin's: the lips, eyes and nostrils keep theirs, soft at their edges so no
        # seam shows around them
        skin = _bare_skin(moved, (px0, py0), (half_size[1], half_size[0]), iod)
        w = np.empty((len(weight), half_size[1], half_size[0]), np.float32)
        _onto(w, weight, cv2.invertAffineTransform(m), np.minimum(cv2.GaussianBlur(skin, (0, 0), 1.0), skin))
        support, most = w[0], np.full_like(w[0], self.cfg.lift_max)
        if folds:
            # a fold is filled up to its wider valley's rims, a crease beside it to its own
            support = np.minimum(w[0] + w[2], np.float32(1))
            share = w[2] / np.maximum(w[0] + w[2], np.float32(1e-6))
            filled += _planes(share) * (_closed(half, self.cfg.fold_width, fine) - filled)
        if cores:
            # and a fold's valley is lifted as deep as it is (capped as a crease, its core stayed a hard dark
            # line: obama under neutral, astronaut.png under surprise)
            core = np.minimum(w[3] / np.maximum(w[0] + w[2], np.float32(1e-6)), np.float32(1))
            most += core * np.float32(self.cfg.fold_lift_max - self.cfg.lift_max)
        shade = np.zeros((half_size[1], half_size[0], 3), np.float32)
        # evened only where it is weighed in (it adds nothing where its weight is 0)
        x, y, ew, eh = _nonzero_box(w[1]) if even else (0, 0, 0, 0)
        reach = []    # the full-resolution boxes lift changes: the evening's, doubled, and the creases'
        if ew:
            self._broad(shade, w[1], filled, skin, iod, (x, y, x + ew, y + eh))
            # full-resolution X reads half-resolution X / 2 − ¼ and the pixel after it
            reach.append((px0 + 2 * x - 1, py0 + 2 * y - 1, px0 + 2 * (x + ew) + 1, py0 + 2 * (y + eh) + 1))
        # the creases at full resolution where their weight reaches
        x, y, bw, bh = cv2.boundingRect((support > MIN_LOG / self.cfg.lift_max).view(np.uint8))
        tx0, ty0, tx1, ty1 = px0 + 2 * x, py0 + 2 * y, px0 + 2 * (x + bw), py0 + 2 * (y + bh)
        detail = np.zeros((0, 0, 3), np.float32)
        if bw:
            raw = np.log(laid_over(warped, laid, (tx0, ty0, tx1, ty1)) + 8.0)
            detail = cv2.GaussianBlur(raw, (0, 0), fine)
            if cores:
                # a fold's valley is read as sharp as it is: read at `fine`, a core narrower than that kept the
                # depth the blur took off, a hard dark line between lit rims (obama's nasolabial fold)
                sharp = cv2.resize(core[y:y + bh, x:x + bw], (2 * bw, 2 * bh), interpolation=cv2.INTER_LINEAR)
                detail += _planes(sharp) * (raw - detail)
            reach.append((tx0, ty0, tx1, ty1))
        if reach:
            # outside those it adds 0: left out of the box, not computed
            ux0, uy0, ux1, uy1 = _union(reach)
            x0, y0 = max(x0, ux0), max(y0, uy0)
            x1, y1 = max(min(x1, ux1), x0), max(min(y1, uy1), y0)
        out = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        _lifted(out, y0 - py0, x0 - px0, shade, filled, support, detail, ty0 - py0, tx0 - px0, most)
        return (x0, y0, x1, y1), out


def laid_over(warped: np.ndarray, laid: tuple[np.ndarray, np.ndarray] | None,
              box: tuple[int, int, int, int]) -> np.ndarray:
    """What the rig's output holds over crop `box` before its shading, float32: the `warped` crop (whole,
    flow.warped_crop) with the fills `laid` over it (_under), what a ratio laid there multiplies."""
    x0, y0, x1, y1 = box
    return _under(warped[y0:y1, x0:x1], laid, box, None)


def _under(seen: np.ndarray, laid: tuple[np.ndarray, np.ndarray] | None, box: tuple[int, int, int, int],
           half_size: tuple[int, int] | None) -> np.ndarray:
    """`seen` (the warped crop over crop box `box`, resized to `half_size` (w, h) unless None) with the fills
    `laid` (fill, fill_mask) laid over it as the rig blends them, warp·(1 − mask) + fill·mask, in float32."""
    out = seen.astype(np.float32)
    if laid is None:
        return out
    x0, y0, x1, y1 = box
    mask = laid[1][y0:y1, x0:x1]
    # only the part the fills reach: elsewhere the mask is 0 and the blend is `seen` itself
    bx, by, bw, bh = _nonzero_box(mask)
    if not bw:
        return out
    if half_size is None:
        _laid(out, (by, bx), laid[0], (y0 + by, x0 + bx), laid[1], (y0 + by, x0 + bx), bh, bw, False)
        return out
    # whole 2 × 2 blocks; the mask's of whole rows: OpenCV's area resize of one channel rounds a pixel by where it
    # falls in its row's vector loop (three channels it does not), so a narrower strip would differ in the last bit
    r0, r1, c0, c1 = by // 2, (by + bh + 1) // 2, bx // 2, (bx + bw + 1) // 2
    band = cv2.resize(mask[2 * r0:2 * r1], (half_size[0], r1 - r0), interpolation=cv2.INTER_AREA)
    part = (slice(y0 + 2 * r0, y0 + 2 * r1), slice(x0 + 2 * c0, x0 + 2 * c1))
    weighted = cv2.resize(laid[0][part] * _planes(laid[1][part]), (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA)
    _laid(out, (r0, c0), weighted, (0, 0), band, (0, c0), r1 - r0, c1 - c0, True)
    return out


@compiled
def _laid(out, at, fill, fill_at, mask, mask_at, h, w, weighted):  # pragma: no cover (compiled)
    """In place on float32 `out` (H, W, 3), over h × w pixels from `at` (y, x): out·(1 − mask) + fill·mask, or
    + fill where it is `weighted` already, `fill` and `mask` read from their own `fill_at`, `mask_at`; in float32
    and numpy's order. Whole arrays and offsets, so their layouts never vary."""
    for i in range(h):
        for j in range(w):
            m = mask[mask_at[0] + i, mask_at[1] + j]
            keep = np.float32(1) - m
            for k in range(3):
                f = fill[fill_at[0] + i, fill_at[1] + j, k]
                f = f if weighted else f * m
                out[at[0] + i, at[1] + j, k] = out[at[0] + i, at[1] + j, k] * keep + f


@compiled
def _masked(log, skin):  # pragma: no cover (compiled)
    """(h, w, 4) float32: `log`'s three channels times `skin`, then `skin` (cv2.merge of the products)."""
    out = np.empty((log.shape[0], log.shape[1], 4), np.float32)
    for i in range(log.shape[0]):
        for j in range(log.shape[1]):
            s = skin[i, j]
            out[i, j, 0], out[i, j, 1], out[i, j, 2], out[i, j, 3] = log[i, j, 0] * s, log[i, j, 1] * s, log[i, j, 2] * s, s
    return out


@compiled
def _evened(shade, weight, around, fine, x0, y0, lo, hi):  # pragma: no cover (compiled)
    """_broad's last steps per pixel of `around` ((h, w, 4): the blurred log·skin and skin over the part of the
    grid from (x0, y0)) into `shade` (the grid's, (H, W, 3)): the first over the second (at least 1e-3) less the
    `fine` blur (H, W, 3), clipped to [lo, hi] (NaN kept, as np.clip), times `weight` (H, W); float32, as the
    dozen numpy and OpenCV calls on whole planes it replaces."""
    least = np.float32(1e-3)
    for i in range(around.shape[0]):
        for j in range(around.shape[1]):
            b = around[i, j, 3]
            norm = b if not b < least else least
            y, x = y0 + i, x0 + j
            for k in range(3):
                v = around[i, j, k] / norm - fine[y, x, k]
                if v == v:
                    v = min(max(v, lo), hi)
                shade[y, x, k] = weight[y, x] * v


def _closed(half: np.ndarray, width: float, fine: float) -> np.ndarray:
    """The half-resolution log image with every valley at most `width` full-resolution px wide filled up to the
    lower of its rims (a grey closing), smoothed as the image was (`fine` px)."""
    reach = int(width // 4)      # half-resolution px each side of the closing's centre
    return cv2.GaussianBlur(cv2.morphologyEx(half, cv2.MORPH_CLOSE, np.ones((2 * reach + 1,) * 2, np.uint8)),
                            (0, 0), fine / 2)


@compiled
def _lifted(out, oy, ox, shade, filled, support, detail, ty, tx, most):  # pragma: no cover (compiled)
    """Lift's result over its crop box (`out`, whose pixel (0, 0) is full-resolution (oy, ox) of the padded
    box): the half-resolution evening `shade` doubled, plus where `detail` (full resolution, from (ty, tx)) lies,
    the creases lifted up to the half-resolution closing `filled` by the doubled `support`, their mean over the
    channels at most the doubled `most`. Doubling as cv2.resize does: full-resolution x reads half-resolution
    x / 2 − ¼, clamped to the grid."""
    h2, w2 = shade.shape[0], shade.shape[1]
    xa, xb, rx = _doubled(ox, out.shape[1], w2)
    ya, yb, ry = _doubled(oy, out.shape[0], h2)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            a, b, c, d = ya[i], yb[i], xa[j], xb[j]
            wa, wb, wc, wd = (1 - ry[i]) * (1 - rx[j]), (1 - ry[i]) * rx[j], ry[i] * (1 - rx[j]), ry[i] * rx[j]
            for k in range(3):
                out[i, j, k] = wa * shade[a, c, k] + wb * shade[a, d, k] + wc * shade[b, c, k] + wd * shade[b, d, k]
            di, dj = oy + i - ty, ox + j - tx
            if 0 <= di < detail.shape[0] and 0 <= dj < detail.shape[1]:
                s = wa * support[a, c] + wb * support[a, d] + wc * support[b, c] + wd * support[b, d]
                if s == 0:     # it would add (gap − over) · 0: nothing
                    continue
                g0 = _gap(filled, detail, a, c, b, d, wa, wb, wc, wd, di, dj, 0)
                g1 = _gap(filled, detail, a, c, b, d, wa, wb, wc, wd, di, dj, 1)
                g2 = _gap(filled, detail, a, c, b, d, wa, wb, wc, wd, di, dj, 2)
                m = wa * most[a, c] + wb * most[a, d] + wc * most[b, c] + wd * most[b, d]
                over = max((g0 + g1 + g2) / 3 - m, 0.0)
                out[i, j, 0] += (g0 - over) * s
                out[i, j, 1] += (g1 - over) * s
                out[i, j, 2] += (g2 - over) * s


@compiled
def _onto(out, weight, inverse, skin):  # pragma: no cover (compiled)
    """The weight planes ((4, h, w), canonical) onto lift's half-resolution grid (`out`, (4, H, W)), at most 1,
    times `skin` (H, W): per plane cv2.warpAffine (INTER_LINEAR, a border of 0) through `inverse` (grid → weight
    pixel, as cv2.invertAffineTransform gives it), np.minimum and a product, in OpenCV's fixed point (1/1024 px
    rounded to 1/32) and float32 sum of four products, so bit for bit; the grid's coordinates once for all planes.
    A plane of zeros stays zeros unread: most edits weigh in no fold and some no crease."""
    n, h, w = weight.shape
    active = np.zeros(n, np.bool_)
    for p in range(n):
        active[p] = np.any(weight[p] != 0)
    out[:] = 0
    one = np.float32(1)
    across = np.empty((2, out.shape[2]), np.int64)
    for x in range(out.shape[2]):
        across[0, x], across[1, x] = np.rint(inverse[0, 0] * x * 1024), np.rint(inverse[1, 0] * x * 1024)
    for y in range(out.shape[1]):
        ux = int(np.rint((inverse[0, 1] * y + inverse[0, 2]) * 1024)) + 16
        vy = int(np.rint((inverse[1, 1] * y + inverse[1, 2]) * 1024)) + 16
        for x in range(out.shape[2]):
            u, v = (ux + across[0, x]) >> 5, (vy + across[1, x]) >> 5
            j, i = u >> 5, v >> 5
            if j < -1 or j >= w or i < -1 or i >= h:
                continue
            fu, fv = np.float32((u & 31) / 32), np.float32((v & 31) / 32)
            w00, w01 = (one - fv) * (one - fu), (one - fv) * fu
            w10, w11 = fv * (one - fu), fv * fu
            inx, iny = 0 <= j < w - 1, 0 <= i < h - 1
            for p in range(n):
                if not active[p]:
                    continue
                plane = weight[p]
                if inx and iny:
                    a, b, c, d = plane[i, j], plane[i, j + 1], plane[i + 1, j], plane[i + 1, j + 1]
                else:
                    a = plane[i, j] if 0 <= i < h and 0 <= j < w else np.float32(0)
                    b = plane[i, j + 1] if 0 <= i < h and 0 <= j + 1 < w else np.float32(0)
                    c = plane[i + 1, j] if 0 <= i + 1 < h and 0 <= j < w else np.float32(0)
                    d = plane[i + 1, j + 1] if 0 <= i + 1 < h and 0 <= j + 1 < w else np.float32(0)
                out[p, y, x] = min(a * w00 + b * w01 + c * w10 + d * w11, one) * skin[y, x]


@compiled
def _doubled(start, n, size):  # pragma: no cover (compiled)
    """For full-resolution pixels start … start + n − 1: the two half-resolution pixels each reads (clamped to
    0 … size − 1) and the weight of the second, as cv2.resize doubles: x reads x / 2 − ¼. Unsigned, so the loops
    that index with them skip the check for negative indices."""
    lo, hi, r = np.empty(n, np.uint64), np.empty(n, np.uint64), np.empty(n)
    for i in range(n):
        f = 0.5 * (start + i) - 0.25
        a = int(np.floor(f))
        r[i] = f - a
        lo[i], hi[i] = min(max(a, 0), size - 1), min(max(a + 1, 0), size - 1)
    return lo, hi, r


@compiled
def _gap(filled, detail, ya, xa, yb, xb, wa, wb, wc, wd, di, dj, k):  # pragma: no cover (compiled)
    """How far channel k of a crease's detail lies below the doubled closing (_lifted), ≥ 0."""
    f = wa * filled[ya, xa, k] + wb * filled[ya, xb, k] + wc * filled[yb, xa, k] + wd * filled[yb, xb, k]
    return max(f - detail[di, dj, k], 0.0)


def _bare_skin(moved: np.ndarray, origin: tuple[int, int], shape: tuple[int, int], iod: float) -> np.ndarray:
    """(h, w) float32 half-resolution mask of the face's bare skin: inside its oval, the lips, eyes and nose
    base left out with HOLE_MARGIN_IOD around them; `origin` is the full-resolution crop pixel of the grid's
    corner."""
    # the landmarks at half resolution, in fillPoly's 1/16 px: pixel k's centre is full-resolution 2k + 0.5
    at = np.round((moved[:, :2] - origin - 0.5) * 8).astype(np.int32)
    skin = np.zeros(shape, np.uint8)
    cv2.fillPoly(skin, [at[_OVAL]], 1, shift=4)
    holes = np.zeros_like(skin)
    cv2.fillPoly(holes, [at[ids] for ids in _NOT_SKIN], 1, shift=4)
    grow = 2 * max(int(round(HOLE_MARGIN_IOD * iod / 2)), 1) + 1
    kept = skin & (1 - holes)
    skin &= 1 - cv2.dilate(holes, np.ones((grow, grow), np.uint8))
    if np.hypot(*(moved[14, :2] - moved[13, :2])) < CLOSED_MOUTH_IOD * iod:
        # a closed mouth's red ends at its corners: the skin around them, where a smile leaves its dark pits
        # (the commissures), is bare skin whose creases a falling smile lifts (inside the lips' margin, a smile
        # taken away went on hooking up into the cheeks at both ends: smile_man.jpg's neutral)
        corners = np.zeros_like(skin)
        for i in MOUTH_CORNERS:
            cv2.circle(corners, (int(at[i, 0]), int(at[i, 1])), 16 * grow, 1, -1, shift=4)
        skin |= kept & corners
    return skin.astype(np.float32)


def _landing(box: tuple[int, int, int, int], affine: np.ndarray, size: int) -> tuple[int, int, int, int] | None:
    """The crop box a canonical-crop box lands in through `affine` ((2, 3): canonical → crop), with a
    pixel of margin for bilinear sampling; None when that is off the crop."""
    (a, b, c), (d, e, f) = np.asarray(affine, np.float64).tolist()
    x0, y0, x1, y1 = box
    xs = [a * x + b * y + c for x in (x0, x1) for y in (y0, y1)]
    ys = [d * x + e * y + f for x in (x0, x1) for y in (y0, y1)]
    bx0, by0 = max(math.floor(min(xs)) - 1, 0), max(math.floor(min(ys)) - 1, 0)
    bx1, by1 = min(math.ceil(max(xs)) + 2, size), min(math.ceil(max(ys)) + 2, size)
    return (bx0, by0, bx1, by1) if bx1 > bx0 and by1 > by0 else None


@dataclass(frozen=True)
class _Packed:
    """Every template's relief in one flat array, and its landmark solver over the whole mesh, so that all the
    patterns of an edit land in one compiled call (_stamp) instead of a warp and a few small steps each."""

    flat: np.ndarray        # the templates' `shading` arrays with a pixel of zeros around, one after another
    offsets: np.ndarray     # (T,) where each starts in flat
    dims: np.ndarray        # (T, 2) each one's (h, w), the border included
    corners: np.ndarray     # (T, 3, 4) each box's corners in the canonical crop, homogeneous
    origins: np.ndarray     # (T, 2) canonical (x, y) of each one's first pixel, the border's
    solvers: np.ndarray     # (T·3, N_MESH): Template.solve over its anchors, zero elsewhere, one after another
    tints: np.ndarray       # (T, 3) each one's log shade per RGB channel
    boxes: np.ndarray       # (T, 4) each one's box in the canonical crop
    lifting: np.ndarray     # (2, ·) the templates' `support` and `even` arrays (their boxes' shape), one after another
    lift_offsets: np.ndarray  # (T,) where each starts in lifting

    @staticmethod
    def of(temps) -> _Packed:
        padded = [np.pad(t.shading, ((1, 1), (1, 1), (0, 0))) for t in temps]
        sizes = [a.size for a in padded]
        solvers = np.zeros((len(temps), 3, N_MESH), np.float32)
        for i, t in enumerate(temps):
            solvers[i][:, t.anchors] = t.solve
        return _Packed(flat=np.concatenate([a.ravel() for a in padded] or [np.zeros(0, np.float32)]),
                       offsets=np.cumsum([0] + sizes[:-1]).astype(np.int64),
                       dims=np.array([a.shape[:2] for a in padded], np.int64).reshape(-1, 2),
                       corners=np.array([[[x, x, x1, x1], [y, y1, y, y1], [1, 1, 1, 1]]
                                         for x, y, x1, y1 in (t.box for t in temps)], np.float64).reshape(-1, 3, 4),
                       origins=np.array([t.box[:2] for t in temps], np.float64).reshape(-1, 2) - 1,
                       solvers=solvers.reshape(-1, N_MESH),
                       tints=np.array([t.tint for t in temps], np.float32).reshape(-1, 3),
                       boxes=np.array([t.box for t in temps], np.int64).reshape(-1, 4),
                       lifting=np.stack([np.concatenate([getattr(t, k).ravel() for t in temps] or [np.zeros(0, np.float32)])
                                         for k in ("support", "even")]),
                       lift_offsets=np.cumsum([0] + [t.support.size for t in temps][:-1]).astype(np.int64))

    def place(self, index: np.ndarray, strength: np.ndarray, moved: np.ndarray, light: np.ndarray, colour: float,
              size: int):
        """(crop box, then per pattern: template index, crop box, inverse affine (crop → template pixel), log
        shade per unit of (occlusion, slope x, slope y), its tint) for templates `index` at `strength` on the
        moved landmarks, each through the least-squares affine of the landmarks around it; None when none lands
        on the crop. `light`: (1, light x, light y); `colour`: how far the tints apply (0: grey, all channels
        alike)."""
        # every template's affine in one product (a batched one over the chosen few costs more)
        affine = (self.solvers @ moved[:N_MESH].astype(np.float32)).reshape(-1, 3, 2)[index].transpose(0, 2, 1).astype(np.float64)
        # the crop box each lands in, a pixel of margin for bilinear sampling (as _landing)
        # (the affines made C-contiguous for the kernel: one pattern's and several's layouts differ, and each
        # layout would compile on its own)
        on, boxes, inverse, mix, tints = _landed(affine @ self.corners[index], np.ascontiguousarray(affine), size, index,
                                                 self.origins, strength.astype(np.float32), light, self.tints,
                                                 np.float32(colour))
        if not len(on):
            return None
        box = (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max()))
        return box, on, boxes, inverse, mix, tints


@compiled
def _landed(at, affine, size, index, origins, strength, light, tints, colour):  # pragma: no cover (compiled)
    """_Packed.place's patterns that land on the crop, from their affines (`affine`, canonical → crop) and
    their boxes' corners through them (`at`): their template indices, crop boxes (a pixel of margin for bilinear
    sampling), inverse affines (crop → template pixel), log shade mixes and tints, in numpy's order and
    precision (float64 boxes and inverses, float32 mixes and tints)."""
    n = len(index)
    lands = np.zeros(n, np.bool_)
    box = np.empty((n, 4), np.int64)
    for p in range(n):
        for r in range(2):
            lo, hi = at[p, r, 0], at[p, r, 0]
            for k in range(1, at.shape[2]):
                lo, hi = min(lo, at[p, r, k]), max(hi, at[p, r, k])
            box[p, r] = np.int64(max(np.floor(lo) - 1, 0.0))
            box[p, 2 + r] = np.int64(min(np.ceil(hi) + 2, np.float64(size)))
        lands[p] = box[p, 2] > box[p, 0] and box[p, 3] > box[p, 1]
    m = int(lands.sum())
    on, boxes = np.empty(m, index.dtype), np.empty((m, 4), np.int64)
    inverse, mix, tint = np.empty((m, 2, 3)), np.empty((m, 3), np.float32), np.empty((m, 3), np.float32)
    q = 0
    for p in range(n):
        if not lands[p]:
            continue
        t = index[p]
        on[q], boxes[q] = t, box[p]
        # template pixel (i, j) is canonical (x0 + j, y0 + i): crop → template is the affine's inverse less the
        # origin
        (a, b, c), (d, e, f) = affine[p, 0], affine[p, 1]
        det = a * e - b * d
        inverse[q, 0, 0], inverse[q, 0, 1], inverse[q, 0, 2] = e / det, -b / det, (b * f - c * e) / det - origins[t, 0]
        inverse[q, 1, 0], inverse[q, 1, 1], inverse[q, 1, 2] = -d / det, a / det, (c * d - a * f) / det - origins[t, 1]
        for k in range(3):
            mix[q, k] = -strength[p] * light[k]
            tint[q, k] = np.float32(1) + (tints[t, k] - np.float32(1)) * colour
        q += 1
    return on, boxes, inverse, mix, tint


@compiled
def _weigh(weight, x0, y0, index, strength, crease, core, lifting, offsets, boxes):  # pragma: no cover (compiled)
    """Add each lifting pattern's weights at its strength to `weight` ((4, h, w) over the canonical box from (x0, y0)):
    its support (lifting[0]) to plane `crease` (none where −1) and, times `core` (none where 0), to plane 3, its
    evening (lifting[1]) to plane 1, in float32 as numpy's `weight[plane, box] += strength · support` per pattern
    gave it (a dozen small steps an edit)."""
    for p in range(len(index)):
        t, plane = index[p], crease[p]
        s, c = np.float32(strength[p]), np.float32(strength[p] * core[p])
        bx0, by0, w = boxes[t, 0] - x0, boxes[t, 1] - y0, boxes[t, 2] - boxes[t, 0]
        for i in range(boxes[t, 3] - boxes[t, 1]):
            k = offsets[t] + i * w
            # rows as views, indexed from 0: loops that compile to vector code
            if plane >= 0:
                row, add = weight[plane, by0 + i, bx0:bx0 + w], lifting[0, k:k + w]
                for j in range(w):
                    row[j] += s * add[j]
            if c > 0:
                row, add = weight[3, by0 + i, bx0:bx0 + w], lifting[0, k:k + w]
                for j in range(w):
                    row[j] += c * add[j]
            row, add = weight[1, by0 + i, bx0:bx0 + w], lifting[1, k:k + w]
            for j in range(w):
                row[j] += s * add[j]


@compiled
def _stamp(log, gx0, gy0, flat, offsets, dims, index, boxes, inverse, mix, tints):  # pragma: no cover (compiled)
    """Add each placed pattern's log shade to `log` ((h, w, 3), whose pixel (0, 0) is crop (gx0, gy0)): its
    template's channels mixed, then read bilinearly per crop pixel of its box through the inverse affine (the
    templates are packed with a border of zeros, so what falls off one reads 0), times its tint per RGB channel."""
    for p in range(len(index)):
        t = index[p]
        h, w, o = dims[t, 0], dims[t, 1], offsets[t]
        shade = np.empty((h, w), np.float32)
        # flat views indexed from 0: a loop that compiles to vector code
        mixed, parts, m0, m1, m2 = shade.ravel(), flat[o:o + 3 * h * w], mix[p, 0], mix[p, 1], mix[p, 2]
        for q in range(h * w):
            mixed[q] = m0 * parts[3 * q] + m1 * parts[3 * q + 1] + m2 * parts[3 * q + 2]
        # in the landed box's own pixels and in fixed point, as cv2.warpAffine reads (1/1024 px rounded to
        # 1/32 px), so the shading is what the per-pattern warps gave to within float rounding
        m, bx0, by0 = inverse[p], boxes[p, 0], boxes[p, 1]
        u0 = m[0, 0] * bx0 + m[0, 1] * by0 + m[0, 2]
        v0 = m[1, 0] * bx0 + m[1, 1] * by0 + m[1, 2]
        across = np.empty((2, boxes[p, 2] - bx0), np.int64)
        for x in range(across.shape[1]):
            across[0, x], across[1, x] = np.rint(m[0, 0] * x * 1024), np.rint(m[1, 0] * x * 1024)
        t0, t1, t2 = tints[p, 0], tints[p, 1], tints[p, 2]
        for y in range(by0, boxes[p, 3]):
            ux = int(np.rint((m[0, 1] * (y - by0) + u0) * 1024)) + 16
            vy = int(np.rint((m[1, 1] * (y - by0) + v0) * 1024)) + 16
            # the row as a view from the box's left, indexed from 0: no check for negative indices per pixel
            row = log[y - gy0, bx0 - gx0:]
            for x in range(across.shape[1]):
                u, v = (ux + across[0, x]) >> 5, (vy + across[1, x]) >> 5
                j, i = u >> 5, v >> 5
                if 0 <= j < w - 1 and 0 <= i < h - 1:
                    fu, fv = np.float32((u & 31) / 32), np.float32((v & 31) / 32)
                    upper, lower = shade[i], shade[i + 1]
                    s = (upper[j] * ((1 - fu) * (1 - fv)) + upper[j + 1] * (fu * (1 - fv))
                         + lower[j] * ((1 - fu) * fv) + lower[j + 1] * (fu * fv))
                    row[x, 0] += s * t0
                    row[x, 1] += s * t1
                    row[x, 2] += s * t2


@compiled
def _lit(log, under, lo, hi):  # pragma: no cover (compiled)
    """Clip the patterns' log shade to [lo, hi]; where it brightens, brighten all channels as green (the skin's
    hue kept) and only as far as the brightest channel of the skin `under` it can go: where one is clipped
    (over-exposed skin), the others alone brightening drew a pale line beside each crease."""
    # the most each brightest channel can take, a logarithm once per channel value rather than per brightened
    # pixel (each taken where first needed, as the scalar logarithm a vectorised loop would not give bit for bit)
    most = np.full(256, np.float32(-1))
    for i in range(log.shape[0]):
        for j in range(log.shape[1]):
            g = log[i, j, 1]
            if g > 0:
                top = max(under[i, j, 0], under[i, j, 1], under[i, j, 2], 1)
                if most[top] < 0:
                    most[top] = np.float32(np.log(np.float32(255.5) / np.float32(top)))
                g = min(g, hi, most[top])
                log[i, j, 0] = g
                log[i, j, 1] = g
                log[i, j, 2] = g
            else:
                for c in range(3):
                    log[i, j, c] = min(max(log[i, j, c], lo), hi)


@lru_cache(maxsize=4)
def _face_solver(size: int) -> np.ndarray:
    """(3, 468): the least-squares inverse of the average face's positions, → its affine onto a face."""
    rest = rest_points(size)[:N_MESH].astype(np.float64)
    return np.linalg.pinv(np.c_[rest, np.ones(len(rest))]).astype(np.float32)


def _blur_over(image: np.ndarray, sigma: float, part: tuple[int, int, int, int]) -> np.ndarray:
    """cv2.GaussianBlur(image, (0, 0), sigma) over `part` (x0, y0, x1, y1) only, bit for bit: the blur of just
    the window its kernel reads (OpenCV's float kernels reach 4 σ; where the window is cut at the image's edge
    it reflects there as the whole image does). Kernels of 5 taps or fewer take OpenCV's small-kernel paths,
    which round differently near a window's edge: those blur the whole image."""
    x0, y0, x1, y1 = part
    if sigma * 8 + 1 < 6:
        return cv2.GaussianBlur(image, (0, 0), sigma)[y0:y1, x0:x1]
    r = math.ceil(4 * sigma) + 1
    wx0, wy0 = max(x0 - r, 0), max(y0 - r, 0)
    out = cv2.GaussianBlur(image[wy0:min(y1 + r, image.shape[0]), wx0:min(x1 + r, image.shape[1])], (0, 0), sigma)
    return out[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]


def _wide_blur(image: np.ndarray, sigma: float, part: tuple[int, int, int, int]) -> np.ndarray:
    """cv2.GaussianBlur(image, (0, 0), sigma) over `part` (x0, y0, x1, y1), for a wide sigma: blurred at 1/k of
    the resolution (a k × k box down, bilinear back up, their variances taken off the blur) with at least
    WIDE_BLUR_LOW_PX of sigma left there. The blurred field is smooth at that scale, so it reads the same
    (a fraction of a grey level in the shade) at a twelfth of the cost of the full-resolution blur."""
    k = min(WIDE_BLUR_MAX_K, int(sigma / WIDE_BLUR_LOW_PX))
    if k < 2:
        return _blur_over(image, sigma, part)
    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, 0, -h % k, 0, -w % k, cv2.BORDER_REFLECT_101)
    ph, pw = padded.shape[:2]
    low = cv2.resize(padded, (pw // k, ph // k), interpolation=cv2.INTER_AREA)
    low = cv2.GaussianBlur(low, (0, 0), math.sqrt(sigma * sigma - (k * k - 1) / 4) / k)
    x0, y0, x1, y1 = part
    return cv2.resize(low, (pw, ph), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]


def _planes(x: np.ndarray) -> np.ndarray:
    """(h, w) → (h, w, 3) copies, to multiply a per-channel image by: numpy broadcasting over a trailing axis
    of 3 costs several times more."""
    return cv2.merge([x, x, x])


def _above(strength: float, floor: float) -> float:
    """A strength past `floor`, rescaled so it starts from 0 there and still reaches 1."""
    return (strength - floor) / (1 - floor)


def _union(boxes):
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@compiled
def _nonzero_box(plane):  # pragma: no cover (compiled)
    """cv2.boundingRect(cv2.compare(plane, 0, cv2.CMP_NE)) of a 2-D plane, (x, y, w, h), all 0 for none: one pass, no
    mask in between. NaN does not count (OpenCV's compare counts it only past its vector loop; weights and fill
    masks hold none)."""
    h, w = plane.shape
    x0, y0, x1, y1 = w, h, 0, 0
    for i in range(h):
        for j in range(w):
            if plane[i, j] < 0 or plane[i, j] > 0:
                x0, x1 = min(x0, j), max(x1, j + 1)
                y0, y1 = min(y0, i), max(y1, i + 1)
    if x1 == 0:
        return 0, 0, 0, 0
    return x0, y0, x1 - x0, y1 - y0


@compiled
def _changed(log, tol):  # pragma: no cover (compiled)
    """Where (h, w) any channel of `log` ((h, w, 3) float32) is not under `tol` (float32) in size, NaN included,
    and the bounding box (x, y, w, h) of that, all 0 for none: one pass instead of a range test, a comparison
    and a bounding box over the whole log shade."""
    h, w = log.shape[0], log.shape[1]
    mask = np.zeros((h, w), np.bool_)
    x0, y0, x1, y1 = w, h, 0, 0
    for i in range(h):
        for j in range(w):
            if not (abs(log[i, j, 0]) < tol and abs(log[i, j, 1]) < tol and abs(log[i, j, 2]) < tol):
                mask[i, j] = True
                x0, x1 = min(x0, j), max(x1, j + 1)
                y0, y1 = min(y0, i), max(y1, i + 1)
    if x1 == 0:
        return mask, (0, 0, 0, 0)
    return mask, (x0, y0, x1 - x0, y1 - y0)


def apply_shading(pixels: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """uint8 RGB pixels × a ratio image of the same shape, rounded."""
    return cv2.multiply(pixels, shade, dtype=cv2.CV_8U)
