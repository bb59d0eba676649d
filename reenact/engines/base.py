"""The one Engine interface, the InferenceBackend protocol and the BACKENDS registry.

Every editor network runs through an Engine: `run(dict of arrays) -> dict of arrays`, with its inputs
declared as TensorSpecs. Backends (onnxruntime, torch, tensorrt, opencv) are plug-ins registered with
`@BACKENDS.register("name")`; none of them imports its library until it is probed or opened.
"""
from __future__ import annotations

import abc
import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Mapping, Protocol

import numpy as np

from ..config import AlignerConfig
from ..errors import BackendUnavailable, UnsupportedInput
from ..registry import Registry

if TYPE_CHECKING:
    from .manifest import ModelRef

log = logging.getLogger("reenact.engines")

PRECISIONS = ("fp32", "fp16")


def has_module(name: str) -> bool:
    """Importable, without importing it (a stand-in already in sys.modules counts)."""
    return name in sys.modules or importlib.util.find_spec(name) is not None


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output; a str dim is dynamic and names its symbol ("batch", "height")."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, d: Mapping) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), d["dtype"])

    def __str__(self) -> str:
        return f"{self.name}[{','.join(map(str, self.shape))}] {self.dtype}"


@dataclass(frozen=True)
class Profile:
    """The shapes a TensorRT plan accepts: batch min/opt/max and the square crop side."""

    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 8
    size: int = AlignerConfig.size

    @classmethod
    def static(cls, batch: int, size: int = AlignerConfig.size) -> "Profile":
        return cls(batch, batch, batch, size)

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch or self.size < 1:
            raise ValueError(f"bad profile: need 1 <= min <= opt <= max batch and size >= 1, got {self}")

    @property
    def tag(self) -> str:
        b = (f"{self.min_batch}" if self.min_batch == self.max_batch
             else f"{self.min_batch}-{self.max_batch}")
        return f"b{b}x{self.size}"

    def shapes(self, dims: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) for an input whose dynamic dims are -1: axis 0 is batch, the others the side."""
        def fill(batch: int) -> tuple[int, ...]:
            return tuple(d if d >= 0 else (batch if i == 0 else self.size) for i, d in enumerate(dims))
        return fill(self.min_batch), fill(self.opt_batch), fill(self.max_batch)


@dataclass(frozen=True)
class Options:
    """How to open an engine; each backend reads the fields that concern it."""

    device: str | None = None        # "cpu" | "cuda"; None: the backend's best device here
    precision: str = "fp32"          # "fp32" | "fp16" (fp16: fp16 inside, fp32 arrays in and out)
    profile: Profile = field(default_factory=Profile)  # tensorrt only
    torch_mode: str | None = None    # "eager" | "cudagraph" | "compile"; None: cudagraph on CUDA


@dataclass(frozen=True)
class Probe:
    """What a backend can do on this machine: usable devices, and one line saying what it found or lacks."""

    devices: tuple[str, ...]
    detail: str


class Engine(abc.ABC):
    """A loaded graph; each backend implements `_run`. `run` checks the feeds against `inputs` (names, dtype, rank, fixed and shared dims)."""

    def __init__(self, graph: str, inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                 backend: str, device: str, precision: str):
        self.graph = graph
        self.inputs = inputs
        self.outputs = outputs
        self.backend = backend
        self.device = device
        self.precision = precision
        self.mode = ""  # how the backend runs it, e.g. torch "cudagraph", tensorrt the plan's profile
        self.reason = "requested"  # load() replaces it with why `auto` chose this backend

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check(feeds)
        return self._run(feeds)

    @abc.abstractmethod
    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The backend's inference on feeds already checked by `run`."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Engine {self.graph} on {self.backend}/{self.device} {self.precision}>"

    def _check(self, feeds: Mapping[str, np.ndarray]) -> None:
        want = {s.name for s in self.inputs}
        if set(feeds) != want:
            raise UnsupportedInput(f"{self.graph} takes inputs {sorted(want)}, got {sorted(feeds)}")
        bound: dict[str, int] = {}
        for spec in self.inputs:
            a = feeds[spec.name]
            if a.dtype != np.dtype(spec.dtype):
                raise UnsupportedInput(f"{self.graph}.{spec.name}: expected {spec.dtype}, got {a.dtype}")
            if a.ndim != len(spec.shape):
                raise UnsupportedInput(f"{self.graph}.{spec.name}: expected shape {spec}, got {a.shape}")
            for want_dim, got in zip(spec.shape, a.shape):
                expected = bound.setdefault(want_dim, got) if isinstance(want_dim, str) else want_dim
                if expected != got:
                    raise UnsupportedInput(f"{self.graph}.{spec.name}: shape {a.shape} does not fit {spec}"
                                           + (f" ({want_dim}={expected} in another input)"
                                              if isinstance(want_dim, str) else ""))


class InferenceBackend(Protocol):
    name: ClassVar[str]

    @classmethod
    def probe(cls) -> Probe:
        """Cheap and cached; imports the backend's library only when a GPU makes it worth asking."""
        ...

    @classmethod
    def open(cls, model: "ModelRef", options: Options) -> Engine:
        """Raises BackendUnavailable naming what to install when the library is missing."""
        ...


BACKENDS: Registry[InferenceBackend] = Registry("inference backend")


def pick_device(backend: type[InferenceBackend], requested: str | None) -> str:
    """The requested device, or the backend's best one; BackendUnavailable (saying what is missing) if none."""
    p = backend.probe()
    if not p.devices:
        raise BackendUnavailable(f"{backend.name} backend unavailable: {p.detail}")
    device = requested or p.devices[0]
    if device not in p.devices:
        raise BackendUnavailable(f"{backend.name} backend cannot use {device} here: {p.detail}")
    return device
