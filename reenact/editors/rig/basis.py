"""The AU motion basis: per-AU vertex displacement fields in the canonical frame (configs/rig_basis.yaml).

Each AU is a list of moves written for the subject's right half of the face (image left, x < 0). A move
is a direction (or a rotation) times a weight per vertex; the weight is a product of simple geometric
terms evaluated on the canonical mesh:
  near   Gaussian falloff with the distance to anchor landmarks (radius = sigma, IOD units)
  above / below   a soft side of a polyline through landmarks (band = half-width of the ramp; `widen`
         grows the band with horizontal distance beyond the polyline's ends, so a seam that is sharp
         between the lips softens across the cheeks)
  lateral  a linear ramp in the distance from the face's midline, 0 at its first value and 1 at its second
         (IOD): the lips stretch evenly from a pulled corner to their still centre, where a Gaussian pinned at
         the centre would squeeze the red between into folds
  set    fixed weights for listed landmarks (e.g. the inner-lip chains, which a line cannot separate);
         symmetric groups only, since the mirrored half reuses the vertex ids
  pin    1 − Gaussian around landmarks that must stay put (applied last, so it also tapers `set`)
A move marked `relaxed` shows only while the target leaves the lips relaxed (no AU of LIP_AUS: see
Basis.displacement): what a jaw drop does to lips that no muscle holds, which a smile, a stretch or a
tightener overrides. A move marked `frown` shows only while the target lowers the brows hard (AU4 from C on)
and leaves the inner brows down (no AU of BROW_AUS: see brows_down): how far the corrugator and procerus pull
brows that the frontalis does not hold up, the deep V of anger, which sad's and fear's raised inner brows
(AU1+4) resist. A move marked `held` shows only while the target holds the whole brow up (AU1 and AU2 from
BROW_HOLD on: the frontalis across the forehead, see brows_held): what it does against AU4's pull, the brows drawn
together but barely lowered (fear's 1+2+4), where sad's 1+4, the outer brow free, bunches them down. A move
marked `arched` shows only while the target holds the whole brow up and leaves AU4 off (brows_arched: surprise's
1+2): the brow rises as a curved arch, highest over the iris, not as 1+2+4's straightened, pinched line.
A move marked `rising` shows only as its AU rises, never run backwards as it falls: what a muscle pulls that
deform's own rest takes back when it lets go (AU6 draws the upper lid down; a falling AU6 opens the eye to
rest through deform._open_eyes, and its field run backwards would lift the lid past that).
A direction's x and y are the front view of skin sliding over the face: on a turned face (Basis.turned) the
move takes the depth the face's surface gives it there (_slopes), so a turned head shows it foreshortened on
its far side, as a head would; a z written into the direction moves the skin off the surface (a lip pushed
out, a corner tucked in). A rotation (the jaw) moves as written. A frontal face keeps the moves as written:
there the depth only changed what the depth test and the slight turn showed (takeo.ppm's fear lost its read).
The left half evaluates the same move at the mirrored position with x negated, so no vertex-to-vertex
mirror table is needed. Moves marked `midline` are not mirrored; unilateral edits get half of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Mapping

import numpy as np

from ...jit import compiled
from ...stages import landmarks as lm
from ...config import read_yaml
from ...errors import ConfigError
from ...stages.geometry import canonical_mesh
from ...pipeline.types import AU_INDEX, AU_MAX, AU_NAMES, au_key
from . import mesh

BASIS_FILE = "rig_basis.yaml"
SUPPORTED_VERSION = 1

# Landmark groups the spec may name instead of listing indices.
GROUPS: dict[str, tuple[int, ...]] = {
    "RIGHT_EYE": lm.RIGHT_EYE, "RIGHT_BROW": lm.RIGHT_BROW, "LIPS_INNER": lm.LIPS_INNER,
    "LIPS_OUTER": lm.LIPS_OUTER, "FACE_OVAL": lm.FACE_OVAL,
    "RIGHT_EYE_UPPER": mesh.RIGHT_EYE_UPPER, "RIGHT_EYE_LOWER": mesh.RIGHT_EYE_LOWER,
    "LIPS_INNER_UPPER": mesh.LIPS_INNER_UPPER, "LIPS_INNER_LOWER": mesh.LIPS_INNER_LOWER,
    # every point of each lip's red except the corners, which both lips share
    "UPPER_LIP": tuple(i for row in mesh.UPPER_LIP_ROWS for i in row[1:-1]),
    "LOWER_LIP": tuple(i for row in mesh.LOWER_LIP_ROWS for i in row[1:-1]),
}
# AUs allowed to open the lips (AU20's platysma pulls the lower lip down off the teeth; AU9 lifts the upper
# lip's centre off the lower one, just apart)
OPENING = ("AU09", "AU10", "AU20", "AU25", "AU26")
# AUs that hold the lips (raise, pull, stretch, press them): a `relaxed` move fades as the target holds
# any of them, gone from LIP_HOLD on
LIP_AUS = ("AU10", "AU12", "AU14", "AU15", "AU20", "AU23")
LIP_HOLD = 1.0
_LIP_AUS = [AU_INDEX[a] for a in LIP_AUS]
_AU45 = AU_INDEX["AU45"]
# AUs that hold the inner brows up: a `frown` move fades as the target raises them, gone from BROW_HOLD on;
# it comes in as the target's AU4 goes from the first of FROWN_AU04 to the second (a slight lowering, as
# disgust's AU4 at A, is no frown)
BROW_AUS = ("AU01",)
BROW_HOLD = 1.0
FROWN_AU04 = (2.0, 4.0)
_BROW_AUS = [AU_INDEX[a] for a in BROW_AUS]
_HELD = [AU_INDEX["AU01"], AU_INDEX["AU02"]]
# the kinds of gated move (see the module's docstring), each shown by its share in Basis.displacement
GATES = ("relaxed", "frown", "held", "arched", "rising")
_AU04 = AU_INDEX["AU04"]
# an `arched` move fades as the target's AU4 rises, gone from ARCH_AU04 on (fear's 1+2+4 at AU4 1.5)
ARCH_AU04 = 1.0
# skin turned further than about 72° from the view (its normal's cosine to the view axis) is the band along a
# silhouette: no slope is taken steeper than that (_slopes), and the fold limiter leaves such skin be (deform)
SILHOUETTE_COS = 0.3
# the scale (IOD) of the face's shape that skin slides over (the dental arch, the cheeks, the chin), about 6 mm:
# finer relief, such as the lips' red rolling into the mouth (0.1 IOD from the inner to the outer edge), is no
# track the skin moves along
SURFACE_IOD = 0.1
# how finely Basis.turned grades the slide (each step adds a 32nd of the depth it takes)
SLIDE_STEPS = 32
MIDLINE = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 2, 164, 0, 13, 14, 17, 18, 200, 199, 175, 152)


def _ids(spec: Any, where: str) -> list[int]:
    out: list[int] = []
    for item in spec if isinstance(spec, (list, tuple)) else [spec]:
        if isinstance(item, str):
            if item not in GROUPS:
                known = ", ".join(GROUPS)
                raise ConfigError(f"{where}: unknown landmark group {item!r}; known: {known}", BASIS_FILE)
            out.extend(GROUPS[item])
        else:
            out.append(int(item))
    return out


def _midline_mirror(pts: np.ndarray) -> np.ndarray:
    """Reflect points across the face's midline plane (fitted to midline landmarks, x = a·y + b·z + c)."""
    m = canonical_mesh().astype(np.float64)
    a = np.c_[m[list(MIDLINE), 1], m[list(MIDLINE), 2], np.ones(len(MIDLINE))]
    coef = np.linalg.lstsq(a, m[list(MIDLINE), 0], rcond=None)[0]
    out = pts.astype(np.float64).copy()
    mid_x = np.c_[pts[:, 1], pts[:, 2], np.ones(len(pts))] @ coef
    out[:, 0] = 2 * mid_x - pts[:, 0]
    return out


