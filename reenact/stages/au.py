"""AU estimator stage: 17 FACS intensities from the geometry of MediaPipe's 478-point mesh.

Landmarks → canonical frame (`geometry.to_canonical`: rotation, translation and scale removed, unit
inter-ocular distance, x right, y down, z away from the camera) → features → AU intensities.

Features are linear in the canonical coordinates: each is a signed difference of mean coordinates of
two landmark groups along one axis, in inter-ocular distances (IOD), optionally plus other features
(`add`: compensations that remove what another movement explains, e.g. the mouth corners following the
lower lip). `AUModel.matrix` holds the whole map, so features = matrix · canonical landmarks.
Each AU reads one feature relative to a neutral and is piecewise linear:

    intensity = clip(5 · (direction · (f − f_neutral) − onset) / (full − onset), 0, 5)

`onset` is the movement (IOD) below which the AU reads 0, `full` the movement that reads 5. An editor
that moves a neutral face's feature by `AUModel.feature_delta(au, x)` makes this estimator read x.
Groups, features and constants, each with its source, live in configs/au_features.yaml.

The neutral, per track id, first that applies: an explicit one (`set_neutral`, e.g. the features of
a neutral image); a calibration (median features over a face's first `calibrate_s` seconds); in
video, the automatic baseline: per feature a percentile of the last `baseline_window_s` seconds taken
on its resting side, so someone who smiles most of the time still has a neutral mouth; for a single
image, the still prior (configs/still_prior.npy, tools/build_still_prior.py): the mean of 13 people's
faces at rest, and each AU's onset widened by the spread identity alone gives its feature, so a face
whose brows merely sit low does not read as a frown. Where too few people were measured at rest (the
lower face), a still keeps the population neutral: the features of configs/canonical_mesh.npy.
Time is the frame's pts, never the clock; a face missing from a packet restarts its smoother.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..config import AUConfig, config_path, read_yaml
from ..errors import ConfigError
from ..files import read_verified
from .geometry import canonical_mesh, to_canonical
from .landmarks import N_LANDMARKS
from ..pipeline.smoothing import OneEuroFilter
from ..pipeline.stage import StageBase
from ..pipeline.types import AU_INDEX, AU_MAX, AU_NAMES, AUVector, Face, Packet, au_key

FEATURES_VERSION = 1
_AXES = {"x": 0, "y": 1, "z": 2}
# resting side of a feature's distribution → which baseline percentile is its neutral
_REST = ("low", "median", "high")
STILL_PRIOR = "still_prior.npy"
# a still's onset adds identity's spread to the tracker noise in quadrature, at the same 2 × spread that
# sets each onset from its noise figure (au_features.yaml)
IDENTITY_Z = 2.0
# on a still a smile raises the cheeks at least as far as AU12 reads (FACS 12 from C lifts the infraorbital
# triangle and bags the lower lid, as AU6 does): the cheek feature, read against the population, misses it
# under identity's spread (portrait_man.jpg AU6 0, AU12 1; dev sample5_face4 0.1, 1.9), and a preset that takes
# the smile away left its raised cheeks and lids, fear's cry face read sad (docs/presets.md#fear)
_AU06, _AU12 = AU_INDEX["AU06"], AU_INDEX["AU12"]


@dataclass(frozen=True)
class StillPrior:
    """Faces at rest, per feature (IOD): mean and identity SD across people; NaN where not measured."""

    mean: np.ndarray
    sd: np.ndarray


@lru_cache(maxsize=2)
def load_still_prior(feature_names: tuple[str, ...]) -> StillPrior:
    """configs/still_prior.npy, hash-checked, for a model with these features."""
    rebuild = "rebuild with tools/build_still_prior.py"
    entry = read_yaml("assets.yaml").get(STILL_PRIOR) or {}
    if tuple(str(entry.get("features", "")).split()) != feature_names:
        raise ConfigError(f"{STILL_PRIOR} was built for other AU features; {rebuild}", "assets.yaml")
    data = read_verified(config_path(STILL_PRIOR), entry.get("sha256", ""), rebuild)
    table = np.load(io.BytesIO(data), allow_pickle=False)
    if table.shape != (3, len(feature_names)):
        raise ConfigError(f"shape {table.shape} is not (3, {len(feature_names)}); {rebuild}", STILL_PRIOR)
    return StillPrior(mean=table[0], sd=table[1])


@dataclass(frozen=True)
class AUModel:
    """The feature map and the per-AU piecewise-linear read-out, as loaded from the YAML."""

    feature_names: tuple[str, ...]
    matrix: np.ndarray        # (F, 478, 3): features = einsum('fnk,nk->f', matrix, canonical)
    rest: np.ndarray          # (F,) index into _REST
    au_feature: np.ndarray    # (17,) feature index each AU reads
    direction: np.ndarray     # (17,) +1 or -1: which way the feature moves when the AU acts
    onset: np.ndarray         # (17,) IOD
    full: np.ndarray          # (17,) IOD
    prior: StillPrior | None = None   # for stills; None: configs/still_prior.npy
    population_neutral: np.ndarray = field(init=False)
    still_neutral: np.ndarray = field(init=False)   # (F,) a still's reference features
    still_onset: np.ndarray = field(init=False)     # (17,) a still's onsets, identity spread added
    # the matrix is 99 % zeros: each feature reads a few coordinates, so gather those (same numbers)
    _columns: np.ndarray = field(init=False, repr=False)   # (K,) flat indices into the (478·3,) mesh
    _weights: np.ndarray = field(init=False, repr=False)   # (F, K) the matrix at those columns

    def __post_init__(self) -> None:
        self.matrix.setflags(write=False)
        dense = self.matrix.reshape(len(self.feature_names), -1)
        columns = np.flatnonzero(np.any(dense != 0, axis=0))
        object.__setattr__(self, "_columns", columns)
        object.__setattr__(self, "_weights", np.ascontiguousarray(dense[:, columns]))
        object.__setattr__(self, "population_neutral", self.features_canonical(canonical_mesh()))
        prior = self.prior or load_still_prior(self.feature_names)
        object.__setattr__(self, "still_neutral",
                           np.where(np.isnan(prior.mean), self.population_neutral, prior.mean).astype(np.float32))
        spread = np.nan_to_num(prior.sd[self.au_feature])
        object.__setattr__(self, "still_onset", np.hypot(self.onset, IDENTITY_Z * spread).astype(np.float32))

    def features(self, landmarks: np.ndarray) -> np.ndarray:
        """(478, 3) landmarks in any pose and scale → (F,) features in IOD, canonical frame."""
        canon, _, _, _ = to_canonical(landmarks)
        return self.features_canonical(canon)

    def features_canonical(self, canonical: np.ndarray) -> np.ndarray:
        """Features of landmarks already in the canonical frame: the linear part, for rigs."""
        return self._weights @ np.asarray(canonical, np.float32).reshape(-1)[self._columns]

    def intensities(self, features: np.ndarray, neutral: np.ndarray | None = None) -> AUVector:
        """AU intensities of `features` relative to `neutral`; None: a still, read against the still prior.

        A still's own neutral is unknown, so a move only counts past the wider still onset; the slope
        stays (a soft threshold), so a still reads what video would, less what identity could explain. A
        still's AU6 is at least its AU12 (a smile's cheeks, see _AU06).
        """
        ref, onset = (self.still_neutral, self.still_onset) if neutral is None else (neutral, self.onset)
        move = self.direction * (features[self.au_feature] - ref[self.au_feature])
        out = np.clip(AU_MAX * (move - onset) / (self.full - self.onset), 0.0, AU_MAX)
        if neutral is None:
            out[_AU06] = max(out[_AU06], out[_AU12])
        return AUVector(out)

    def baseline(self, samples: np.ndarray, percentile: float) -> np.ndarray:
        """The neutral of (N, F) features: each feature's `percentile` on its resting side (nearest rank)."""
        p = percentile / 100.0
        # order statistics of one sort: a quarter of np.percentile's cost at a 10 s window
        s = np.sort(samples, axis=0)
        rows = np.rint(np.array([p, 0.5, 1.0 - p])[self.rest] * (len(s) - 1)).astype(np.intp)
        return s[rows, np.arange(s.shape[1])]

    def feature_delta(self, au: str, intensity: float) -> float:
        """Signed change of the AU's feature (IOD) that reads `intensity`: the read-out's inverse.

        Any x > 0 needs at least the onset; 0 needs no change.
        """
        k = AU_INDEX[au_key(au)]
        x = min(float(intensity), AU_MAX)
        if x <= 0:
            return 0.0
        return float(self.direction[k] * (self.onset[k] + x / AU_MAX * (self.full[k] - self.onset[k])))


