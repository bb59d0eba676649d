"""opencv: a graph's NumPy/OpenCV implementation behind the same Engine interface.

On CPUs where it beats ONNX Runtime (measured, see loader.cpu_rates) `auto` picks it.
"""
from __future__ import annotations

import functools
from typing import Mapping

import cv2
import numpy as np

from ..errors import UnsupportedInput
from .base import BACKENDS, Engine, Options, Probe, pick_device
from .graphs import graph
from .manifest import ModelRef


class ReferenceEngine(Engine):
    def __init__(self, graph_name: str):
        g = graph(graph_name)
        if g.reference is None:
            raise UnsupportedInput(f"graph {graph_name} has no NumPy/OpenCV implementation; "
                                   "use the onnxruntime backend")
        super().__init__(g.name, g.inputs, g.outputs, "opencv", "cpu", "fp32")
        self._fn = g.reference

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._fn(feeds)


@BACKENDS.register("opencv")
class OpenCVBackend:
    @classmethod
    @functools.cache
    def probe(cls) -> Probe:
        return Probe(("cpu",), f"OpenCV {cv2.__version__}, for graphs with a NumPy/OpenCV implementation")

    @classmethod
    def open(cls, model: ModelRef, options: Options) -> Engine:
        pick_device(cls, options.device)
        if model.precision != "fp32":
            raise UnsupportedInput("the opencv backend computes in fp32 only")
        return ReferenceEngine(model.graph)
