"""`reenact engines verify`: the same real-crop feeds through every backend on every device it can use;
max abs error against ONNX Runtime on the CPU (fp32) and crops/s per batch size."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..config import AlignerConfig
from ..errors import ReenactError
from .base import BACKENDS, Profile
from .graphs import graph
from .loader import load, measure, save_rates
from .manifest import resolve


@dataclass(frozen=True)
class Result:
    backend: str
    device: str = "-"
    precision: str = "-"
    max_abs_err: float | None = None
    crops_per_s: dict[int, float] = field(default_factory=dict)
    note: str = ""  # why it did not run, or how it ran (e.g. torch mode)


def verify(name: str, *, engines_dir: str | os.PathLike | None = None, size: int = AlignerConfig.size,
           batches: tuple[int, ...] = (1, 8), seconds: float = 1.0) -> list[Result]:
    """One Result per backend × device × precision (fp16 on CUDA only), and one per unusable backend.
    Also records the CPU onnxruntime/opencv batch-1 rates that `auto` chooses by."""
    feeds = graph(name).example(max(batches), size)
    ref = load(name, "onnxruntime", device="cpu", engines_dir=engines_dir).run(feeds)
    profile = Profile(1, min(batches), max(batches), size)
    results = []
    for backend in BACKENDS.names():
        probe = BACKENDS.get(backend).probe()
        if not probe.devices:
            results.append(Result(backend, note=probe.detail))
        for device in probe.devices:
            for precision in ("fp32", "fp16") if device == "cuda" else ("fp32",):
                try:
                    engine = load(name, backend, device=device, precision=precision, profile=profile,
                                  engines_dir=engines_dir)
                except ReenactError as e:
                    results.append(Result(backend, device, precision, note=str(e)))
                    continue
                out = engine.run(feeds)
                err = max(float(np.abs(out[k] - ref[k]).max()) for k in ref)
                rates = {b: measure(engine, {k: v[:b] for k, v in feeds.items()}, seconds) for b in batches}
                results.append(Result(backend, engine.device, precision, err, rates, engine.mode))
                engine.close()
    cpu = {r.backend: r.crops_per_s[1] for r in results
           if r.device == "cpu" and r.backend in ("onnxruntime", "opencv") and 1 in r.crops_per_s}
    if size == AlignerConfig.size and len(cpu) == 2:
        save_rates(resolve(name, "fp32", engines_dir), cpu)
    return results