def _side_of_line(p: np.ndarray, line: np.ndarray, band: float, widen: float, above: bool) -> np.ndarray:
    line = line[np.argsort(line[:, 0])]
    y = np.interp(p[:, 0], line[:, 0], line[:, 1])
    beyond = np.maximum(line[0, 0] - p[:, 0], 0) + np.maximum(p[:, 0] - line[-1, 0], 0)
    s = (y - p[:, 1]) if above else (p[:, 1] - y)
    t = np.clip(0.5 + 0.5 * s / (band + widen * beyond), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _dist(p: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    return np.sqrt(((p[:, None, :] - anchors[None]) ** 2).sum(-1)).min(1)


INCISORS = 14  # lower inner-lip midpoint: stands in for the lower incisors, which ride on the jaw


def _move_field(move: Mapping[str, Any], p: np.ndarray, ref: np.ndarray, ids: np.ndarray,
                where: str) -> np.ndarray:
    """(N, 3) displacement per unit intensity of one move at positions p (the mesh or its mirror)."""
    known = {"near", "radius", "above", "below", "band", "widen", "lateral", "pin", "pin_radius", "set",
             "direction", "amount", "rotate", "midline", *GATES, "why"}
    extra = set(move) - known
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)}; known: {', '.join(sorted(known))}", BASIS_FILE)
    w = np.ones(len(p))
    if "near" in move:
        w *= np.exp(-0.5 * (_dist(p, ref[_ids(move["near"], where)]) / float(move["radius"])) ** 2)
    for key in ("above", "below"):
        if key in move:
            line = ref[_ids(move[key], where), :2]
            w *= _side_of_line(p[:, :2], line, float(move.get("band", 0.02)), float(move.get("widen", 0.0)),
                               above=key == "above")
    if "lateral" in move:
        lo, hi = (float(v) for v in move["lateral"])
        w *= np.clip((-p[:, 0] - lo) / (hi - lo), 0.0, 1.0)     # the subject's right half: x < 0
    for group, value in (move.get("set") or {}).items():
        w[np.isin(ids, _ids(group, where))] = float(value)
    if "pin" in move:
        w *= 1 - np.exp(-0.5 * (_dist(p, ref[_ids(move["pin"], where)]) / float(move["pin_radius"])) ** 2)
    if "rotate" in move:
        rot = move["rotate"]
        axis = np.asarray(rot["axis"], np.float64)
        axis /= np.linalg.norm(axis)
        # linearised rotation: velocity ω × (p − pivot), ω in radians per unit intensity
        omega = axis * math.radians(float(rot["degrees"]))
        return w[:, None] * np.cross(omega, p - np.asarray(rot["pivot"], np.float64))
    d = np.asarray(move["direction"], np.float64)
    return w[:, None] * (float(move["amount"]) * d / np.linalg.norm(d))


