"""Engines: export → ONNX → backends, integrity, auto selection, and TensorRT plan caching (stand-in module)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnx
import pytest

from reenact.cli import main
from reenact.engines import BACKENDS, Probe, Profile, choose, graph, load, resolve
from reenact.engines import backend_trt, gpu, loader
from reenact.engines.base import has_module
from reenact.engines.manifest import BUNDLED, Manifest, machine_dir
from reenact.files import sha256_bytes
from reenact.engines.warp_blend import example_inputs, warp_blend_cv2
from reenact.errors import BackendUnavailable, InputNotFound, IntegrityError, UnsupportedInput

from conftest import load_rgb

NO_GPU = gpu.probe_gpu()[0] is None


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A fresh torch → ONNX export of warp_blend in its own engines dir."""
    pytest.importorskip("torch", reason="exporting needs torch")
    from reenact.engines.export import export

    d = tmp_path_factory.mktemp("engines")
    export("warp_blend", d)
    return d


@pytest.fixture
def engines(exported, tmp_path, monkeypatch) -> Path:
    """A private copy of the export that a test may damage, and a private cache for plans and measurements."""
    monkeypatch.setenv("REENACT_CACHE_DIR", str(tmp_path / "cache"))
    return Path(shutil.copytree(exported, tmp_path / "engines"))


@pytest.fixture(scope="module")
def feeds() -> dict[str, np.ndarray]:
    """Real crops: the astronaut's face at 256², batch 2 with a smooth swirl flow and a soft mask."""
    face = cv2.resize(load_rgb("astronaut.png")[0:220, 120:340], (256, 256), interpolation=cv2.INTER_AREA)
    return example_inputs(face, batch=2)


