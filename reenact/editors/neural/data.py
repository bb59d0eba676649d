"""Training data: the user's footage tracked, aligned and AU-annotated by our own pipeline, cached to disk.

source → FaceTracker → Aligner → AUEstimator, exactly as `reenact video` runs them, so the model learns
on the crops and AU readings it will be given. Each video is tracked once: its largest face per frame
(crop uint8, landmarks, AUs, frame index) goes to <cache>/<video sha256>-<config hash>.npz, and later
runs or epochs read that. Pairs (source, target) come from the same video, so they show the same person.
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

import cv2
import numpy as np
from tqdm import tqdm

from ...stages.aligner import Aligner
from ...stages.au import FEATURES_VERSION, AUEstimator
from ...stages.compositor import hull_mask
from ...config import CompositorConfig, Config
from ...errors import NoFace, UnsupportedInput
from ...files import user_cache_dir, write_atomic
from ..rig.basis import Basis, load_basis
from ..rig.deform import deform, dense_flow
from ..rig.solve import coefficients
from ...io import open_source
from ...pipeline.stage import Pipeline
from ...stages.tracker import FaceTracker
from ...pipeline.types import AU_NAMES, AUVector, Packet, largest

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

    def resized(self, size: int) -> "Clip":
        """Crops at `size` (INTER_AREA, as the editor downsizes a larger crop) and landmarks scaled to match."""
        if size == self.crops.shape[1]:
            return self
        k = size / self.crops.shape[1]
        crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in self.crops])
        # the aligner puts pixel centres at integers, so scaling is about −0.5
        lm = self.landmarks.copy()
        lm[..., :2] = (lm[..., :2] + 0.5) * k - 0.5
        lm[..., 2] *= k
        return Clip(self.path, self.sha256, self.frame_count, self.frames, crops, lm, self.aus)

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


def rig_flow(landmarks: np.ndarray, source: np.ndarray, target: np.ndarray, basis: Basis, size: int) -> np.ndarray:
    """(2, S, S) the rig editor's flow for this AU change: the motion branch's prior."""
    right, left = coefficients(AUVector(source), AUVector(target), basis)
    if not (right.any() or left.any()):
        return np.zeros((2, size, size), np.float32)
    return dense_flow(deform(landmarks, right, left, basis, size), size)[0]


@dataclass(frozen=True)
class Batch:
    """Float32 NCHW in 0..1; target_next is the frame after target (temporal consistency)."""

    source: np.ndarray
    target: np.ndarray
    target_next: np.ndarray
    au_source: np.ndarray
    au_target: np.ndarray
    au_next: np.ndarray
    weight: np.ndarray            # (N, 1, S, S) per-pixel loss weight of target: the face, then a little
    weight_next: np.ndarray       # background, which the AU change cannot explain and the compositor drops
    rig_flow: np.ndarray | None   # (N, 2, S, S) for source → target, None without the rig prior


def _nchw(crops: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)


class PairSampler:
    """Random (source, target, target + 1 frame) triples of the same video, from the rows given per clip."""

    def __init__(self, clips: list[Clip], rows: list[np.ndarray], *, rig_prior: bool = True):
        self.clips = clips
        self.sources = rows
        # targets need their next frame in the same row set
        self.targets = [r[np.isin(c.frames[r] + 1, c.frames[r])] for c, r in zip(clips, rows)]
        self.next_row = [{int(c.frames[i]): i for i in r} for c, r in zip(clips, rows)]
        counts = np.array([len(t) for t in self.targets], np.float64)
        if counts.sum() == 0:
            raise NoFace("no two consecutive frames with a face: nothing to train on",
                         ", ".join(c.path for c in clips))
        self.clip_p = counts / counts.sum()
        self.basis = load_basis() if rig_prior else None
        size = clips[0].crops.shape[1]
        self.face_weight = [(BACKGROUND_WEIGHT + (1 - BACKGROUND_WEIGHT) * np.stack(
            [hull_mask(lm, size, CompositorConfig()) for lm in c.landmarks]))[:, None] for c in clips]

    def sample(self, n: int, rng: np.random.Generator) -> Batch:
        which = rng.choice(len(self.clips), size=n, p=self.clip_p)
        src, tgt, nxt, flows = [], [], [], []
        for k in which:
            c = self.clips[k]
            s, t = rng.choice(self.sources[k]), rng.choice(self.targets[k])
            src.append(s), tgt.append(t), nxt.append(self.next_row[k][int(c.frames[t]) + 1])
            if self.basis is not None:
                flows.append(rig_flow(c.landmarks[s], c.aus[s], c.aus[t], self.basis, c.crops.shape[1]))

        def gather(per_clip: list[np.ndarray], rows: list[int]) -> np.ndarray:
            return np.stack([per_clip[k][i] for k, i in zip(which, rows)])

        crops, aus = [c.crops for c in self.clips], [c.aus for c in self.clips]
        return Batch(_nchw(gather(crops, src)), _nchw(gather(crops, tgt)), _nchw(gather(crops, nxt)),
                     gather(aus, src), gather(aus, tgt), gather(aus, nxt),
                     gather(self.face_weight, tgt), gather(self.face_weight, nxt),
                     np.stack(flows) if flows else None)