@dataclass(frozen=True)
class Basis:
    """Per-AU displacement per unit intensity, (17, 478, 3) for each half, canonical units (IOD).

    gain scales each AU so one unit moves the mesh as far as a real face moves at that reading (the
    calibration block); limit is the largest coefficient per AU (on both sides or one) that moves no point
    further than its `max_move`.
    """

    version: int
    right: np.ndarray
    left: np.ndarray
    gain: np.ndarray
    limit: np.ndarray
    jaw: np.ndarray      # (17, 3) how far each AU's jaw rotation carries the lower incisors, per unit
    reach: np.ndarray    # (478,) the most all AUs together may move each point (IOD; inf: no bound)
    # per gate of GATES that has moves, (right, left) its moves' fields, like right/left
    gated: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # (17, 478) per field of `fields`, the depth (z) each unit of its moves takes sliding over the face's surface
    # (_slopes); empty once added (turned)
    slide: tuple[np.ndarray, ...] = ()

    @property
    def fields(self) -> list[np.ndarray]:
        """right, left, then each gate's (right, left), in `gated`'s order."""
        return [self.right, self.left, *(f for pair in self.gated.values() for f in pair)]

    def turned(self, share: float) -> "Basis":
        """This basis with `share` (0 … 1, how turned the face is; in steps of 1/SLIDE_STEPS) of the depth its
        moves take sliding over the face added to its fields; itself at 0. The last few are kept: adding costs
        about 0.2 ms, and a video's head keeps its turn from frame to frame."""
        step = round(min(share, 1.0) * SLIDE_STEPS)
        if step <= 0 or not self.slide:
            return self
        kept = self._turns
        if step not in kept:
            if len(kept) >= 4:
                kept.pop(next(iter(kept)))
            kept[step] = self._sliding(step / SLIDE_STEPS)
        return kept[step]

    @cached_property
    def _turns(self) -> dict:
        return {}

    @cached_property
    def _gated_aus(self) -> dict[str, np.ndarray]:
        """Per gate, (17,) 1 for the AUs that have moves of it, else 0."""
        return {g: np.any(r, axis=(1, 2)) | np.any(l, axis=(1, 2)) for g, (r, l) in self.gated.items()}

    def _sliding(self, share: float) -> "Basis":
        out = []
        for f, dz in zip(self.fields, self.slide):
            f = f.copy()
            f[..., 2] += np.float32(share) * dz
            out.append(f)
        pairs = iter(out[2:])
        return replace(self, right=out[0], left=out[1], gated={g: (next(pairs), next(pairs)) for g in self.gated},
                       slide=())

    def displacement(self, right: np.ndarray, left: np.ndarray, gates: Mapping[str, float] | None = None) -> np.ndarray:
        """(478, 3) canonical displacement for per-side intensity changes (each (17,), any sign); `gates` (see
        gates()): per kind of gated move, the share (0 … 1) of its moves that come along (none when left out)."""
        out = np.zeros(self.right.shape[1:], np.float32)
        sets = [(self.right, right, 1.0), (self.left, left, 1.0)]
        for gate, (r, l) in self.gated.items():
            share = (gates or {}).get(gate, 0.0)
            if share > 0:     # only the AUs with moves of the gate: the rest would add zeros
                has = self._gated_aus[gate]
                sets += [(r, right * has, share), (l, left * has, share)]
        for fields, coeff, share in sets:
            _add_fields(out, fields, coeff, share, self.gain)
        return out


