"""load(): the one front door to every backend, and `auto`, which says what it picked and why."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from dataclasses import astuple, dataclass
from typing import Mapping

import numpy as np

from ..config import AlignerConfig
from ..errors import BackendUnavailable, UnsupportedInput
from .base import BACKENDS, PRECISIONS, Engine, Options, Probe, Profile, log
from .graphs import graph, graph_names
from ..files import write_atomic
from .manifest import ModelRef, machine_dir, resolve

# tried in this order; the first backend that can use the device wins
AUTO_ORDER = (("tensorrt", "cuda"), ("onnxruntime", "cuda"), ("torch", "cuda"), ("onnxruntime", "cpu"))
MEASURED = "measured.json"  # per machine, in manifest.machine_dir()


@dataclass(frozen=True)
class Choice:
    backend: str
    device: str
    reason: str


def load(name_or_path: str | os.PathLike, backend: str = "auto", *, device: str | None = None,
         precision: str = "fp32", profile: Profile | None = None, torch_mode: str | None = None,
         engines_dir: str | os.PathLike | None = None) -> Engine:
    """A ready Engine for a graph name ('warp_blend') or an exported .onnx path.

    backend: 'auto' or one of BACKENDS ('onnxruntime', 'torch', 'tensorrt', 'opencv').
    device: 'cpu' or 'cuda'; None lets the backend (or auto) pick. profile: TensorRT shapes.
    """
    if precision not in PRECISIONS:
        raise UnsupportedInput(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if backend != "auto" and backend not in BACKENDS:
        raise UnsupportedInput(f"unknown backend {backend!r}; known: auto, {', '.join(BACKENDS.names())}")
    model = resolve(name_or_path, precision, engines_dir)
    if model.precision != precision:
        raise UnsupportedInput(f"{model.onnx_path} is {model.precision}, not {precision}")
    reason = None
    if backend == "auto":
        backend, device, reason = astuple(choose(model, device))
    engine = BACKENDS.get(backend).open(model, Options(device, precision, profile or Profile(), torch_mode))
    if reason:
        engine.reason = reason
        log.info("%s runs on %s/%s: %s", model.stem, engine.backend, engine.device, reason)
    return engine


def choose(model: ModelRef, device: str | None = None) -> Choice:
    """auto: TensorRT → ONNX Runtime CUDA → torch CUDA → ONNX Runtime CPU, the first usable one; on the
    CPU, the graph's NumPy/OpenCV implementation instead when it measured faster here."""
    skipped: dict[str, list[str]] = {}
    picked: Probe | None = None
    for backend, dev in AUTO_ORDER:
        if device in (None, dev):
            probe = BACKENDS.get(backend).probe()
            if dev in probe.devices:
                picked = probe
                break
            skipped.setdefault(probe.detail, []).append(f"{backend}-{dev}")
    lines = [f"no {', '.join(names)}: {detail}" for detail, names in skipped.items()]
    if picked is None:
        raise BackendUnavailable("no inference backend can run here: " + "; ".join(lines))
    lines = lines or [picked.detail]
    if dev == "cpu" and model.precision == "fp32" and model.graph in graph_names() \
            and graph(model.graph).reference is not None:
        rates = cpu_rates(model)
        backend = max(rates, key=rates.get)
        lines.append("measured at batch 1 on this CPU: " + ", ".join(f"{b} {r:.0f}" for b, r in rates.items()) + " crops/s")
    return Choice(backend, dev, "; ".join(lines))


def measure(engine: Engine, feeds: Mapping[str, np.ndarray], seconds: float = 1.0, min_runs: int = 3) -> float:
    """Crops per second, after two warm-up runs (allocation, CUDA-graph capture, autotuning)."""
    for _ in range(2):
        engine.run(feeds)
    n, t0 = 0, time.perf_counter()
    while n < min_runs or time.perf_counter() - t0 < seconds:
        engine.run(feeds)
        n += 1
    return n * len(next(iter(feeds.values()))) / (time.perf_counter() - t0)


def _host_key(model: ModelRef) -> dict:
    """What the CPU comparison depends on; a record with another key is measured again."""
    return {"host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "onnx_sha256": model.entry.sha256 if model.entry else None,
            "onnxruntime": importlib.metadata.version("onnxruntime"), "size": AlignerConfig.size, "batch": 1}


def _records() -> dict:
    try:
        return json.loads((machine_dir() / MEASURED).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def save_rates(model: ModelRef, rates: dict[str, float]) -> None:
    records = _records()
    records[model.stem] = {"key": _host_key(model), "crops_per_s": {k: round(v, 1) for k, v in rates.items()}}
    path = machine_dir() / MEASURED
    try:
        write_atomic(path, (json.dumps(records, indent=2) + "\n").encode())
    except OSError as e:  # an unwritable cache still works; it just measures again next time
        log.info("could not record CPU measurements in %s: %s", path, e)


def cpu_rates(model: ModelRef, seconds: float = 0.3) -> dict[str, float]:
    """Batch-1 crops/s of onnxruntime and opencv on this CPU at the aligner's crop size: recorded by
    `reenact engines verify`, or measured once at first use (about a second) and recorded."""
    rec = _records().get(model.stem)
    if rec and rec["key"] == _host_key(model):
        return rec["crops_per_s"]
    feeds = graph(model.graph).example(1, AlignerConfig.size)
    # rounded as recorded, so this first choice and every later one read the same numbers
    rates = {b: round(measure(BACKENDS.get(b).open(model, Options(device="cpu")), feeds, seconds), 1)
             for b in ("onnxruntime", "opencv")}
    save_rates(model, rates)
    return rates
