"""The exemplar bank: a person's own frames, aligned and read, as `reenact enroll` stores them.

On disk (engines/NAME/): `bank.npz` holds plain arrays only (crops, landmarks, frame and clip
indices; read with allow_pickle=False) and `bank.json` its manifest: the npz's sha256, the AU names and
feature version it was read with, the source videos and which of their frames were kept. Anything
corrupt, edited or made for another AU set is refused with one line.

In memory each frame also gets what retrieval needs, derived from its landmarks alone: the pose-free
canonical mesh, its head pose, and its AUs read against the bank's own neutral (the estimator's
resting-side baseline over the whole bank), so retrieval does not depend on who read the frame first.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import InputNotFound, IntegrityError
from ...files import read_verified, sha256_bytes, write_atomic
from ...pipeline.types import AU_NAMES
from ...stages.au import FEATURES_VERSION, AUModel, load_model
from ...stages.geometry import pose_from_rotation, to_canonical
from . import BANK_FILE, BANK_FORMAT, BANK_META, GRAPH, enroll_hint

# what bank.npz must hold: name → (dtype kind, trailing shape; None: the crop side)
ARRAYS = {"crops": ("u", (None, None, 3)), "landmarks": ("f", (478, 3)), "frames": ("i", ()), "clips": ("i", ())}
# the AU estimator's baseline percentile, as configs/default.yaml sets it for video
NEUTRAL_PERCENTILE = 10.0


@dataclass(frozen=True)
class Bank:
    """N frames of one person. Arrays are row-aligned; `videos[clips[i]]` is where frame i came from."""

    crops: np.ndarray          # (N, S, S, 3) uint8 RGB, the aligner's crop
    landmarks: np.ndarray      # (N, 478, 3) float32 crop pixels
    frames: np.ndarray         # (N,) frame index in its video
    clips: np.ndarray          # (N,) index into videos
    videos: tuple[dict, ...]   # {"name", "sha256", "frames"} per source video
    canonical: np.ndarray = field(init=False)   # (N, 478, 3) pose-free meshes
    pose: np.ndarray = field(init=False)        # (N, 2) yaw, pitch in degrees
    neutral: np.ndarray = field(init=False)     # (F,) the bank's neutral features
    keys: np.ndarray = field(init=False)        # (N, 17) AUs against that neutral

    def __post_init__(self) -> None:
        model = load_model()
        fits = [to_canonical(lm) for lm in self.landmarks]
        canonical = np.stack([f[0] for f in fits])
        poses = [pose_from_rotation(f[1]) for f in fits]
        feats = np.stack([model.features_canonical(c) for c in canonical])
        neutral = model.baseline(feats, NEUTRAL_PERCENTILE)
        for name, value in (("canonical", canonical), ("pose", np.array([[p.yaw, p.pitch] for p in poses], np.float32)),
                            ("neutral", neutral), ("keys", np.stack([model.intensities(f, neutral).values for f in feats]))):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> int:
        return int(self.crops.shape[1])

    def read(self, landmarks: np.ndarray, model: AUModel | None = None) -> np.ndarray:
        """(17,) AUs of any face of this person, against the bank's neutral: the scale its keys are on."""
        model = model or load_model()
        return model.intensities(model.features(landmarks), self.neutral).values


def save_bank(directory: Path, bank: Bank, meta: dict) -> str:
    """Write bank.npz, then bank.json naming its sha256 (so a half-written bank is never listed);
    `meta` adds provenance (tool command, frame selection, coverage). Returns the sha256."""
    buf = io.BytesIO()
    np.savez_compressed(buf, crops=bank.crops, landmarks=bank.landmarks.astype(np.float32),
                        frames=bank.frames.astype(np.int32), clips=bank.clips.astype(np.int32))
    data = buf.getvalue()
    write_atomic(directory / BANK_FILE, data)
    sha = sha256_bytes(data)
    sidecar = {"format": BANK_FORMAT, "graph": GRAPH, "file": BANK_FILE, "sha256": sha, "count": len(bank),
               "size": bank.size, "au_names": list(AU_NAMES), "features_version": FEATURES_VERSION,
               "videos": list(bank.videos), **meta}
    write_atomic(directory / BANK_META, (json.dumps(sidecar, indent=2) + "\n").encode())
    return sha


def read_meta(directory: Path) -> dict:
    """bank.json, checked to describe a bank this code can use."""
    path = directory / BANK_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFound(f"no enrolment here; {enroll_hint(directory)}", str(directory)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IntegrityError(f"not valid JSON ({e}); {enroll_hint(directory)}", str(path)) from None
    if not isinstance(meta, dict) or meta.get("format") != BANK_FORMAT or meta.get("graph") != GRAPH:
        raise IntegrityError(f"not a {GRAPH} bank of format {BANK_FORMAT}; {enroll_hint(directory)}", str(path))
    if meta.get("au_names") != list(AU_NAMES) or meta.get("features_version") != FEATURES_VERSION:
        raise IntegrityError("read with another AU set or feature version than this code's; "
                             f"{enroll_hint(directory)}", str(path))
    return meta


def load_bank(directory: Path) -> tuple[Bank, dict]:
    """(bank, its manifest), verified: manifest valid, hash intact, every array of the right shape."""
    meta = read_meta(directory)
    where = str(directory / BANK_FILE)
    data = read_verified(directory / BANK_FILE, str(meta.get("sha256", "")), enroll_hint(directory))
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise IntegrityError(f"not a readable bank ({e}); {enroll_hint(directory)}", where) from None
    n = len(arrays["frames"])
    side = arrays["crops"].shape[1] if arrays["crops"].ndim == 4 else -1
    for name, (kind, tail) in ARRAYS.items():
        a = arrays[name]
        want = (n, *(side if d is None else d for d in tail))
        if a.dtype.kind != kind or a.shape != want:
            raise IntegrityError(f"{name} is {a.dtype}{list(a.shape)}, expected {kind}{list(want)}", where)
    videos = tuple(meta.get("videos", ()))
    if n == 0 or meta.get("count") != n or arrays["clips"].min() < 0 or arrays["clips"].max() >= len(videos):
        raise IntegrityError(f"holds {n} frames of {len(videos)} videos, which does not match its manifest", where)
    bank = Bank(arrays["crops"], arrays["landmarks"].astype(np.float32), arrays["frames"].astype(np.int64),
                arrays["clips"].astype(np.int64), videos)
    return bank, meta
