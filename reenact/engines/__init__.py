"""Inference engines: one interface over ONNX Runtime, torch, TensorRT and NumPy/OpenCV.

    from reenact.engines import load
    engine = load("warp_blend")                 # auto: TensorRT → ORT-CUDA → torch-CUDA → ORT-CPU
    out = engine.run({"crop": ..., "flow": ..., "mask": ..., "fill": ...})["out"]
    engine.backend, engine.device, engine.reason  # what auto picked, and why

Importing this package never imports torch, tensorrt or onnxruntime; each backend imports its library
when it is probed or opened. Export (torch → ONNX) lives in reenact.engines.export, `verify` in
reenact.engines.verify; `reenact engines --help` drives both.
"""
from .base import BACKENDS, PRECISIONS, Engine, InferenceBackend, Options, Probe, Profile, TensorSpec
from .graphs import GRAPHS, Graph, graph, graph_names, variant_stem
from . import warp_blend  # noqa: F401  (registers the "warp_blend" graph)
from . import backend_ort, backend_torch, backend_trt, backend_opencv  # noqa: F401  (register backends)
from .manifest import Manifest, ModelRef, engines_dir, resolve
from .loader import AUTO_ORDER, Choice, choose, load, measure

__all__ = [
    "BACKENDS", "PRECISIONS", "Engine", "InferenceBackend", "Options", "Probe", "Profile", "TensorSpec",
    "GRAPHS", "Graph", "graph", "graph_names", "variant_stem", "Manifest", "ModelRef", "engines_dir",
    "resolve", "AUTO_ORDER", "Choice", "choose", "load", "measure",
]