@compiled
def _add_fields(out, fields, coeff, share, gain):  # pragma: no cover (compiled)
    """out += float32(share · coeff[k] · gain[k]) · fields[k] for each AU k that coeff moves, in numpy's order and
    precision (the factor in float64, rounded once; the sum in float32): a handful of AUs at a time, where a BLAS
    call or a numpy step per AU costs more in calls than in arithmetic."""
    for k in range(len(coeff)):
        if coeff[k] == 0:
            continue
        c = np.float32(share * np.float64(coeff[k]) * gain[k])
        f = fields[k]
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] += c * f[i, j]


def free(target, ids, hold: float) -> float:
    """How free (0 … 1) an AU target (AUVector) leaves what the AUs `ids` hold: 1 when it asks none of them,
    0 when it asks any at `hold` or more."""
    return min(max(1.0 - float(target.values[ids].max()) / hold, 0.0), 1.0)


def lips_relaxed(target) -> float:
    """How relaxed (0 … 1) an AU target (AUVector) leaves the lips: 1 when it holds none of LIP_AUS."""
    return free(target, _LIP_AUS, LIP_HOLD)


def lids_shut(target) -> float:
    """How closed (0 … 1) an AU target (AUVector) keeps the upper lids: its AU45 on the 0–5 scale."""
    return float(min(max(target.values[_AU45] / AU_MAX, 0.0), 1.0))


def brows_down(target) -> float:
    """How hard (0 … 1) an AU target (AUVector) pulls brows it leaves free down: 1 when it asks AU4 at
    FROWN_AU04[1] or more and raises none of BROW_AUS."""
    lo, hi = FROWN_AU04
    hard = (float(target.values[_AU04]) - lo) / (hi - lo)
    return float(free(target, _BROW_AUS, BROW_HOLD) * min(max(hard, 0.0), 1.0))


def brows_held(target) -> float:
    """How far (0 … 1) an AU target (AUVector) holds the whole brow up: its lesser of AU1 and AU2, full at
    BROW_HOLD."""
    return float(min(max(target.values[_HELD].min() / BROW_HOLD, 0.0), 1.0))


def brows_arched(target) -> float:
    """How far (0 … 1) an AU target (AUVector) arches the brows: as far as it holds them up (brows_held) while
    it leaves AU4 free (none from ARCH_AU04 on)."""
    return brows_held(target) * free(target, [_AU04], ARCH_AU04)


