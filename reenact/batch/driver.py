"""Plan a batch, run it on an executor with a progress bar, and write labels.csv and run.json.

Planning checks everything that would otherwise fail on every item (edit specs, strengths, editor
names, references, the config, the output folder, output-name collisions) before a worker starts, and
raises a one-line ReenactError. An input that cannot be read or edited is not an error here: it is a
failed row, and the batch goes on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from .. import Config, load_config
from ..errors import ConfigError, InputNotFound, OutputNotWritable
from .edits import Edit, with_defaults
from .executors import make_executor
from .inputs import collect
from .spec import BatchSpec, as_spec
from .worker import STATUS_FAILED, STATUS_OK, Context, Result, Task, label_columns

LABELS = "labels.csv"
RUN_JSON = "run.json"
VIDEO_FORMAT = ".mp4"
VERSIONED = ("reenact", "numpy", "opencv-contrib-python", "mediapipe", "av", "onnxruntime", "pandas", "ray", "dlib-bin")


@dataclass
class Plan:
    cfg: Config
    outdir: Path
    tasks: list[Task]
    extra_columns: tuple[str, ...]


@dataclass
class Outcome:
    """What a run did: the labels of every planned output, and this run's results with their timing."""

    labels: pd.DataFrame
    results: list[Result]
    seconds: float
    executor: str
    workers: int
    outdir: Path

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.results)

    @property
    def processed(self) -> int:
        return len(self.results) - self.skipped


def _check_edit(edit: Edit, cfg: Config) -> Edit:
    from ..editors import EDITORS
    from ..stages.targets import check_strength, parse_target

    EDITORS.get(edit.editor.partition(":")[0])
    check_strength(edit.strength)
    if edit.ref:
        try:
            data = Path(edit.ref).read_bytes()
        except OSError:
            raise InputNotFound("reference image not found", edit.ref) from None
        return dataclasses.replace(edit, ref=str(Path(edit.ref).resolve()),
                                   ref_sha256=hashlib.sha256(data).hexdigest())
    parse_target(edit.target, edit.explicit_mode)
    return edit


def plan(spec: BatchSpec) -> Plan:
    if not spec.output:
        raise ConfigError("no output folder given: -o OUTDIR")
    fmt = spec.image_format if spec.image_format.startswith(".") else f".{spec.image_format}"
    import cv2

    if not cv2.haveImageWriter(f"x{fmt}"):
        raise ConfigError(f"cannot write {fmt} images; use .png (lossless) or .jpg")
    cfg = load_config(spec.config, dict(spec.overrides))
    edits = [_check_edit(with_defaults(e, spec.editor, spec.strength), cfg) for e in spec.expand_edits()]
    outdir = Path(spec.output).resolve()
    inputs = collect(spec.inputs, exclude=outdir)
    tasks, seen = [], {}
    for inp in inputs:
        for edit in edits:
            out = f"{inp.name}__{edit.slug(spec.editor, spec.strength)}{VIDEO_FORMAT if inp.kind == 'video' else fmt}"
            if out in seen:
                raise ConfigError(f"two outputs would both be named {out!r} (from {seen[out]} and {inp.path}, "
                                  f"{edit.name}); rename one input or run them separately")
            seen[out] = f"{inp.path}, {edit.name}"
            tasks.append(Task(inp, edit, out))
    extra = tuple(dict.fromkeys(k for inp in inputs for k, _ in inp.extra))
    clash = set(extra) & set(label_columns())
    if clash:
        raise ConfigError(f"manifest columns {sorted(clash)} clash with labels.csv's own columns; rename them")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(f"cannot make the output folder ({e.strerror})", str(outdir)) from None
    return Plan(cfg, outdir, tasks, extra)


def labels_frame(rows: list[dict], extra: tuple[str, ...]) -> pd.DataFrame:
    judge = sorted({k[len("judge_"):] for r in rows for k in r if k.startswith("judge_")})
    return pd.DataFrame(rows, columns=label_columns(extra, tuple(judge)))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _write(path: Path, data: bytes) -> None:
    from ..files import write_atomic

    try:
        write_atomic(path, data)
    except OSError as e:
        raise OutputNotWritable(f"cannot write ({e.strerror})", str(path)) from None


def execute(spec: BatchSpec | dict | str, *, num_cpus: int | None = None,
            object_store_memory: int | None = None) -> Outcome:
    """Run a batch; `num_cpus` and `object_store_memory` size a Ray instance this call starts."""
    spec = as_spec(spec)
    p = plan(spec)
    ctx = Context(outdir=str(p.outdir), cfg=p.cfg, seed=spec.seed, judge=spec.judge)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    done: dict[str, Result] = {}
    interrupted = False
    executor = make_executor(ctx, workers=spec.workers, ray=spec.ray, address=spec.ray_address,
                             num_cpus=num_cpus, object_store_memory=object_store_memory)
    counts = {STATUS_OK: 0, STATUS_FAILED: 0, "skipped": 0}
    try:
        with tqdm(total=len(p.tasks), unit="item", desc="batch", disable=not spec.progress,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            for res in executor.map(p.tasks):
                done[res.row["output"]] = res
                counts[res.row["status"]] += 1
                counts["skipped"] += res.skipped
                bar.set_postfix(counts, refresh=False)
                bar.update()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        executor.close()
        seconds = time.perf_counter() - t0
        rows = [done[t.output].row for t in p.tasks if t.output in done]
        labels = labels_frame(rows, p.extra_columns)
        _write(p.outdir / LABELS, labels.to_csv(index=False, float_format="%.4f").encode())
        processed = sum(not r.skipped for r in done.values())
        run_info: dict[str, Any] = {
            "versions": _versions(), "seed": spec.seed, "config": dataclasses.asdict(p.cfg),
            "spec": {"inputs": list(spec.inputs), "edits": [t.name for t in _unique_edits(p.tasks)],
                     "editor": spec.editor, "strength": spec.strength, "mode": spec.mode,
                     "config": spec.config, "overrides": dict(spec.overrides),
                     "judge": spec.judge if isinstance(spec.judge, (str, type(None))) else repr(spec.judge),
                     "image_format": spec.image_format},
            "executor": executor.name, "workers": executor.workers,
            "started": started.isoformat(timespec="seconds"), "seconds": round(seconds, 3),
            "outputs": len(p.tasks), "ok": counts[STATUS_OK], "failed": counts[STATUS_FAILED],
            "skipped": counts["skipped"], "items_per_s": round(processed / seconds, 3) if seconds else None,
            "interrupted": interrupted, "argv": sys.argv,
        }
        _write(p.outdir / RUN_JSON, json.dumps(run_info, indent=2, default=str).encode())
    return Outcome(labels, list(done.values()), seconds, executor.name, executor.workers, p.outdir)


def _unique_edits(tasks: list[Task]) -> list[Edit]:
    return list(dict.fromkeys(t.edit for t in tasks))


def run(spec: BatchSpec | dict | str) -> pd.DataFrame:
    """Run a batch (a BatchSpec, a mapping of its fields, or a YAML spec file) and return labels.csv
    as a DataFrame, one row per output in input × edit order."""
    return execute(spec).labels