def test_import_and_ort_path_never_need_torch_or_tensorrt():
    code = (
        "import sys, reenact, reenact.engines as e\n"
        "assert not {'torch', 'tensorrt'} & set(sys.modules), 'imported at import time'\n"
        f"eng = e.load('warp_blend', 'onnxruntime', engines_dir={str(BUNDLED)!r})\n"
        "eng.run(e.graph('warp_blend').example(1, 64))\n"
        "print(sorted({'torch', 'tensorrt'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_committed_onnx_matches_manifest():
    model = resolve("warp_blend", "fp32", BUNDLED)
    assert model.entry is not None and model.entry.version == graph("warp_blend").version
    assert sha256_bytes(model.onnx_bytes()) == model.entry.sha256


def test_export_passes_checker_and_records_how_it_was_made(exported):
    import torch

    entry = Manifest(exported).models["warp_blend"]
    model = onnx.load(exported / entry.file)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (gs,) = [n for n in model.graph.node if n.op_type == "GridSample"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gs.attribute}
    assert attrs == {"align_corners": 0, "mode": b"bilinear", "padding_mode": b"border"}
    assert entry.sha256 == sha256_bytes((exported / entry.file).read_bytes())
    assert entry.inputs == graph("warp_blend").inputs and entry.outputs == graph("warp_blend").outputs
    assert entry.made["torch"] == torch.__version__ and entry.made["onnx"] == onnx.__version__
    assert entry.made["tool"] == "reenact engines export warp_blend" and entry.made["opset"] == 17


def test_ort_matches_torch_eager_on_real_crops(exported, feeds):
    ort = load("warp_blend", "onnxruntime", device="cpu", engines_dir=exported).run(feeds)["out"]
    ref = load("warp_blend", "torch", device="cpu", engines_dir=exported).run(feeds)["out"]
    assert np.abs(ort - ref).max() <= 1e-4
    assert np.abs(ort - feeds["crop"]).max() > 0.2  # the flow and mask really changed the crop


def test_ort_matches_cv2_remap_reference(exported, feeds):
    ort = load("warp_blend", "onnxruntime", device="cpu", engines_dir=exported).run(feeds)["out"]
    cv = load("warp_blend", "opencv", engines_dir=exported).run(feeds)["out"]
    # OpenCV interpolates with 1/32-pixel fixed-point weights; the graph in float
    assert np.abs(ort - cv).max() <= 0.03 and np.abs(ort - cv).mean() <= 1e-3


def test_pixel_centre_convention_matches_remap_exactly(exported, feeds):
    """An integer shift samples pixel centres exactly: a wrong align_corners would blur it."""
    f = {**feeds, "flow": np.zeros_like(feeds["flow"]), "mask": np.zeros_like(feeds["mask"])}
    f["flow"][:, 0] = 3.0
    crop = feeds["crop"]
    for backend in ("onnxruntime", "opencv"):
        out = load("warp_blend", backend, device="cpu", engines_dir=exported).run(f)["out"]
        np.testing.assert_allclose(out[..., :-3], crop[..., 3:], atol=1e-6)
        np.testing.assert_allclose(out[..., -3:], np.repeat(crop[..., -1:], 3, axis=-1), atol=1e-6)


def test_static_batch_export_fixes_every_dim(tmp_path, feeds):
    pytest.importorskip("torch")
    from reenact.engines.export import export

    entry = export("warp_blend", tmp_path, batch=2)
    assert entry.file == "warp_blend.b2.onnx" and entry.inputs[0].shape == (2, 3, 256, 256)
    engine = load(tmp_path / entry.file, "onnxruntime")
    assert engine.run(feeds)["out"].shape == (2, 3, 256, 256)
    with pytest.raises(UnsupportedInput, match=r"does not fit crop\[2,3,256,256\]"):
        engine.run({k: v[:1] for k, v in feeds.items()})


def test_fp16_export_is_fp16_inside_with_fp32_io(engines, feeds):
    from reenact.engines.export import export

    entry = export("warp_blend", engines, precision="fp16")
    assert entry.file == "warp_blend.fp16.onnx" and {s.dtype for s in entry.inputs + entry.outputs} == {"float32"}
    model = onnx.load(engines / entry.file)
    (gs,) = [n for n in model.graph.node if n.op_type == "GridSample"]
    assert any(n.op_type == "Cast" and n.output[0] in gs.input for n in model.graph.node)
    ref = load("warp_blend", "onnxruntime", engines_dir=engines).run(feeds)["out"]
    half = load("warp_blend", "onnxruntime", precision="fp16", engines_dir=engines).run(feeds)["out"]
    assert 0 < np.abs(half - ref).max() <= 1e-2


def test_tampered_onnx_is_refused_with_a_rebuild_hint(engines):
    onnx_path = engines / "warp_blend.onnx"
    data = bytearray(onnx_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as err:
        load("warp_blend", "onnxruntime", engines_dir=engines)
    msg = str(err.value)
    assert "\n" not in msg and str(onnx_path) in msg and "sha256" in msg
    assert "reenact engines export warp_blend" in msg
    onnx_path.unlink()
    with pytest.raises(InputNotFound) as err:
        load("warp_blend", "onnxruntime", engines_dir=engines)
    assert "missing; regenerate it with `reenact engines export warp_blend`" in err.value.args[0]


def test_onnx_from_an_older_graph_version_is_refused(engines):
    m = Manifest(engines)
    m.put("warp_blend", replace(m.models["warp_blend"], version=0))
    m.save()
    with pytest.raises(IntegrityError, match="v0 but the code defines v1"):
        load("warp_blend", "onnxruntime", engines_dir=engines)


def test_run_refuses_feeds_that_do_not_fit_the_specs(tmp_path, feeds):
    engine = load("warp_blend", "opencv", engines_dir=tmp_path)
    with pytest.raises(UnsupportedInput, match="float32"):
        engine.run({**feeds, "mask": feeds["mask"].astype(np.float64)})
    with pytest.raises(UnsupportedInput, match="height=256 in another input"):
        engine.run({**feeds, "fill": feeds["fill"][:, :, :128]})
    with pytest.raises(UnsupportedInput, match="takes inputs"):
        engine.run({k: v for k, v in feeds.items() if k != "fill"})


@pytest.mark.skipif(has_module("tensorrt"), reason="tensorrt is installed here")
def test_missing_backend_says_what_to_install(exported):
    with pytest.raises(BackendUnavailable) as err:
        load("warp_blend", "tensorrt", engines_dir=exported)
    assert isinstance(err.value, ImportError) and "pip install tensorrt-cu12" in str(err.value)


def test_auto_with_the_providers_on_this_machine(engines):
    choice = choose(resolve("warp_blend", "fp32", engines))
    if NO_GPU:
        rates = json.loads((machine_dir() / loader.MEASURED).read_text())["warp_blend"]["crops_per_s"]
        assert choice.device == "cpu" and choice.backend == max(rates, key=rates.get)
        assert "no tensorrt-cuda" in choice.reason and "crops/s" in choice.reason
    else:
        assert choice.device == "cuda" and choice.backend in ("tensorrt", "onnxruntime", "torch")
    engine = load("warp_blend", engines_dir=engines)
    assert (engine.backend, engine.reason) == (choice.backend, choice.reason)


@pytest.mark.parametrize("devices, rates, want", [
    ({"tensorrt": ("cuda",), "onnxruntime": ("cuda", "cpu"), "torch": ("cuda", "cpu")}, None, "tensorrt/cuda"),
    ({"tensorrt": (), "onnxruntime": ("cuda", "cpu"), "torch": ("cuda", "cpu")}, None, "onnxruntime/cuda"),
    ({"tensorrt": (), "onnxruntime": ("cpu",), "torch": ("cuda", "cpu")}, None, "torch/cuda"),
    ({"tensorrt": (), "onnxruntime": ("cpu",), "torch": ("cpu",)}, {"onnxruntime": 900.0, "opencv": 400.0},
     "onnxruntime/cpu"),
    ({"tensorrt": (), "onnxruntime": ("cpu",), "torch": ()}, {"onnxruntime": 300.0, "opencv": 1300.0}, "opencv/cpu"),
])
def test_auto_order_and_cpu_choice_by_measurement(monkeypatch, engines, devices, rates, want):
    for name, devs in devices.items():
        monkeypatch.setattr(BACKENDS.get(name), "probe",
                            classmethod(lambda cls, d=devs, n=name: Probe(d, f"{n} probe")))
    model = resolve("warp_blend", "fp32", engines)
    if rates:
        loader.save_rates(model, rates)
    choice = choose(model)
    assert f"{choice.backend}/{choice.device}" == want
    if want != "tensorrt/cuda":
        assert "no tensorrt-cuda: tensorrt probe" in choice.reason
    if rates:
        assert f"onnxruntime {rates['onnxruntime']:.0f}" in choice.reason


def test_verify_runs_every_available_backend(engines):
    from reenact.engines.verify import verify

    results = {(r.backend, r.device): r
               for r in verify("warp_blend", engines_dir=engines, batches=(1, 2), seconds=0.0)}
    assert results[("onnxruntime", "cpu")].max_abs_err == 0.0
    assert results[("opencv", "cpu")].max_abs_err <= 0.03
    if ("torch", "cpu") in results:
        assert results[("torch", "cpu")].max_abs_err <= 1e-4
    assert all(r.crops_per_s.keys() == {1, 2} for r in results.values() if r.max_abs_err is not None)
    if not has_module("tensorrt"):
        assert "pip install tensorrt" in results[("tensorrt", "-")].note
    assert set(json.loads((machine_dir() / loader.MEASURED).read_text())["warp_blend"]["crops_per_s"]) == \
        {"onnxruntime", "opencv"}


def test_cli_list_and_build_without_tensorrt(engines, capsys):
    assert main(["engines", "list", "--dir", str(engines)]) == 0
    out = capsys.readouterr().out
    assert "warp_blend.onnx" in out and " ok" in out and "auto for warp_blend:" in out
    if not has_module("tensorrt"):
        assert main(["engines", "build", "--dir", str(engines)]) == 2
        assert "pip install tensorrt-cu12" in capsys.readouterr().err


# --- TensorRT plan building and caching, against a stand-in `tensorrt` (the real one needs libnvinfer) ---

def fake_tensorrt(version: str = "10.3.0"):
    """Just enough of the TensorRT 10/11 builder API; records what the backend asked of it."""
    calls = SimpleNamespace(builds=0, flags=[], shapes={}, timing_in=[], workspace=None)
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=1)
    trt.MemoryPoolType = SimpleNamespace(WORKSPACE=0)

    class Network:
        def __init__(self):
            self.inputs = []

        num_inputs = property(lambda self: len(self.inputs))

        def get_input(self, i):
            return self.inputs[i]

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            self.network = network

        def parse(self, data: bytes) -> bool:
            self.network.inputs = [
                SimpleNamespace(name=v.name, shape=tuple(d.dim_value or -1 for d in v.type.tensor_type.shape.dim))
                for v in onnx.load_from_string(data).graph.input]
            return True

    class TimingCache:
        def __init__(self, data: bytes):
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"+"

    class OptimizationProfile:
        def set_shape(self, name, lo, opt, hi):
            calls.shapes[name] = (lo, opt, hi)

    class Config:
        def set_memory_pool_limit(self, pool, size):
            calls.workspace = (pool, size)

        def add_optimization_profile(self, profile):
            pass

        def create_timing_cache(self, data: bytes):
            calls.timing_in.append(data)
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags: int):
            calls.flags.append(flags)
            return Network()

        create_builder_config = staticmethod(Config)
        create_optimization_profile = staticmethod(OptimizationProfile)

        def build_serialized_network(self, network, config) -> bytes:
            calls.builds += 1
            return f"plan {version} #{calls.builds}".encode()

    names = ("crop", "flow", "mask", "fill", "out")

    class ExecutionContext:
        def __init__(self):
            self.shapes, self.addresses = {}, {}

        def set_input_shape(self, name, shape) -> bool:
            self.shapes[name] = tuple(shape)
            return 1 <= shape[0] <= 8  # the plan's profile: batch 1..8

        def get_tensor_shape(self, name):
            return self.shapes["crop"]

        def set_tensor_address(self, name, ptr):
            self.addresses[name] = ptr

        def execute_async_v3(self, stream) -> bool:
            feeds = {n: HostMemory.blocks[self.addresses[n]] for n in names[:4]}
            HostMemory.blocks[self.addresses["out"]] = warp_blend_cv2(feeds)["out"]
            return True

    class CudaEngine:
        num_io_tensors = len(names)
        get_tensor_name = staticmethod(names.__getitem__)
        get_tensor_mode = staticmethod(lambda n: 1 if n == "out" else 0)
        get_tensor_dtype = staticmethod(lambda n: "float")
        create_execution_context = staticmethod(ExecutionContext)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, plan: bytes):
            return CudaEngine() if plan.startswith(b"plan") else None

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    trt.TensorIOMode = SimpleNamespace(INPUT=0, OUTPUT=1)
    trt.nptype = lambda dtype: np.float32
    return trt, calls


