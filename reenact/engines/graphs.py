"""Editor networks by name: `@GRAPHS.register("name")` on a class that says how to build and feed it.

A graph is the single source of an editor network: its torch module (exported to ONNX, or run by the
torch backend), its declared inputs/outputs, example feeds for export and `verify`, and optionally a
NumPy/OpenCV implementation of the same op that the `opencv` backend runs. `warp_blend` is built in;
an editor registers its own graph here from its module, so engines never import editors.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar, Mapping, Protocol

import numpy as np

from ..errors import UnsupportedInput
from ..registry import Registry, UnknownName
from .base import TensorSpec

if TYPE_CHECKING:
    import torch


class Graph(Protocol):
    name: ClassVar[str]
    version: ClassVar[int]  # bump when the math changes: exported files of older versions are refused
    inputs: ClassVar[tuple[TensorSpec, ...]]
    outputs: ClassVar[tuple[TensorSpec, ...]]
    # the same op in NumPy/OpenCV, feeds → outputs; None when there is none
    reference: ClassVar[Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]] | None]

    def module(self) -> "torch.nn.Module":
        """Positional forward(*inputs in declared order) returning the outputs (a tensor or a tuple)."""
        ...

    def example(self, batch: int, size: int) -> dict[str, np.ndarray]:
        """Deterministic, realistic feeds (a real face crop) for export and verify."""
        ...


GRAPHS: Registry[Graph] = Registry("graph")

def graph(name: str) -> Graph:
    """The registered graph `name` (editors' graphs exist once their module is imported)."""
    try:
        return GRAPHS.get(name)()
    except UnknownName as e:
        raise UnsupportedInput(str(e)) from None


def graph_names() -> list[str]:
    return GRAPHS.names()


def variant_stem(name: str, precision: str = "fp32", batch: int | None = None) -> str:
    """File stem of one exported form: warp_blend, warp_blend.fp16, warp_blend.b8 (static batch)."""
    return name + (f".{precision}" if precision != "fp32" else "") + (f".b{batch}" if batch else "")
