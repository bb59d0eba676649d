"""torch: the graphs' own modules, eager, CUDA-graph replayed or torch.compile'd, on CPU or CUDA.

The GPU path that can be verified on this project's machines (torch with CUDA is installed there).
No ONNX involved: the module comes straight from the graph registry.
"""
from __future__ import annotations

import functools
import importlib.metadata
from typing import Mapping

import numpy as np

from ..errors import UnsupportedInput
from . import gpu
from .base import BACKENDS, Engine, Options, Probe, has_module, pick_device
from .graphs import graph
from .manifest import ModelRef

MODES = ("eager", "cudagraph", "compile")


class TorchEngine(Engine):
    def __init__(self, graph_name: str, device: str, precision: str, mode: str):
        import torch

        from .torch_ops import with_precision

        g = graph(graph_name)
        super().__init__(g.name, g.inputs, g.outputs, "torch", device, precision)
        self.mode = mode
        self._torch = torch
        self._module = with_precision(g.module(), precision).eval().to(device)
        if mode == "compile":
            # reduce-overhead = inductor kernels replayed as CUDA graphs
            self._module = torch.compile(self._module, mode="reduce-overhead" if device == "cuda" else "default")
        self._captured: dict[tuple, tuple] = {}  # input shapes → (CUDAGraph, static inputs, static outputs)

    def _call(self, args: tuple) -> tuple:
        out = self._module(*args)
        return (out,) if isinstance(out, self._torch.Tensor) else tuple(out)

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            if self.mode == "cudagraph":
                outs = self._replay(feeds)
            else:
                outs = self._call(tuple(torch.from_numpy(feeds[s.name]).to(self.device) for s in self.inputs))
            return {s.name: o.cpu().numpy() for s, o in zip(self.outputs, outs)}

    def _replay(self, feeds: Mapping[str, np.ndarray]) -> tuple:
        key = tuple(feeds[s.name].shape for s in self.inputs)
        if key not in self._captured:
            self._captured[key] = self._capture(feeds)
        cuda_graph, static_in, static_out = self._captured[key]
        for t, s in zip(static_in, self.inputs):
            t.copy_(self._torch.from_numpy(feeds[s.name]))
        cuda_graph.replay()
        return static_out

    def _capture(self, feeds: Mapping[str, np.ndarray]) -> tuple:
        torch = self._torch
        static_in = tuple(torch.from_numpy(feeds[s.name]).to(self.device) for s in self.inputs)
        # warm up on a side stream first, as torch.cuda.graph requires
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                self._call(static_in)
        torch.cuda.current_stream().wait_stream(side)
        cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(cuda_graph):
            static_out = self._call(static_in)
        return cuda_graph, static_in, static_out


@BACKENDS.register("torch")
class TorchBackend:
    @classmethod
    @functools.cache
    def probe(cls) -> Probe:
        if not has_module("torch"):
            return Probe((), "not installed (pip install 'reenact[torch]')")
        version = importlib.metadata.version("torch")
        info, why = gpu.probe_gpu()
        if info is None:  # no GPU: say so without paying for `import torch`
            return Probe(("cpu",), f"torch {version}, CPU only: {why}")
        import torch

        if not torch.cuda.is_available():
            return Probe(("cpu",), f"torch {version}, CPU only: this torch build has no CUDA")
        return Probe(("cuda", "cpu"), f"torch {version}, CUDA on {info}")

    @classmethod
    def open(cls, model: ModelRef, options: Options) -> Engine:
        device = pick_device(cls, options.device)
        mode = options.torch_mode or ("cudagraph" if device == "cuda" else "eager")
        if mode not in MODES or (mode == "cudagraph" and device != "cuda"):
            raise UnsupportedInput(f"torch mode {mode!r} on {device}: use one of {', '.join(MODES)} "
                                   "(cudagraph needs cuda)")
        return TorchEngine(model.graph, device, model.precision, mode)
