"""`reenact enroll`: a person's exemplar bank, from video files or a guided live recording.

    from reenact.tasks.enroll import enroll
    result = enroll(["me.mp4"], "engines/me", holdout=0.3)
    print(result.report)

Files go through the training frame cache (`editors.neural.data.load_clip`: each video tracked,
aligned and AU-annotated once per config), so `reenact train` on the same footage does not track it
again. `holdout` keeps the last fraction of each video out and `frames` keeps only the listed frame
indices, so a held-out evaluation never sees its test frames. Live, a camera (or a file played as one)
runs through the same stages while each prompt of configs/enroll_prompts.yaml is drawn into the
preview: after a short lead-in to read it, its frames are kept at up to LIVE_FPS.

Either way the folder gets bank.npz and bank.json (editors/personal/bank.py), coverage.txt and a
`.gitignore` of `*`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..config import Config, load_config, load_presets
from ..editors.neural.data import load_clip
from ..editors.personal import BANK_META, COVERAGE_FILE, GITIGNORE
from ..editors.personal.bank import Bank, save_bank
from ..editors.personal.coverage import Coverage, coverage
from ..errors import ConfigError, NoFace, OutputNotWritable
from ..files import write_atomic
from ..pipeline.stage import Pipeline
from ..pipeline.types import Frame, Packet, au_key, largest
from ..stages.aligner import Aligner
from ..stages.au import AUEstimator
from ..stages.tracker import FaceTracker

# live: each prompt shows this long before its frames count, and keeps at most this many per second
LEAD_S = 1.0
LIVE_FPS = 10.0


@dataclass(frozen=True)
class Prompt:
    text: str = ""
    seconds: float = 3.0
    aus: str = ""        # comma-separated AUs it records, for the coverage hints


@lru_cache(maxsize=1)
def prompts() -> tuple[Prompt, ...]:
    return tuple(load_presets("enroll_prompts.yaml", Prompt).values())


def hints() -> dict[str, str]:
    """AU → the first prompt that records it."""
    out: dict[str, str] = {}
    for p in prompts():
        for name in filter(None, (a.strip() for a in p.aus.split(","))):
            out.setdefault(au_key(name), p.text)
    return out


@dataclass(frozen=True)
class Enrolment:
    directory: Path
    frames: int
    coverage: Coverage
    report: str


def ranges(frames: Sequence[int]) -> str:
    """[0, 1, 2, 5] → '0-2,5'."""
    out, run = [], []
    for f in sorted(set(frames)):
        if run and f != run[-1] + 1:
            out.append(run)
            run = []
        run.append(f)
    out += [run] if run else []
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in out)


def enroll(videos: Sequence[str | os.PathLike], out: str | os.PathLike, *, holdout: float = 0.0,
           frames: Sequence[int] | None = None, replace: bool = False, cfg: Config | None = None,
           progress: bool = True, command: str | None = None) -> Enrolment:
    """Bank the frames of `videos` before the holdout cut (and, with `frames`, only those indices)."""
    if not videos:
        raise ConfigError("give at least one --video of the person")
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {holdout}")
    _check_free(Path(out), replace)
    cfg = cfg or load_config()
    clips = [load_clip(v, cfg, progress=progress) for v in videos]
    rows = []
    for c in clips:
        r = c.split(holdout)[0]
        rows.append(r if frames is None else r[np.isin(c.frames[r], np.asarray(frames))])
    if not sum(map(len, rows)):
        raise NoFace("no frame with a face in the frames chosen", ", ".join(os.fspath(v) for v in videos))
    bank = Bank(np.concatenate([c.crops[r] for c, r in zip(clips, rows)]),
                np.concatenate([c.landmarks[r] for c, r in zip(clips, rows)]),
                np.concatenate([c.frames[r] for c, r in zip(clips, rows)]),
                np.concatenate([np.full(len(r), k) for k, r in enumerate(rows)]),
                tuple({"name": Path(c.path).name, "sha256": c.sha256, "frames": c.frame_count} for c in clips))
    return _write(Path(out), bank, {"tool": command or "reenact enroll", "holdout": holdout,
                                     "frames": "all" if frames is None else ranges(frames)})


def enroll_live(frames: Iterable[Frame], sink, out: str | os.PathLike, *, replace: bool = False,
                cfg: Config | None = None, command: str | None = None) -> Enrolment:
    """Guide the person through the prompts on `sink` (a preview) while `frames` (a camera) are banked."""
    _check_free(Path(out), replace)
    cfg = cfg or load_config()
    with sink:
        kept, seen = record(frames, sink, prompts(), cfg)
    if not kept:
        raise NoFace(f"no face in the {seen} frames recorded: face the camera, in good light")
    idx, crops, lms = zip(*kept)
    bank = Bank(np.stack(crops), np.stack(lms).astype(np.float32), np.array(idx), np.zeros(len(idx), np.int64),
                ({"name": "live", "sha256": "", "frames": seen},))
    return _write(Path(out), bank, {"tool": command or "reenact enroll", "holdout": 0.0, "frames": "live"})


def record(frames: Iterable[Frame], sink, steps: Sequence[Prompt], cfg: Config) -> tuple[list[tuple], int]:
    """Run the prompts: ([(frame index, crop, landmarks)] kept, frames seen). Stops early when the frames
    end or the person closes the preview."""
    kept: list[tuple] = []
    seen = 0
    stream = iter(frames)
    with Pipeline([FaceTracker(cfg.tracker), Aligner(cfg.aligner), AUEstimator(cfg.au)]) as pipe:
        for step, prompt in enumerate(steps):
            start = last = None
            for frame in stream:
                seen += 1
                start = frame.time if start is None else start
                t = frame.time - start
                faces = pipe.process(Packet(frame)).faces
                face = largest(faces, lambda s: s.face.size)
                if face is not None and t >= LEAD_S and (last is None or frame.time - last >= 1 / LIVE_FPS):
                    kept.append((frame.index, face.aligned.crop, face.aligned.landmarks))
                    last = frame.time
                sink.write(frame, overlay(frame.image, prompt, step, len(steps), t, face is not None))
                if sink.closed_by_user or t >= LEAD_S + prompt.seconds:
                    break
            else:
                return kept, seen
            if sink.closed_by_user:
                break
    return kept, seen


def overlay(image: np.ndarray, prompt: Prompt, step: int, steps: int, t: float, face: bool) -> np.ndarray:
    """The frame with the prompt on a dark band at the top and a progress bar (amber while reading it)."""
    out = image.copy()
    h, w = out.shape[:2]
    band = max(24, h // 9)
    out[:band] = (out[:band].astype(np.uint16) * 2 // 5).astype(np.uint8)
    scale = band / 40
    text = f"{step + 1}/{steps}  {prompt.text}" if face else f"{step + 1}/{steps}  no face: look at the camera"
    cv2.putText(out, text, (band // 4, int(band * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255) if face else (255, 80, 80), max(1, int(2 * scale)), cv2.LINE_AA)
    done = min(1.0, t / (LEAD_S + prompt.seconds))
    colour = (255, 190, 0) if t < LEAD_S else (80, 220, 80)
    cv2.rectangle(out, (0, band - 4), (int(done * (w - 1)), band - 1), colour, -1)
    return out


def _check_free(out: Path, replace: bool) -> None:
    if (out / BANK_META).exists() and not replace:
        raise ConfigError("already holds an enrolment: pass --replace to record it again (a refiner trained "
                          "on it will then refuse to run until trained again), or choose another -o", str(out))


def _write(out: Path, bank: Bank, meta: dict) -> Enrolment:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(e.strerror or str(e), str(out)) from None
    write_atomic(out / ".gitignore", GITIGNORE.encode())
    cov = coverage(bank.keys)
    report = cov.report(hints())
    save_bank(out, bank, {**meta, "coverage": {"covered": list(cov.covered), "missing": list(cov.missing)}})
    write_atomic(out / COVERAGE_FILE, report.encode())
    return Enrolment(out, len(bank), cov, report)
