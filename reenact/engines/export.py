"""torch → ONNX (opset ≥ 17, so GridSample is a standard op), checked, hashed and recorded in the manifest.

Needs torch; nothing at run time does. Uses the TorchScript exporter: the dynamo one needs onnxscript,
which is not a dependency.
"""
from __future__ import annotations

import io
import os
import warnings

import onnx

from ..config import AlignerConfig
from ..errors import BackendUnavailable, UnsupportedInput
from .base import PRECISIONS, TensorSpec, has_module
from .graphs import graph, variant_stem
from ..files import sha256_bytes, write_atomic
from .manifest import Entry, Manifest, engines_dir

MIN_OPSET = 17


def specs(values) -> tuple[TensorSpec, ...]:
    """TensorSpecs of an ONNX graph's inputs or outputs (dynamic dims keep their names)."""
    return tuple(TensorSpec(v.name, tuple(d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim),
                            str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)))
                 for v in values)


def export_module(module, args: tuple, directory: str | os.PathLike, stem: str, *, graph_name: str, version: int,
                  input_names: list[str], output_names: list[str], dynamic_axes: dict | None,
                  precision: str = "fp32", batch: int | None = None, opset: int = MIN_OPSET,
                  made: dict | None = None) -> Entry:
    """Export a torch module to <directory>/<stem>.onnx, check it, and record it in that manifest."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "legacy exporter": see the module docstring
        torch.onnx.export(module.eval(), args, buf, dynamo=False, input_names=input_names,
                          output_names=output_names, opset_version=opset, dynamic_axes=dynamic_axes)
    data = buf.getvalue()
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    d = engines_dir(directory)
    write_atomic(d / f"{stem}.onnx", data)
    entry = Entry(graph=graph_name, version=version, precision=precision, batch=batch, file=f"{stem}.onnx",
                  sha256=sha256_bytes(data), inputs=specs(model.graph.input), outputs=specs(model.graph.output),
                  made={"exporter": "torch.onnx.export (TorchScript)", "torch": torch.__version__,
                        "onnx": onnx.__version__, "opset": opset, **(made or {})})
    manifest = Manifest(d)
    manifest.put(stem, entry)
    manifest.save()
    return entry


def export(name: str, directory: str | os.PathLike | None = None, *, precision: str = "fp32",
           batch: int | None = None, size: int = AlignerConfig.size, opset: int = MIN_OPSET) -> Entry:
    """Export graph `name` to <dir>/<stem>.onnx and record it. batch=None: dynamic batch and side
    (one file for every TensorRT profile); batch=N: every dim fixed at N×size² (a static profile)."""
    if not has_module("torch"):
        raise BackendUnavailable("exporting needs torch: pip install 'reenact[torch]' (running does not)")
    if opset < MIN_OPSET or precision not in PRECISIONS:
        raise UnsupportedInput(f"need opset >= {MIN_OPSET} and precision in {PRECISIONS}, "
                               f"got opset {opset}, {precision!r}")
    import torch

    from .torch_ops import with_precision

    g = graph(name)
    feeds = g.example(batch or 2, size)
    args = tuple(torch.from_numpy(feeds[s.name]) for s in g.inputs)
    dynamic = None if batch else {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)}
                                  for s in g.inputs + g.outputs}
    command = "reenact engines export " + " ".join(
        [name] + (["--fp16"] if precision == "fp16" else []) + ([f"--batch {batch}", f"--size {size}"] if batch else [])
        + ([f"--opset {opset}"] if opset != MIN_OPSET else []))
    return export_module(with_precision(g.module(), precision), args, directory, variant_stem(name, precision, batch),
                         graph_name=name, version=g.version, input_names=[s.name for s in g.inputs],
                         output_names=[s.name for s in g.outputs], dynamic_axes=dynamic, precision=precision,
                         batch=batch, opset=opset, made={"tool": command})
