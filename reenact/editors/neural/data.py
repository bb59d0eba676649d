"""Training data: the user's footage tracked, aligned and AU-annotated by our own pipeline, cached to disk.

source → FaceTracker → Aligner → AUEstimator, exactly as `reenact video` runs them, so the model learns
on the crops and AU readings it will be given. Each video is tracked once: its largest face per frame
(crop uint8, landmarks, AUs, frame index) goes to <cache>/<video sha256>-<config hash>.npz, and later
runs or enrolments read that (`reenact enroll` banks these rows).

Training pairs (source, target) are frames of the same person, taken from the enrolment; each gets the
base editor's answer (the source asked the target's AUs) once, before training, and the refiner learns
to turn that answer into the target.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from ...stages.aligner import Aligner
from ...stages.au import FEATURES_VERSION, AUEstimator
from ...stages.compositor import hull_mask
from ...config import CompositorConfig, Config
from ...errors import NoFace, UnsupportedInput
from ...files import user_cache_dir, write_atomic
from ..base import EditRequest
from ...io import open_source
from ...pipeline.stage import Pipeline
from ...stages.geometry import similarity_fit
from ...stages.landmarks import RIGID
from ...stages.tracker import FaceTracker
from ...pipeline.types import AU_NAMES, AUVector, Edit, Packet, largest

log = logging.getLogger("reenact.neural")

# bump when what is cached changes
CACHE_FORMAT = 1
# loss weight of pixels outside the face hull (inside: 1)
BACKGROUND_WEIGHT = 0.1


def cache_dir() -> Path:
    """The tracked-frame cache: frames/ in the user cache ($REENACT_CACHE_DIR, else ~/.cache/reenact)."""
    return user_cache_dir() / "frames"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Clip:
    """One video's tracked face, one row per frame with a face."""

    path: str
    sha256: str
    frame_count: int          # frames decoded, with or without a face
    frames: np.ndarray        # (N,) frame index in the video
    crops: np.ndarray         # (N, S, S, 3) uint8 RGB, the aligner's crop
    landmarks: np.ndarray     # (N, 478, 3) float32 crop pixels
    aus: np.ndarray           # (N, 17) float32, FACS 0–5, in AU_NAMES order

    def __len__(self) -> int:
        return len(self.frames)

    def split(self, holdout: float) -> tuple[np.ndarray, np.ndarray]:
        """Row indices before and after the time split: the last `holdout` fraction of the video is held out."""
        cut = (1.0 - holdout) * self.frame_count
        rows = np.arange(len(self))
        return rows[self.frames < cut], rows[self.frames >= cut]


def _config_key(cfg: Config) -> str:
    what = {"format": CACHE_FORMAT, "features": FEATURES_VERSION, "au_names": AU_NAMES,
            "tracker": asdict(cfg.tracker), "aligner": asdict(cfg.aligner), "au": asdict(cfg.au)}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def load_clip(path: str | os.PathLike, cfg: Config, *, progress: bool = True, max_frames: int | None = None,
              cache: Path | None = None) -> Clip:
    """The video's tracked face, from the cache when this video was tracked with this config before.

    Raises NoFace when no frame has a face.
    """
    path = os.fspath(path)
    sha = file_sha256(path)
    cache = cache or cache_dir()
    file = cache / f"{sha[:32]}-{_config_key(cfg)}{f'-{max_frames}' if max_frames else ''}.npz"
    if file.exists():
        try:
            with np.load(file) as z:
                return Clip(path, sha, int(z["frame_count"]), z["frames"], z["crops"], z["landmarks"], z["aus"])
        except (OSError, ValueError, KeyError) as e:  # a broken cache file is rebuilt, never trusted
            log.warning("%s: unreadable cache (%s); tracking again", file, e)
    clip = _track(path, sha, cfg, progress, max_frames)
    buf = io.BytesIO()
    np.savez(buf, frame_count=clip.frame_count, frames=clip.frames, crops=clip.crops,
             landmarks=clip.landmarks, aus=clip.aus)
    write_atomic(file, buf.getvalue())
    return clip


def _track(path: str, sha: str, cfg: Config, progress: bool, max_frames: int | None) -> Clip:
    rows: list[tuple] = []
    n = 0
    with open_source(path) as source, \
            Pipeline([FaceTracker(cfg.tracker), Aligner(cfg.aligner), AUEstimator(cfg.au)]) as pipe:
        if source.kind == "image":
            raise UnsupportedInput("training needs a video (or a folder of frames), not a single image", path)
        total = source.frame_count if max_frames is None else min(max_frames, source.frame_count or max_frames)
        for frame in tqdm(itertools.islice(source, max_frames), total=total, unit="frame",
                          desc=f"track {Path(path).name}", disable=not progress, dynamic_ncols=True):
            n += 1
            faces = pipe.process(Packet(frame)).faces
            if faces:
                s = largest(faces, lambda s: s.face.size)
                rows.append((frame.index, s.aligned.crop, s.aligned.landmarks, s.source_au.values))
    if not rows:
        raise NoFace("no face found in any frame: nothing to train on", path)
    idx, crops, lms, aus = zip(*rows)
    return Clip(path, sha, n, np.array(idx), np.stack(crops), np.stack(lms).astype(np.float32),
                np.stack(aus).astype(np.float32))


