"""The one task of a batch: edit one input with one edit, write the output, and label it.

A `Worker` lives in each pool process or Ray actor. It builds a pipeline the first time it meets an
editor/config and reuses it for every later item (the target is swapped between items, the stages'
state reset), reads its inputs itself from a path (shared storage on a cluster), and writes the
output and the row's record file straight into the output folder, each atomically. The driver only
sends `Task`s (paths and edit specs) and collects rows.

Resuming: an item's content hash covers the input's bytes, the edit (and a reference's bytes), the
editor and the resolved config, and the seed. A record whose hash matches, with status ok and its
output present, is returned as is; anything else (a changed input, config or edit, a failed row, a
deleted output) is done again.

Labels (one row per output; columns in `label_columns`):
  target_AUxx_r   the AU intensities the target stage asked the editor for (named AUs at the edit's
                  values, the others as the face had them), FACS 0–5
  source_AUxx_r   the estimator's reading of the input face
  AUxx_r          the estimator's reading of the output face (OpenFace-style names, as `reenact analyze`)
  judge_*         what an optional judge callable returns (see `load_judge`)
  identity_distance  dlib descriptor distance input → output (blank without `reenact[eval]`)
  background_psnr    PSNR outside every input face's compositor support (inf: bit-exact)
A still is read against the still prior, as the pipeline reads it. A video's readings are the
means over its frames with a face, each frame read the same way as a still; its target is the mean of
`Target.resolve` on those readings; identity and judge are measured on its middle frame (the first
with a face when the container gives no frame count).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import AU_NAMES, AUVector, Config, Frame, Packet, ReenactError
from ..errors import BackendUnavailable, ConfigError, CorruptMedia, InputNotFound, NoFace
from ..pipeline.types import largest
from .edits import Edit
from .inputs import Input

STATUS_OK, STATUS_FAILED = "ok", "failed"
RECORDS_DIR = ".batch/rows"
TARGET_COLUMNS = tuple(f"target_{n}_r" for n in AU_NAMES)
SOURCE_COLUMNS = tuple(f"source_{n}_r" for n in AU_NAMES)
AU_COLUMNS = tuple(f"{n}_r" for n in AU_NAMES)
HEAD_COLUMNS = ("output", "source", "edit", "editor", "strength", "mode")
TAIL_COLUMNS = ("identity_distance", "background_psnr", "status", "error", "hash")
AUTO_JUDGE = "reenact.judge:batch_judge"
# pipelines a worker keeps (one per editor/config); a spec with more closes the oldest
MAX_PIPELINES = 4

# what a judge is: the output image (RGB uint8) and its face's landmarks (478×3 image pixels, None
# when the face was lost) → class name → probability; each key k becomes the column judge_k
Judge = Callable[[np.ndarray, "np.ndarray | None"], Mapping[str, float]]


def label_columns(extra: tuple[str, ...] = (), judge: tuple[str, ...] = ()) -> list[str]:
    """labels.csv's columns: manifest columns after the edit's, judge columns before the metrics."""
    return [*HEAD_COLUMNS, *extra, *TARGET_COLUMNS, *SOURCE_COLUMNS, *AU_COLUMNS,
            *(f"judge_{k}" for k in judge), *TAIL_COLUMNS]


@dataclass(frozen=True)
class Context:
    """What every worker of a run shares; sent once per worker, never per item."""

    outdir: str
    cfg: Config
    seed: int = 0
    judge: str | Judge | None = "auto"


@dataclass(frozen=True)
class Task:
    input: Input
    edit: Edit      # editor and strength filled in (edits.with_defaults)
    output: str     # relative to the output folder, posix


@dataclass(frozen=True)
class Result:
    row: dict
    skipped: bool
    pid: int
    started: float   # time.time() on the worker
    finished: float
    cpu: float = 0.0  # CPU seconds the worker process spent on it, all its threads


def item_config(cfg: Config, edit: Edit) -> Config:
    from .. import api

    return api.with_edit(cfg, editor=edit.editor, target=edit.target, ref=edit.ref, mode=edit.explicit_mode,
                         strength=edit.strength)


def content_hash(input_sha256: str, task: Task, cfg: Config, seed: int) -> str:
    """sha256 of what decides an output: input bytes, edit (with a reference's bytes), editor, config, seed."""
    doc = {"input": input_sha256, "edit": dataclasses.asdict(task.edit),
           "config": dataclasses.asdict(item_config(cfg, task.edit)), "seed": seed,
           "format": Path(task.output).suffix.lower()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def record_path(outdir: str | os.PathLike, output: str) -> Path:
    return Path(outdir) / RECORDS_DIR / f"{output}.json"


def read_record(outdir: str | os.PathLike, output: str) -> dict | None:
    try:
        return json.loads(record_path(outdir, output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def load_judge(spec: str | Judge | None) -> Judge | None:
    """None: no judge. A callable: used as is. 'auto': the package's expression judge (reenact.judge).
    'module:factory': factory() once per worker; one that cannot be loaded is a one-line error."""
    if spec is None or callable(spec):
        return spec
    mod_name, _, attr = (AUTO_JUDGE if spec == "auto" else spec).partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr or "batch_judge", None)
    except ImportError as e:
        raise BackendUnavailable(f"judge {spec!r} cannot be imported ({e})") from None
    if factory is None:
        raise ConfigError(f"judge {spec!r}: {mod_name} has no {attr!r}")
    return factory()


def _one_line(e: BaseException) -> str:
    text = str(e) if isinstance(e, ReenactError) else f"{type(e).__name__}: {e}"
    return (text.strip().splitlines() or [type(e).__name__])[0]


def _au_cells(columns: tuple[str, ...], au) -> dict[str, float]:
    values = au.values if au is not None else np.full(len(AU_NAMES), np.nan)
    return {c: float(v) for c, v in zip(columns, values)}


def _mean_au(aus: list[AUVector]) -> AUVector | None:
    return AUVector(np.mean([a.values for a in aus], axis=0).astype(np.float32)) if aus else None


def _needs_au(cfg: Config) -> bool:
    from ..editors import EDITORS

    return EDITORS.get(cfg.edit.editor.partition(":")[0]).needs_au


def _largest(faces):
    return largest(faces, lambda s: s.face.size)


class Worker:
    """Runs tasks in one process; holds its pipelines, readers and models between them."""

    def __init__(self, ctx: Context):
        import cv2

        # one worker per core: OpenCV's own thread pool would make workers fight over the cores
        cv2.setNumThreads(1)
        self.ctx = ctx
        self._pipelines: dict = {}
        self._targets: dict = {}
        self._readers: dict = {}
        self._identity: Any = None
        self._judge: Any = None
        self._loaded = False

    # -- per-worker state, built on first use ------------------------------------------------------

    def _models(self) -> None:
        if not self._loaded:
            from ..tasks.evaluate import IdentityModel

            self._identity = IdentityModel.load()
            self._judge = load_judge(self.ctx.judge)
            self._loaded = True

    def _pipeline(self, cfg: Config):
        """One pipeline per editor and config (the target aside), built once and reused."""
        from .. import api

        editor = cfg.edit.editor
        key = (editor, api.with_edit(cfg, target="", ref=""))
        if key not in self._pipelines:
            if len(self._pipelines) >= MAX_PIPELINES:
                self._pipelines.pop(next(iter(self._pipelines))).close()
            self._pipelines[key] = api.build_pipeline(key[1], editor=editor, static=True)
        return self._pipelines[key]

    def _target(self, edit: Edit, cfg: Config):
        from ..io import load_image
        from ..stages.targets import parse_target, reference_target

        key = (edit.target, edit.ref, edit.mode)
        if key not in self._targets:
            self._targets[key] = (reference_target(load_image(edit.ref), edit.ref, cfg) if edit.ref
                                  else parse_target(edit.target, edit.explicit_mode))
        return self._targets[key]

    def _reader(self, role: str):
        """Tracker → AU estimator read against the still prior, as a still is read.

        role: "still"; "video_in" and "video_out" track the input and output frames of a video side by side.
        """
        if role not in self._readers:
            from ..pipeline.stage import Pipeline
            from ..stages.au import AUEstimator
            from ..stages.tracker import FaceTracker

            cfg = self.ctx.cfg
            self._readers[role] = Pipeline([FaceTracker(cfg.tracker, static=role == "still"),
                                            AUEstimator(cfg.au, static=True)])
        self._readers[role].reset()
        return self._readers[role]

    def close(self) -> None:
        for p in [*self._pipelines.values(), *self._readers.values()]:
            p.close()
        self._pipelines.clear()
        self._readers.clear()

    # -- the task ------------------------------------------------------------------------------------

    def run(self, task: Task) -> Result:
        started, cpu0 = time.time(), time.process_time()
        row: dict[str, Any] = {
            "output": task.output, "source": task.input.path, "edit": task.edit.name,
            "editor": task.edit.editor, "strength": task.edit.strength, "mode": task.edit.mode,
            **dict(task.input.extra)}
        dst = Path(self.ctx.outdir) / task.output
        try:
            try:
                data = Path(task.input.path).read_bytes()
            except FileNotFoundError:
                raise InputNotFound("no such file", task.input.path) from None
            except OSError as e:
                raise CorruptMedia(f"cannot read ({e.strerror})", task.input.path) from None
            row["hash"] = content_hash(hashlib.sha256(data).hexdigest(), task, self.ctx.cfg, self.ctx.seed)
            old = read_record(self.ctx.outdir, task.output)
            if old and old.get("hash") == row["hash"] and old.get("status") == STATUS_OK and dst.exists():
                # done before; the manifest's columns are today's
                return Result({**old, **row}, True, os.getpid(), started, time.time(), time.process_time() - cpu0)
            seed = int(row["hash"][:8], 16)
            np.random.seed(seed)
            random.seed(seed)
            self._models()
            cfg = item_config(self.ctx.cfg, task.edit)
            dst.parent.mkdir(parents=True, exist_ok=True)
            measure = self._video if task.input.kind == "video" else self._still
            row.update(measure(task, cfg, dst))
            row.update(status=STATUS_OK, error="")
        except Exception as e:  # noqa: BLE001 — a bad item is a failed row; the batch goes on
            dst.unlink(missing_ok=True)  # what an earlier run left there no longer matches
            row.update(status=STATUS_FAILED, error=_one_line(e))
            row.setdefault("hash", "")
        from ..files import write_atomic

        write_atomic(record_path(self.ctx.outdir, task.output), json.dumps(row, default=float).encode())
        return Result(row, False, os.getpid(), started, time.time(), time.process_time() - cpu0)

    def _still(self, task: Task, cfg: Config, dst: Path) -> dict:
        from ..tasks.evaluate.metrics import face_masks, psnr
        from ..io.image_file import ImageSink
        from ..io import load_image
        from ..stages.targets import TargetStage

        image = load_image(task.input.path)
        pipe = self._pipeline(cfg)
        pipe.reset()
        for st in pipe.stages:
            if isinstance(st, TargetStage):
                st.set_target(self._target(task.edit, cfg))
        frame = Frame(image, 0, 0)
        packet = pipe.process(Packet(frame))
        if not packet.faces:
            raise NoFace("no face found", task.input.path)
        out = packet.output if packet.output is not None else image
        with ImageSink(dst) as sink:
            sink.write(frame, out)
        face = _largest(packet.faces)
        back = _largest(self._reader("still").process(Packet(Frame(out, 0, 0))).faces)
        may_change = np.zeros(image.shape[:2], bool)
        for s in packet.faces:
            may_change |= face_masks(s.face.landmarks, image.shape, cfg.compositor)[1]
        cells = {**_au_cells(TARGET_COLUMNS, face.target_au), **_au_cells(SOURCE_COLUMNS, face.source_au),
                 **_au_cells(AU_COLUMNS, back.source_au if back else None),
                 "background_psnr": psnr(image, out, ~may_change) if (~may_change).any() else math.nan}
        cells.update(self._judged(image, face.face.landmarks, out, back.face.landmarks if back else None))
        return cells

    def _video(self, task: Task, cfg: Config, dst: Path) -> dict:
        from .. import api
        from ..tasks.evaluate.metrics import face_masks, psnr_of_mse
        from ..io import open_source

        api.process_video(task.input.path, dst, cfg=cfg, progress=False)
        target = self._target(task.edit, cfg) if _needs_au(cfg) else None
        src_aus, out_aus, targets = [], [], []
        sse = count = 0.0
        shown = None  # (input, its landmarks, output, its landmarks) of the middle frame with a face
        read_in, read_out = self._reader("video_in"), self._reader("video_out")
        with open_source(task.input.path) as a, open_source(str(dst)) as b:
            middle = (a.frame_count or 0) // 2
            for i, (fa, fb) in enumerate(zip(a, b)):
                fin = _largest(read_in.process(Packet(fa)).faces)
                fout = _largest(read_out.process(Packet(fb)).faces)
                if fin is None:
                    continue
                src_aus.append(fin.source_au)
                if target is not None:
                    targets.append(target.resolve(fin.source_au, task.edit.strength))
                bg = ~face_masks(fin.face.landmarks, fa.image.shape, cfg.compositor)[1]
                d = fa.image[bg].astype(np.float64) - fb.image[bg].astype(np.float64)
                sse, count = sse + float((d * d).sum()), count + d.size
                if fout is not None:
                    out_aus.append(fout.source_au)
                if shown is None or i <= middle:
                    shown = (fa.image, fin.face.landmarks, fb.image, fout.face.landmarks if fout else None)
        if not src_aus:
            raise NoFace("no face found in any frame", task.input.path)
        cells = {**_au_cells(TARGET_COLUMNS, _mean_au(targets)), **_au_cells(SOURCE_COLUMNS, _mean_au(src_aus)),
                 **_au_cells(AU_COLUMNS, _mean_au(out_aus)),
                 "background_psnr": psnr_of_mse(sse / count) if count else math.nan}
        cells.update(self._judged(*shown))
        return cells

    def _judged(self, image: np.ndarray, landmarks: np.ndarray, out: np.ndarray,
                out_landmarks: np.ndarray | None) -> dict:
        cells: dict[str, Any] = {"identity_distance": math.nan}
        if self._identity is not None and out_landmarks is not None:
            cells["identity_distance"] = self._identity.distance(image, landmarks, out, out_landmarks)
        if self._judge is not None:
            cells.update({f"judge_{k}": float(v) for k, v in self._judge(out, out_landmarks).items()})
        return cells
