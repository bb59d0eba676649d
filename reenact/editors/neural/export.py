"""Refiner → engines/NAME/neural.onnx (opset ≥ 17) + its entry in that directory's engines manifest.

The engines' own `export` builds a registered graph's module from code alone; a personal model's
weights live in its directory, so this exports a given module with the same exporter and checks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...engines.export import MIN_OPSET, export_module
from ...engines.manifest import Entry
from . import GRAPH, INPUT_NAMES, ONNX_FILE, OUTPUT_NAMES, VERSION
from .model import Refiner


def export_refiner(g: Refiner, directory: Path, feeds: dict[str, np.ndarray], made: dict,
                   opset: int = MIN_OPSET) -> Entry:
    """Write the ONNX (dynamic batch, the model's fixed crop side) and record it; `made` adds to the
    record's provenance (tool command, size, AU names, base editor, enrolment)."""
    args = tuple(torch.from_numpy(feeds[n]) for n in INPUT_NAMES)
    return export_module(g.cpu(), args, directory, Path(ONNX_FILE).stem, graph_name=GRAPH, version=VERSION,
                         input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                         dynamic_axes={n: {0: "batch"} for n in INPUT_NAMES + OUTPUT_NAMES}, opset=opset, made=made)