def _group(spec, groups: dict, where: str) -> list[int]:
    idx = groups.get(spec) if isinstance(spec, str) else spec
    if not isinstance(idx, list) or not idx or not all(isinstance(i, int) and 0 <= i < N_LANDMARKS for i in idx):
        raise ConfigError(f"{where}: expected a group name or a list of landmark indices, got {spec!r}")
    return idx


def parse_model(data: dict, where: str = "au_features.yaml", prior: StillPrior | None = None) -> AUModel:
    """Build the model from the YAML's data (and `prior`, default the file's); malformed: a ConfigError."""
    if data.get("version") != FEATURES_VERSION:
        raise ConfigError(f"version {data.get('version')!r} is not {FEATURES_VERSION}", where)
    groups = data.get("groups", {})
    rows: dict[str, np.ndarray] = {}
    rest = []
    for name, spec in data["features"].items():
        at = f"{where}: features.{name}"
        row = np.zeros((N_LANDMARKS, 3))
        if "axis" in spec:
            if spec["axis"] not in _AXES:
                raise ConfigError(f"{at}: axis must be x, y or z")
            axis = _AXES[spec["axis"]]
            pts, ref = _group(spec.get("points"), groups, at), _group(spec.get("ref"), groups, at)
            sign = float(spec.get("sign", 1))
            np.add.at(row[:, axis], pts, sign / len(pts))
            np.add.at(row[:, axis], ref, -sign / len(ref))
        for other, w in spec.get("add", {}).items():
            if other not in rows:
                raise ConfigError(f"{at}: adds {other!r}, which is not defined above it")
            row += float(w) * rows[other]
        if spec.get("rest") not in _REST:
            raise ConfigError(f"{at}: rest must be one of {', '.join(_REST)}")
        rows[name] = row
        rest.append(_REST.index(spec["rest"]))
    names = tuple(rows)
    aus = data.get("aus", {})
    if set(aus) != set(AU_NAMES):
        raise ConfigError(f"{where}: aus must be exactly {', '.join(AU_NAMES)}")
    for au in AU_NAMES:
        spec = aus[au]
        if spec.get("feature") not in rows:
            raise ConfigError(f"{where}: aus.{au} reads unknown feature {spec.get('feature')!r}")
        onset, full = spec.get("onset"), spec.get("full")
        if not (isinstance(onset, (int, float)) and isinstance(full, (int, float)) and 0 <= onset < full):
            raise ConfigError(f"{where}: aus.{au} needs numbers 0 <= onset < full")
        if spec.get("direction", 1) not in (1, -1):
            raise ConfigError(f"{where}: aus.{au}: direction is 1 or -1")
    return AUModel(
        feature_names=names,
        matrix=np.stack([rows[n] for n in names]).astype(np.float32),
        rest=np.array(rest),
        au_feature=np.array([names.index(aus[a]["feature"]) for a in AU_NAMES]),
        direction=np.array([float(aus[a].get("direction", 1)) for a in AU_NAMES], np.float32),
        onset=np.array([aus[a]["onset"] for a in AU_NAMES], np.float32),
        full=np.array([aus[a]["full"] for a in AU_NAMES], np.float32),
        prior=prior,
    )