class HostMemory:
    """Stands in for gpu.CudaStream: "device" buffers are host arrays keyed by a fake pointer."""

    blocks: dict[int, np.ndarray] = {}
    handle = 0

    def buffer(self, name: str, nbytes: int) -> int:
        return 0x1000 + sum(map(ord, name))

    def upload(self, ptr: int, host: np.ndarray) -> None:
        self.blocks[ptr] = host.copy()

    def download(self, host: np.ndarray, ptr: int) -> None:
        host[...] = self.blocks[ptr]

    def make_current(self) -> None:
        pass

    synchronize = close = make_current


@pytest.fixture
def fake_trt(monkeypatch):
    trt, calls = fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(gpu, "probe_gpu", lambda: (gpu.GpuInfo("NVIDIA Fake 4090", (8, 9)), "NVIDIA Fake 4090"))
    monkeypatch.setattr(gpu, "CudaStream", HostMemory)
    probe_cache = backend_trt.TensorRTBackend.probe.__func__.cache_clear
    probe_cache()
    yield trt, calls
    probe_cache()  # forget the stand-in's answer


def test_plan_build_sets_profile_workspace_typing_and_timing_cache(fake_trt, engines):
    trt, calls = fake_trt
    model = resolve("warp_blend", "fp32", engines)
    plan, path, why = backend_trt.ensure_plan(model, Profile(1, 1, 8, 256))
    assert why == "no plan yet" and path.read_bytes() == plan
    assert path == machine_dir() / f"warp_blend-{model.entry.sha256[:12]}.b1-8x256.plan"  # the user cache
    assert calls.flags == [1 << 1] and calls.workspace == (0, backend_trt.WORKSPACE_BYTES)
    assert calls.shapes["crop"] == ((1, 3, 256, 256), (1, 3, 256, 256), (8, 3, 256, 256))
    assert calls.shapes["flow"][2] == (8, 2, 256, 256)
    record = json.loads(backend_trt.record_path(path).read_text())
    assert record["sha256"] == sha256_bytes(plan)
    assert record["key"] == {"onnx_sha256": model.entry.sha256, "tensorrt": "10.3.0", "gpu": "NVIDIA Fake 4090",
                             "capability": "8.9", "precision": "fp32", "profile": "b1-8x256"}
    timing = machine_dir() / "NVIDIA-Fake-4090-sm8.9-trt10.3.0.timing"
    assert timing.read_bytes() == b"+" and calls.timing_in == [b""]
    backend_trt.ensure_plan(model, Profile.static(4, 256))
    assert calls.timing_in == [b"", b"+"] and calls.shapes["crop"][0] == (4, 3, 256, 256)


