"""tensorrt: TensorRT 10/11 plans built from the exported ONNX, cached per machine, run with execute_async_v3.

NOT EXECUTED IN THIS PROJECT'S CI: TensorRT's libraries cannot be installed on its machines. What does
not need libnvinfer (plan keys, stale-plan detection, profiles, the timing cache, hash checks) is tested
against a stand-in `tensorrt` module. Needs neither torch nor cuda-python: memory and streams come from
the CUDA driver (gpu.CudaStream).

Plans are strongly typed, so precision comes from the ONNX (the fp16 export is fp16 inside): TensorRT 11
removed BuilderFlag.FP16, and 10.12+ deprecates it.
"""
from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import BackendUnavailable, IntegrityError, ReenactError, UnsupportedInput
from . import gpu
from .base import BACKENDS, Engine, Options, Probe, Profile, has_module, log, pick_device
from ..files import read_verified, sha256_bytes, write_atomic
from .manifest import ModelRef, machine_dir

INSTALL = "pip install tensorrt-cu12 or tensorrt-cu13 from NVIDIA's index; needs an NVIDIA GPU"
WORKSPACE_BYTES = 1 << 30


def import_tensorrt():
    if not has_module("tensorrt"):
        raise BackendUnavailable(f"tensorrt is not installed: {INSTALL}")
    try:
        import tensorrt
    except (ImportError, OSError) as e:  # e.g. the bindings wheel without libnvinfer
        raise BackendUnavailable(f"tensorrt is installed but does not load ({e}): {INSTALL}") from None
    if int(tensorrt.__version__.split(".")[0]) < 10:
        raise BackendUnavailable(f"TensorRT {tensorrt.__version__} is too old (needs 10 or 11): {INSTALL}")
    return tensorrt


@dataclass(frozen=True)
class PlanKey:
    """Everything a plan depends on: a plan recorded under another key is rebuilt, never loaded."""

    onnx_sha256: str
    tensorrt: str
    gpu: str
    capability: str
    precision: str
    profile: str

    def differences(self, recorded: Mapping[str, str]) -> list[str]:
        def show(f: str, v: object) -> str:
            return f"{str(v)[:12]}…" if f == "onnx_sha256" and v else str(v)
        return [f"{f} {show(f, recorded.get(f))} → {show(f, v)}"
                for f, v in asdict(self).items() if recorded.get(f) != v]


def plan_key(trt, info: gpu.GpuInfo, model: ModelRef, profile: Profile) -> PlanKey:
    return PlanKey(model.entry.sha256, trt.__version__, info.name, "{}.{}".format(*info.capability),
                   model.precision, profile.tag)


def plan_path(model: ModelRef, profile: Profile) -> Path:
    """In the user cache, named by the ONNX's hash too: models of one stem in two folders keep two plans."""
    return machine_dir() / f"{model.stem}-{model.entry.sha256[:12]}.{profile.tag}.plan"


def record_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".json")


def timing_path(directory: Path, key: PlanKey) -> Path:
    """One timing cache per GPU model and TensorRT version, shared by every plan built there."""
    gpu_slug = re.sub(r"[^A-Za-z0-9]+", "-", key.gpu).strip("-")
    return directory / f"{gpu_slug}-sm{key.capability}-trt{key.tensorrt}.timing"


def build_command(model: ModelRef, profile: Profile) -> str:
    flags = [" --fp16"] if model.precision == "fp16" else []
    flags.append(f" --batch {profile.max_batch}")
    flags += [" --static"] if profile.min_batch == profile.max_batch else []
    flags += [f" --size {profile.size}"] if profile.size != Profile().size else []
    return f"reenact engines build {model.graph}{''.join(flags)}"