def resized(crops: np.ndarray, size: int) -> np.ndarray:
    """(N, s, s, 3) → (N, S, S, 3) with INTER_AREA, as the editor downsizes a larger crop."""
    if crops.shape[1] == size:
        return crops
    return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])


def _nchw(crops: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


@dataclass(frozen=True)
class Batch:
    """Float32 NCHW in 0..1."""

    base: np.ndarray        # the base editor's answer: source moved towards the target's AUs
    crop: np.ndarray        # the source
    target: np.ndarray      # the real frame with those AUs
    delta: np.ndarray       # (N, 17) target − source AUs
    weight: np.ndarray      # (N, 1, S, S) per-pixel loss weight: the target's face, then a little
                            # background, which the AU change cannot explain and the compositor drops


@dataclass(frozen=True)
class Pairs:
    """Training pairs of one person's frames, with the base editor's answers computed once."""

    crops: np.ndarray       # (N, S, S, 3) uint8, the frames at the model's side (the sources)
    bases: np.ndarray       # (P, S, S, 3) uint8, the base editor's answers
    targets: np.ndarray     # (P, S, S, 3) uint8, the target frames registered onto their source's head
    weight: np.ndarray      # (P, 1, S, S) float32, each target's loss weight
    source: np.ndarray      # (P,) frame rows
    delta: np.ndarray       # (P, 17) float32

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        k = rng.choice(len(self.bases), size=n)
        return Batch(_nchw(self.bases[k]), _nchw(self.crops[self.source[k]]), _nchw(self.targets[k]), self.delta[k],
                     self.weight[k])


Answer = Callable[[EditRequest, np.ndarray], Edit]


def registered(crop: np.ndarray, landmarks: np.ndarray, onto: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`crop` (and its landmarks) moved onto the head of a face with landmarks `onto`, by the similarity
    of their rigid points. The aligner also fits the mouth corners, so a smile shifts its whole crop by a
    few pixels; a refiner trained on unregistered targets learns to repaint that shift (doubled eyelids
    on the source's face) instead of the expression."""
    idx = list(RIGID)
    s, r, t = similarity_fit(landmarks[idx, :2], onto[idx, :2])
    m = np.hstack([s * r, t[:, None]]).astype(np.float32)
    size = crop.shape[0]
    moved = cv2.warpAffine(crop, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return moved, (landmarks[:, :2] @ (s * r).T + t).astype(np.float32)


def make_pairs(crops: np.ndarray, landmarks: np.ndarray, aus: np.ndarray, near: np.ndarray, answer: Answer,
               count: int, size: int, rng: np.random.Generator, progress: bool = True) -> Pairs:
    """`count` random (source, target) pairs of distinct frames, each with the base editor's answer for the
    source asked the target's AUs, and the target registered onto the source's head. `near` (N, N) bool
    marks the frames that may not answer a target (itself and its neighbours in time): at run time the
    base never holds the frame it is asked for. `answer(request, excluded)` is the base editor; crops and
    landmarks are at their stored side."""
    n = len(crops)
    if n < 2:
        raise NoFace("fewer than 2 frames with a face: nothing to train on")
    pick = np.array([rng.choice(n, size=2, replace=False) for _ in range(count)])
    bases, targets, weights = [], [], []
    k = size / crops.shape[1]
    for s, t in tqdm(pick, desc="base edits", unit="pair", disable=not progress, dynamic_ncols=True):
        req = EditRequest(crops[s], landmarks[s], AUVector(aus[s]), AUVector(aus[t]))
        bases.append(answer(req, near[t]).crop)
        target, lm = registered(crops[t], landmarks[t], landmarks[s])
        targets.append(target)
        # the aligner puts pixel centres at integers, so scaling is about −0.5
        weights.append(hull_mask((lm + 0.5) * k - 0.5, size, CompositorConfig()))
    weight = BACKGROUND_WEIGHT + (1 - BACKGROUND_WEIGHT) * np.stack(weights)
    return Pairs(resized(crops, size), resized(np.stack(bases), size), resized(np.stack(targets), size),
                 weight[:, None].astype(np.float32), pick[:, 0], (aus[pick[:, 1]] - aus[pick[:, 0]]).astype(np.float32))