def test_cached_plan_is_reused_until_the_onnx_changes(fake_trt, engines):
    trt, calls = fake_trt
    profile = Profile()
    model = resolve("warp_blend", "fp32", engines)
    first, path, _ = backend_trt.ensure_plan(model, profile)
    again, _, why = backend_trt.ensure_plan(model, profile)
    assert why is None and again == first and calls.builds == 1
    key = backend_trt.plan_key(trt, gpu.probe_gpu()[0], model, profile)

    proto = onnx.load(engines / "warp_blend.onnx")  # a changed graph: same op, new bytes
    proto.doc_string = "changed"
    data = proto.SerializeToString()
    (engines / "warp_blend.onnx").write_bytes(data)
    m = Manifest(engines)
    m.put("warp_blend", replace(m.models["warp_blend"], sha256=sha256_bytes(data)))
    m.save()
    changed = resolve("warp_blend", "fp32", engines)
    assert backend_trt.plan_key(trt, gpu.probe_gpu()[0], changed, profile) != key
    _, new_path, why = backend_trt.ensure_plan(changed, profile)
    assert why == "no plan yet" and new_path != path and calls.builds == 2
    # a plan whose record names another ONNX is rebuilt, never loaded
    backend_trt.record_path(new_path).write_text(backend_trt.record_path(path).read_text())
    _, _, why = backend_trt.ensure_plan(changed, profile)
    assert why.startswith("it was built for another setup: onnx_sha256") and calls.builds == 3