def gates(target) -> dict[str, float]:
    """How much (0 … 1) of each kind of gated move (GATES) an AU target (AUVector) brings along with what it
    raises; `rising` moves come with every rise (Basis.displacement is given only the rising part of a change
    with these)."""
    return {"relaxed": lips_relaxed(target), "frown": brows_down(target), "held": brows_held(target),
            "arched": brows_arched(target), "rising": 1.0}


def build_basis(spec: Mapping[str, Any], calibration: Mapping[str, Any] | None = None) -> Basis:
    """Fields from a spec; `calibration` (default: the spec's own block) supplies the gains."""
    version = int(spec.get("version", 0))
    if version != SUPPORTED_VERSION:
        raise ConfigError(f"basis version {version} not supported (want {SUPPORTED_VERSION})", BASIS_FILE)
    ref = canonical_mesh().astype(np.float64)
    ids = np.arange(len(ref))
    mirrored = _midline_mirror(ref)
    flip = np.array([-1.0, 1.0, 1.0])
    n = len(AU_NAMES)
    right = np.zeros((n, len(ref), 3))
    left = np.zeros_like(right)
    # each gate's moves, apart: (right, left)
    gated = {g: (np.zeros_like(right), np.zeros_like(right)) for g in GATES}
    every = (right, left) + tuple(f for pair in gated.values() for f in pair)
    jaw = np.zeros((n, 3))
    # the depth a direction's move takes as it slides over the face (_slopes), per field: apart from the fields
    # (Basis.turned adds it), so the caps bound how far a point moves as the moves are written
    slopes = _slopes(ref)
    depth = {id(f): np.zeros(f.shape[:2]) for f in every}
    aus = spec.get("aus") or {}
    for name, au in aus.items():
        extra = set(au) - {"moves", "max_move"}
        if extra:
            raise ConfigError(f"aus.{name}: unknown keys {sorted(extra)}; known: max_move, moves", BASIS_FILE)
        k = AU_NAMES.index(au_key(name))
        for i, move in enumerate(au.get("moves") or ()):
            where = f"aus.{name}.moves[{i}]"
            r = _move_field(move, ref, ref, ids, where)
            if "rotate" in move:
                jaw[k] += r[INCISORS]
            gates = [g for g in GATES if move.get(g)]
            if len(gates) > 1:
                raise ConfigError(f"{where}: a move is one of {', '.join(f'`{g}`' for g in GATES)}, not "
                                  f"{' and '.join(gates)}", BASIS_FILE)
            into = gated[gates[0]] if gates else (right, left)
            halves = ((0.5 * r, 0.5 * r) if move.get("midline")
                      else (r, _move_field(move, mirrored, ref, ids, where) * flip))
            slides = "direction" in move
            for f, half in zip(into, halves):
                f[k] += half
                if slides:
                    depth[id(f)][k] += (slopes * half[:, :2]).sum(1)
    # only the AUs that part the lips may change the gap between them; the rest move both lips alike
    for k in set(range(n)) - {AU_NAMES.index(a) for a in OPENING}:
        for f in every:
            u, low = list(mesh.LIPS_INNER_UPPER), list(mesh.LIPS_INNER_LOWER)
            f[k, u, 1] = f[k, low, 1] = 0.5 * (f[k, u, 1] + f[k, low, 1])
    # irises ride on the eyeball, which no AU moves; the rigid points define the canonical frame
    # (and every feature's reference), so they stay put and the skin around them eases off
    rigid = list(lm.RIGID)
    calm = 1 - np.exp(-0.5 * (_dist(ref, ref[rigid]) / float(spec.get("rigid_pin_radius", 0.04))) ** 2)
    for f in every:
        f *= calm[None, :, None]
        f[:, mesh.N_MESH:] = 0
    cal = (spec.get("calibration") or {}) if calibration is None else calibration
    g = np.ones(n)
    for name, value in (cal.get("gain") or {}).items():
        g[AU_NAMES.index(au_key(name))] = float(value)
    # the cap bounds how far any point moves (its distance, not one axis) over the whole field: both halves
    # together (a midline move is split between them, and moves near the midline overlap), either alone (a
    # unilateral edit), each with and without the relaxed moves and any of the brows' gated moves (a frown
    # leaves the inner brows down, a held brow raises them; an arched brow is a held one)
    halves = [(right, {g: p[0] for g, p in gated.items()}), (left, {g: p[1] for g, p in gated.items()}),
              (right + left, {g: p[0] + p[1] for g, p in gated.items()})]
    fields = [h + lips + brows + rise for h, m in halves for lips in (0, m["relaxed"])
              for brows in (0, m["frown"], m["held"], m["held"] + m["arched"]) for rise in (0, m["rising"])]
    peak = np.maximum.reduce([np.linalg.norm(f, axis=2).max(axis=1) for f in fields]) * g
    cap = np.array([float((aus.get(a) or {}).get("max_move", np.inf)) for a in AU_NAMES])
    limit = np.where(peak > 0, cap / np.maximum(peak, 1e-9), np.inf)
    jaw *= g[:, None]
    # a gate without moves is dropped
    gated = {gate: pair for gate, pair in gated.items() if np.any(pair[0])}
    kept = (right, left) + tuple(f for pair in gated.values() for f in pair)
    slide = tuple((depth[id(f)] * calm[None, :] * (np.arange(len(ref)) < mesh.N_MESH)).astype(np.float32)
                  for f in kept)
    right, left = right.astype(np.float32), left.astype(np.float32)
    gated = {gate: (r.astype(np.float32), l.astype(np.float32)) for gate, (r, l) in gated.items()}
    reach = _reach(spec.get("reach") or (), ref)
    for a in (right, left, g, limit, jaw, reach) + tuple(f for pair in gated.values() for f in pair) + slide:
        a.setflags(write=False)
    return Basis(version=version, right=right, left=left, gain=g, limit=limit, jaw=jaw, reach=reach,
                 gated=gated, slide=slide)


