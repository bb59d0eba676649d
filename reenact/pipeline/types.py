"""Data handed between pipeline stages.

source → tracker → aligner → AU estimator → target → editor → compositor → sink. Smoothing lives in the
stages whose output it steadies: landmarks in the tracker, AUs in the estimator, the edit in the target.
Every hand-off is one of these frozen dataclasses; no string-keyed dicts travel between stages.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np

F = TypeVar("F")

# OpenFace's intensity set: DISFA's 12 plus what the emotion prototypes need.
AU_NAMES: tuple[str, ...] = (
    "AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12",
    "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45",
)
AU_INDEX: dict[str, int] = {n: i for i, n in enumerate(AU_NAMES)}
AU_MAX = 5.0


def au_key(name: str) -> str:
    """Normalise 'AU6', 'au06' or '6' to the canonical 'AU06'."""
    s = name.strip().upper()
    s = s[2:] if s.startswith("AU") else s
    if not s.isdigit():
        raise ValueError(f"not an action unit: {name!r}")
    key = f"AU{int(s):02d}"
    if key not in AU_INDEX:
        raise ValueError(f"unsupported action unit {name!r}; known: {', '.join(AU_NAMES)}")
    return key


@dataclass(frozen=True)
class Frame:
    """One RGB uint8 image with its own time (pts × time_base seconds), as PyAV frames carry it."""

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction = Fraction(1, 1000)

    @property
    def time(self) -> float:
        return float((self.pts if self.pts is not None else self.index) * self.time_base)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return w, h


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees: yaw (left/right), pitch (up/down), roll (in-plane)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


def face_size(landmarks: np.ndarray) -> float:
    """A face's size in pixels: the longer side of its landmarks' box."""
    return float(np.ptp(landmarks[:, :2], 0).max())


def largest(faces: Sequence[F], size: Callable[[F], float] = face_size) -> F | None:
    """The biggest of `faces` (landmark arrays by default; pass `size` for other items), None for none."""
    return max(faces, key=size) if len(faces) else None


@dataclass(frozen=True)
class Face:
    """A tracked face: 478 MediaPipe landmarks in image pixels (z in the same pixel scale).

    `canonical` is the same mesh with pose, position and scale removed (geometry.to_canonical); the
    tracker fits it once for the pose, and the AU estimator measures on it.
    """

    track_id: int
    landmarks: np.ndarray  # (478, 3) float32
    canonical: np.ndarray  # (478, 3) float32, unit inter-ocular distance
    confidence: float
    pose: HeadPose

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xy = self.landmarks[:, :2]
        x0, y0 = xy.min(0)
        x1, y1 = xy.max(0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def size(self) -> float:
        return face_size(self.landmarks)


@dataclass(frozen=True)
class AlignedFace:
    """A face resampled into the canonical square crop, with the transforms both ways."""

    crop: np.ndarray          # (S, S, 3) uint8 RGB
    landmarks: np.ndarray     # (478, 3) float32 in crop pixels
    to_crop: np.ndarray       # (2, 3) image → crop similarity
    to_image: np.ndarray      # (2, 3) crop → image similarity

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])


@dataclass(frozen=True)
class AUVector:
    """Intensities in AU_NAMES order on the FACS 0–5 scale.

    Deltas (target − source) are AUVectors too and may be negative.
    """

    values: np.ndarray = field(default_factory=lambda: np.zeros(len(AU_NAMES), np.float32))

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float32).reshape(-1)
        if v.shape != (len(AU_NAMES),):
            raise ValueError(f"AUVector needs {len(AU_NAMES)} values, got {v.shape[0]}")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)

    @classmethod
    def zeros(cls) -> "AUVector":
        return cls()

    @classmethod
    def from_dict(cls, values: Mapping[str, float]) -> "AUVector":
        v = np.zeros(len(AU_NAMES), np.float32)
        for k, x in values.items():
            v[AU_INDEX[au_key(k)]] = float(x)
        return cls(v)

    def to_dict(self) -> dict[str, float]:
        return {n: float(x) for n, x in zip(AU_NAMES, self.values)}

    def __getitem__(self, name: str) -> float:
        return float(self.values[AU_INDEX[au_key(name)]])

    def __sub__(self, other: "AUVector") -> "AUVector":
        return AUVector(self.values - other.values)

    def __add__(self, other: "AUVector") -> "AUVector":
        return AUVector(self.values + other.values)

    def scaled(self, k: float) -> "AUVector":
        return AUVector(self.values * np.float32(k))

    def clipped(self) -> "AUVector":
        return AUVector(np.clip(self.values, 0.0, AU_MAX))

    def is_zero(self, tol: float = 1e-6) -> bool:
        return bool(np.all(np.abs(self.values) <= tol))


@dataclass(frozen=True)
class Warp:
    """How a warping editor made its crop:
    crop_out = (remap(crop, p + flow)·(1 − fill_mask) + fill·fill_mask)·shade.

    The compositor replays it at the frame's own resolution, so pixels that only move keep their detail
    instead of passing through the crop's resampling twice.
    """

    flow: np.ndarray        # (2, S, S) float32, backward: output pixel p samples the crop at p + flow
    fill: np.ndarray        # (S, S, 3) float32 RGB, meaningful where fill_mask > 0
    fill_mask: np.ndarray   # (S, S) float32 in [0, 1]
    shade: np.ndarray | None = None   # (S, S, 3) float32 RGB ratio image (creases, folds); 1 or None = no change
    # (S, S) float32 in [0, 1]: how much of the fill is painted (the mouth's teeth), not resampled from the photo: its
    # edges are steepened on a face larger than the crop (the photo's own would show the crop's pixels)
    painted: np.ndarray | None = None


@dataclass(frozen=True)
class Edit:
    """An editor's answer: the edited crop and a soft mask (S, S) float32 in [0, 1] of what changed."""

    crop: np.ndarray
    mask: np.ndarray
    meta: Mapping[str, str] = field(default_factory=dict)
    warp: Warp | None = None


@dataclass(frozen=True)
class FaceSample:
    """One face as it moves down the pipeline; each stage fills in its own field."""

    face: Face
    aligned: AlignedFace | None = None
    source_au: AUVector | None = None
    target_au: AUVector | None = None
    target_side: str = "both"   # both | right | left: which half of the face the target moves
    # a whole-face target's strength (0-1): how far what it leaves at 0 goes to rest, even where the reading
    # saw nothing (a smile on a turned face); 0 for explicit targets, whose unnamed AUs follow the face
    target_rest: float = 0.0
    # (S, S) float32 in [0, 1] over the aligned crop: 1 where something in front of the face hides it
    occluded: np.ndarray | None = None
    edit: Edit | None = None

    def with_(self, **changes) -> "FaceSample":
        return replace(self, **changes)


@dataclass(frozen=True)
class Packet:
    """One frame and everything known about it so far. `output` is the composited image."""

    frame: Frame
    faces: tuple[FaceSample, ...] = ()
    output: np.ndarray | None = None

    def with_(self, **changes) -> "Packet":
        return replace(self, **changes)

    def map_faces(self, fn) -> "Packet":
        return replace(self, faces=tuple(fn(s) for s in self.faces))
