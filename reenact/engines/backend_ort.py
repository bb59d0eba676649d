"""ONNX Runtime: the default everywhere (CPU), and on NVIDIA GPUs with onnxruntime-gpu's CUDA provider."""
from __future__ import annotations

import functools
from typing import Mapping

import numpy as np

from . import gpu
from .base import BACKENDS, Engine, Options, Probe, has_module, log, pick_device
from .manifest import ModelRef


class OrtEngine(Engine):
    def __init__(self, model: ModelRef, device: str):
        import onnxruntime as ort

        data = model.onnx_bytes()
        so = ort.SessionOptions()
        so.log_severity_level = 3
        providers = (["CUDAExecutionProvider"] if device == "cuda" else []) + ["CPUExecutionProvider"]
        self._session = ort.InferenceSession(data, so, providers=providers)
        active = "cuda" if self._session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        if active != device:
            log.warning("onnxruntime could not start its CUDA provider; %s runs on the CPU", model.stem)
        entry = model.entry
        super().__init__(model.graph, entry.inputs, entry.outputs, "onnxruntime", active, entry.precision)
        self._names = [s.name for s in entry.outputs]

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self._names, self._session.run(self._names, dict(feeds))))


@BACKENDS.register("onnxruntime")
class OnnxRuntimeBackend:
    @classmethod
    @functools.cache
    def probe(cls) -> Probe:
        if not has_module("onnxruntime"):
            return Probe((), "not installed (pip install onnxruntime, or onnxruntime-gpu for CUDA)")
        import onnxruntime as ort

        info, why = gpu.probe_gpu()
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return Probe(("cpu",), f"onnxruntime {ort.__version__} has no CUDA provider "
                                   "(pip install onnxruntime-gpu)")
        if info is None:
            return Probe(("cpu",), f"onnxruntime {ort.__version__}, CPU only: {why}")
        return Probe(("cuda", "cpu"), f"onnxruntime {ort.__version__}, CUDA provider on {info}")

    @classmethod
    def open(cls, model: ModelRef, options: Options) -> Engine:
        return OrtEngine(model, pick_device(cls, options.device))