@lru_cache(maxsize=4)
def load_model(name: str = AUConfig.features) -> AUModel:
    """The model in configs/<name>, parsed once."""
    return parse_model(read_yaml(name), name)


def features(landmarks: np.ndarray) -> np.ndarray:
    """Raw geometric features of the default model (see `AUModel.features`)."""
    return load_model().features(landmarks)


class _History:
    """A track's recent (time, features), oldest first, trimmed to a time window."""

    def __init__(self, n_features: int):
        self.t = np.empty(256)
        self.f = np.empty((256, n_features), np.float32)
        self.start = self.end = 0

    def add(self, t: float, f: np.ndarray, window_s: float) -> None:
        self.start += int(np.searchsorted(self.t[self.start:self.end], t - window_s, side="left"))
        if self.end == len(self.t):
            n = self.end - self.start
            cap = len(self.t) * (2 if n > len(self.t) // 2 else 1)
            t_new, f_new = np.empty(cap), np.empty((cap, self.f.shape[1]), np.float32)
            t_new[:n], f_new[:n] = self.t[self.start:self.end], self.f[self.start:self.end]
            self.t, self.f, self.start, self.end = t_new, f_new, 0, n
        self.t[self.end], self.f[self.end] = t, f
        self.end += 1

    def samples(self) -> np.ndarray:
        return self.f[self.start:self.end]


@dataclass
class _Track:
    history: _History
    smoother: OneEuroFilter
    last_t: float
    calibrate_until: float | None = None
    calibration: list = field(default_factory=list)
    neutral: np.ndarray | None = None   # from calibration


class AUEstimator(StageBase):
    """faces → FaceSample.source_au: each face's AU intensities relative to its own neutral.

    static: every packet is an unrelated image (no history, no smoothing; read against the still prior
    unless `set_neutral` gave a neutral).
    """

    requires = ("faces",)
    provides = ("source_au",)

    def __init__(self, cfg: AUConfig = AUConfig(), *, static: bool = False, model: AUModel | None = None):
        self.cfg = cfg
        self.static = static
        self.model = model or load_model(cfg.features)
        self._tracks: dict[int, _Track] = {}
        self._calibrate_s = cfg.calibrate_s
        self._neutral: np.ndarray | None = None

    def reset(self) -> None:
        self._tracks.clear()

    def set_neutral(self, neutral: np.ndarray | None) -> None:
        """Use these features (e.g. `features()` of a neutral image) as every face's neutral; None undoes it."""
        self._neutral = None if neutral is None else np.asarray(neutral, np.float32).copy()

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time
        seen = {s.face.track_id for s in packet.faces}
        for tid, tr in list(self._tracks.items()):
            if tid not in seen:
                # a lost face: never smooth across the gap; forget it once its history is stale
                tr.smoother.reset()
                if t - tr.last_t > self.cfg.baseline_window_s:
                    del self._tracks[tid]
        return packet.map_faces(lambda s: s.with_(source_au=self.estimate(s.face, t)))

    def estimate(self, face: Face, t: float) -> AUVector:
        """One face's AUs at pts time `t`, updating its track's history, calibration and smoother."""
        f = self.model.features_canonical(face.canonical)
        if self.static:
            return self.model.intensities(f, self._neutral)
        tr = self._tracks.get(face.track_id)
        if tr is None or t < tr.last_t:  # new face, or time went back (a seek): start over
            tr = self._tracks[face.track_id] = _Track(_History(len(f)), OneEuroFilter(self.cfg.smoothing), t)
        tr.last_t = t
        tr.history.add(t, f, self.cfg.baseline_window_s)
        self._calibrate(tr, f, t)
        neutral = next((n for n in (self._neutral, tr.neutral) if n is not None), None)
        raw = self.model.intensities(f, self.model.baseline(tr.history.samples(), self.cfg.baseline_percentile)
                                       if neutral is None else neutral)
        return AUVector(np.clip(tr.smoother(raw.values, t), 0.0, AU_MAX))

    def _calibrate(self, tr: _Track, f: np.ndarray, t: float) -> None:
        if self._calibrate_s <= 0 or tr.neutral is not None:
            return
        if tr.calibrate_until is None:
            tr.calibrate_until = t + self._calibrate_s
        tr.calibration.append(f)
        if t >= tr.calibrate_until:
            tr.neutral = np.median(np.stack(tr.calibration), axis=0)
            tr.calibration = []