def stale_reason(plan: Path, key: PlanKey) -> str | None:
    """None when the plan on disk was built for exactly this key; else why it must be (re)built."""
    if not plan.exists():
        return "no plan yet"
    try:
        recorded = json.loads(record_path(plan).read_text(encoding="utf-8"))["key"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
        return f"its build record {record_path(plan).name} is missing or unreadable"
    diffs = key.differences(recorded)
    return "it was built for another setup: " + "; ".join(diffs) if diffs else None


def build_plan(trt, onnx: bytes, profile: Profile, timing: Path) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # explicit batch is the only mode since TensorRT 10 (no flag); strong typing keeps the ONNX's precision
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UnsupportedInput(f"TensorRT cannot parse the ONNX: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    shapes = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shapes.set_shape(tensor.name, *profile.shapes(tuple(tensor.shape)))
    config.add_optimization_profile(shapes)
    cache = config.create_timing_cache(timing.read_bytes() if timing.exists() else b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning("timing cache %s does not fit this GPU/TensorRT; starting a new one", timing.name)
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ReenactError("TensorRT failed to build the plan; its log above says why")
    write_atomic(timing, bytes(config.get_timing_cache().serialize()))
    return bytes(plan)


def ensure_plan(model: ModelRef, profile: Profile, force: bool = False) -> tuple[bytes, Path, str | None]:
    """(verified plan bytes, its path, why it was just built or None if it came from the cache)."""
    trt = import_tensorrt()
    info, why = gpu.probe_gpu()
    if info is None:
        raise BackendUnavailable(f"tensorrt needs an NVIDIA GPU: {why}")
    onnx = model.onnx_bytes()
    key = plan_key(trt, info, model, profile)
    path = plan_path(model, profile)
    reason = "rebuild requested" if force else stale_reason(path, key)
    if reason is None:
        recorded = json.loads(record_path(path).read_text(encoding="utf-8"))
        plan = read_verified(path, recorded["sha256"], f"rebuild it with `{build_command(model, profile)} --force`")
        return plan, path, None
    log.warning("building TensorRT plan %s: %s", path.name, reason)
    t0 = time.perf_counter()
    plan = build_plan(trt, onnx, profile, timing_path(machine_dir(), key))
    record = {"key": asdict(key), "sha256": sha256_bytes(plan), "build_s": round(time.perf_counter() - t0, 2)}
    write_atomic(path, plan)
    write_atomic(record_path(path), (json.dumps(record, indent=2) + "\n").encode())
    return plan, path, reason


class TensorRTEngine(Engine):
    def __init__(self, trt, plan: bytes, path: Path, model: ModelRef, profile: Profile):
        entry = model.entry
        super().__init__(model.graph, entry.inputs, entry.outputs, "tensorrt", "cuda", entry.precision)
        self._cuda = gpu.CudaStream()
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise IntegrityError(f"TensorRT could not deserialize it; rebuild it with "
                                 f"`{build_command(model, profile)} --force`", str(path))
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        self._in = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._out = [n for n in names if n not in self._in]
        self._dtype = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self._profile = profile
        self.mode = profile.tag
        self._graph_flag = model.graph + (" --fp16" if model.precision == "fp16" else "")

    def _run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._cuda.make_current()
        keep = []  # host arrays must outlive the async copies
        for n in self._in:
            a = np.ascontiguousarray(feeds[n], self._dtype[n])
            if not self._context.set_input_shape(n, a.shape):
                raise UnsupportedInput(f"{n}: shape {a.shape} is outside this plan's profile "
                                       f"{self._profile.tag}; build one that covers it with "
                                       f"`reenact engines build {self._graph_flag} --batch N --size S`")
            ptr = self._cuda.buffer(n, a.nbytes)
            self._cuda.upload(ptr, a)
            self._context.set_tensor_address(n, ptr)
            keep.append(a)
        outs = {}
        for n in self._out:
            host = np.empty(tuple(self._context.get_tensor_shape(n)), self._dtype[n])
            ptr = self._cuda.buffer(n, host.nbytes)
            self._context.set_tensor_address(n, ptr)
            outs[n] = (host, ptr)
        if not self._context.execute_async_v3(self._cuda.handle):
            raise ReenactError(f"TensorRT execution of {self.graph} failed; its log above says why")
        for host, ptr in outs.values():
            self._cuda.download(host, ptr)
        self._cuda.synchronize()
        return {n: host for n, (host, _) in outs.items()}

    def close(self) -> None:
        self._context = self._engine = None
        self._cuda.close()


@BACKENDS.register("tensorrt")
class TensorRTBackend:
    @classmethod
    @functools.cache
    def probe(cls) -> Probe:
        if not has_module("tensorrt"):
            return Probe((), f"not installed ({INSTALL})")
        info, why = gpu.probe_gpu()
        if info is None:
            return Probe((), why)
        try:
            return Probe(("cuda",), f"TensorRT {import_tensorrt().__version__} on {info}")
        except BackendUnavailable as e:
            return Probe((), str(e))

    @classmethod
    def open(cls, model: ModelRef, options: Options) -> Engine:
        pick_device(cls, options.device)
        plan, path, _ = ensure_plan(model, options.profile)
        return TensorRTEngine(import_tensorrt(), plan, path, model, options.profile)