def _slopes(ref: np.ndarray) -> np.ndarray:
    """(N, 2) per point, how far skin that slides over the face's surface there goes in depth (z) per unit it
    moves in x and in y: the surface's tangent plane at the point, its normal the mesh triangles' normals
    weighted by area and by a Gaussian of SURFACE_IOD around the point, and at most SILHOUETTE_COS from
    edge-on. A move written seen from the front is the front view of such a slide: a turned face shows it
    foreshortened on its far side and full on its near side, as it would a head's skin."""
    tris = mesh.face_triangles()
    a, b, c = (ref[tris[:, i]] for i in range(3))
    # consistently oriented (front-facing: positive area, y down), so the normals add up
    n = np.cross(b - a, c - a)
    d2 = ((ref[:, None, :] - (a + b + c)[None] / 3) ** 2).sum(-1)
    normal = np.exp(-0.5 * d2 / SURFACE_IOD ** 2) @ n
    nz = np.maximum(normal[:, 2], SILHOUETTE_COS * np.linalg.norm(normal, axis=1))
    return -normal[:, :2] / np.maximum(nz, 1e-12)[:, None]


def _reach(regions, ref: np.ndarray) -> np.ndarray:
    """Per point, the least of max_move / w over the regions (w: a Gaussian of the distance to the region's
    landmarks and their mirror images), so a bound holds on its region and eases off around it."""
    out = np.full(len(ref), np.inf)
    flip = np.array([-1.0, 1.0, 1.0])
    for i, region in enumerate(regions):
        where = f"reach[{i}]"
        extra = set(region) - {"near", "radius", "max_move", "why"}
        if extra:
            raise ConfigError(f"{where}: unknown keys {sorted(extra)}; known: max_move, near, radius, why", BASIS_FILE)
        ids = _ids(region["near"], where)
        anchors = np.concatenate([ref[ids], ref[ids] * flip])
        w = np.exp(-0.5 * (_dist(ref, anchors) / float(region["radius"])) ** 2)
        out = np.minimum(out, float(region["max_move"]) / np.maximum(w, 1e-9))
    return out.astype(np.float32)


@lru_cache(maxsize=1)
def load_basis() -> Basis:
    return build_basis(read_yaml(BASIS_FILE))
