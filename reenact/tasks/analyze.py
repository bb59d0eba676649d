"""`reenact analyze`: the AU time series of an image, a video or a webcam.

    from reenact import analyze
    recs = analyze.analyze("talking.mp4")           # list of AURecord, one per frame and face
    df = analyze.to_dataframe(recs)                   # OpenFace-style columns, see COLUMNS
    analyze.write_csv(recs, "au.csv"); analyze.plot(recs, "au.png")

source → tracker → AU estimator, the same stages and settings the editing pipeline uses.
"""
from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..stages.au import AUEstimator, load_model
from ..config import Config, load_config
from ..errors import NoFace
from ..files import write_atomic
from ..io import load_image, open_source
from ..pipeline.stage import Pipeline
from ..stages.tracker import FaceTracker
from ..pipeline.types import AU_MAX, AU_NAMES, AUVector, FaceSample, Frame, Packet, largest

AU_COLUMNS = tuple(f"{n}_r" for n in AU_NAMES)
COLUMNS = ("frame", "timestamp", "face_id", "confidence", "pose_yaw", "pose_pitch", "pose_roll") + AU_COLUMNS


@dataclass(frozen=True)
class AURecord:
    """One face in one frame: what a CSV row holds."""

    frame: int
    timestamp: float     # seconds, from the frame's pts
    face_id: int         # the tracker's track id
    confidence: float
    pose_yaw: float
    pose_pitch: float
    pose_roll: float
    au: AUVector

    @classmethod
    def of(cls, frame: Frame, sample: FaceSample) -> "AURecord":
        f = sample.face
        return cls(frame.index, frame.time, f.track_id, f.confidence, f.pose.yaw, f.pose.pitch, f.pose.roll,
                   sample.source_au)

    def row(self) -> dict:
        out = {c: getattr(self, c) for c in COLUMNS[:7]}
        out.update(zip(AU_COLUMNS, map(float, self.au.values)))
        return out


def neutral_features(image: str | os.PathLike, cfg: Config | None = None) -> np.ndarray:
    """AU features of the largest face in a neutral image, for `AUEstimator.set_neutral`."""
    cfg = cfg or load_config()
    tracker = FaceTracker(cfg.tracker, static=True)
    try:
        faces = tracker.process(Packet(Frame(load_image(image), 0))).faces
    finally:
        tracker.close()
    if not faces:
        raise NoFace("no face in the neutral image", os.fspath(image))
    face = largest(faces, lambda s: s.face.size).face
    return load_model(cfg.au.features).features_canonical(face.canonical)


def packets(src: str | os.PathLike, *, cfg: Config | None = None, neutral: str | os.PathLike | None = None,
            max_frames: int | None = None, progress: bool = False) -> Iterator[Packet]:
    """Packets with faces and `source_au` for each frame of `src` (a file, folder or 'webcam[:N]').

    A still image is read against the still prior (or `neutral`); video frames against each
    face's own running neutral, unless `neutral` (an image of the same person at rest) is given.
    """
    cfg = cfg or load_config()
    with open_source(src, live_cfg=cfg.live) as source:
        static = source.kind == "image"
        estimator = AUEstimator(cfg.au, static=static)
        if neutral is not None:
            estimator.set_neutral(neutral_features(neutral, cfg))
        total = source.frame_count if max_frames is None else min(max_frames, source.frame_count or max_frames)
        with Pipeline([FaceTracker(cfg.tracker, static=static), estimator]) as pipe, \
                tqdm(itertools.islice(source, max_frames), total=total, unit="frame", desc="analyze",
                     disable=not progress, dynamic_ncols=True) as frames:
            for frame in frames:
                yield pipe.process(Packet(frame))


def records(stream: Iterable[Packet]) -> Iterator[AURecord]:
    for p in stream:
        yield from (AURecord.of(p.frame, s) for s in p.faces)


def analyze(src: str | os.PathLike, *, cfg: Config | None = None, neutral: str | os.PathLike | None = None,
            max_frames: int | None = None, progress: bool = False) -> list[AURecord]:
    """Every face in every frame of `src` with its AUs. Raises NoFace when no frame has one."""
    out = list(records(packets(src, cfg=cfg, neutral=neutral, max_frames=max_frames, progress=progress)))
    if not out:
        raise NoFace("no face found", os.fspath(src))
    return out


def to_dataframe(recs: Iterable[AURecord]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in recs], columns=list(COLUMNS))


def write_csv(recs: Iterable[AURecord], path: str | os.PathLike) -> None:
    write_atomic(Path(path), to_dataframe(recs).to_csv(index=False, float_format="%.4f").encode())


def plot(recs: Iterable[AURecord], path: str | os.PathLike, title: str = "") -> None:
    """One row per AU, intensity over time, a line per face; written with Agg, no display needed."""
    from matplotlib.figure import Figure

    df = to_dataframe(recs)
    fig = Figure(figsize=(10, 0.75 * len(AU_NAMES) + 1), layout="constrained")
    axes = fig.subplots(len(AU_NAMES), 1, sharex=True)
    marker = "o" if df["frame"].nunique() < 2 else None
    for ax, name, col in zip(axes, AU_NAMES, AU_COLUMNS):
        for face_id, g in df.groupby("face_id"):
            ax.plot(g["timestamp"], g[col], marker=marker, lw=1, label=f"face {face_id}")
        ax.set_ylim(-0.1, AU_MAX + 0.1)
        ax.set_yticks([0, AU_MAX])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time (s)")
    if df["face_id"].nunique() > 1:
        axes[0].legend(loc="upper right", fontsize="small", ncol=4)
    fig.suptitle(title or "AU intensity (FACS 0–5)")
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    write_atomic(Path(path), png.getvalue())