def test_plan_for_another_gpu_or_tensorrt_is_rebuilt_not_loaded(fake_trt, engines, caplog):
    trt, calls = fake_trt
    model = resolve("warp_blend", "fp32", engines)
    _, path, _ = backend_trt.ensure_plan(model, Profile())
    record_file = backend_trt.record_path(path)
    record = json.loads(record_file.read_text())
    record["key"].update(gpu="NVIDIA GeForce RTX 3090", capability="8.6", tensorrt="10.0.1")
    record_file.write_text(json.dumps(record))
    plan, _, why = backend_trt.ensure_plan(model, Profile())
    assert "gpu NVIDIA GeForce RTX 3090 → NVIDIA Fake 4090" in why and "tensorrt 10.0.1 → 10.3.0" in why
    assert "capability 8.6 → 8.9" in why and why in caplog.text
    assert calls.builds == 2 and plan == b"plan 10.3.0 #2"
    assert json.loads(record_file.read_text())["key"]["gpu"] == "NVIDIA Fake 4090"


def test_tampered_plan_is_refused_until_forced(fake_trt, engines):
    trt, calls = fake_trt
    model = resolve("warp_blend", "fp32", engines)
    _, path, _ = backend_trt.ensure_plan(model, Profile())
    path.write_bytes(b"evil")
    with pytest.raises(IntegrityError, match=r"reenact engines build warp_blend --batch 8 --force"):
        backend_trt.ensure_plan(model, Profile())
    _, _, why = backend_trt.ensure_plan(model, Profile(), force=True)
    assert why == "rebuild requested" and path.read_bytes() == b"plan 10.3.0 #2"


def test_tensorrt_engine_runs_through_the_io_tensor_api(fake_trt, engines, feeds):
    probe = backend_trt.TensorRTBackend.probe()
    assert probe.devices == ("cuda",) and probe.detail == "TensorRT 10.3.0 on NVIDIA Fake 4090 (compute 8.9)"
    engine = load("warp_blend", "tensorrt", engines_dir=engines)
    assert (engine.backend, engine.device, engine.mode) == ("tensorrt", "cuda", "b1-8x256")
    np.testing.assert_array_equal(engine.run(feeds)["out"], warp_blend_cv2(feeds)["out"])
    nine = {k: np.repeat(v[:1], 9, axis=0) for k, v in feeds.items()}
    with pytest.raises(UnsupportedInput, match="outside this plan's profile b1-8x256"):
        engine.run(nine)


def test_profiles():
    assert Profile.static(4, 256).shapes((-1, 3, -1, -1)) == ((4, 3, 256, 256),) * 3
    assert Profile.static(4, 256).tag == "b4x256" and Profile(1, 2, 8, 512).tag == "b1-8x512"
    assert Profile(1, 2, 8, 512).shapes((2, 3, 64, 64))[0] == (2, 3, 64, 64)  # fixed dims stay
    with pytest.raises(ValueError):
        Profile(2, 1, 8)


# --- GPU: torch on CUDA, the GPU path this project can execute ---

@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason="needs an NVIDIA GPU (no CUDA driver on this machine)")
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 1e-2)])
@pytest.mark.parametrize("mode", ["eager", "cudagraph"])
def test_torch_cuda_matches_ort_cpu_on_real_crops(exported, feeds, precision, tol, mode):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch build has no CUDA")
    ref = load("warp_blend", "onnxruntime", device="cpu", engines_dir=exported).run(feeds)["out"]
    engine = load("warp_blend", "torch", device="cuda", precision=precision, torch_mode=mode,
                  engines_dir=exported)
    assert np.abs(engine.run(feeds)["out"] - ref).max() <= tol
    # a replayed CUDA graph must read the new inputs, not the captured ones
    other = {**feeds, "flow": -feeds["flow"]}
    ref2 = load("warp_blend", "onnxruntime", device="cpu", engines_dir=exported).run(other)["out"]
    assert np.abs(engine.run(other)["out"] - ref2).max() <= tol
