"""The refiner: a personal network that corrects the personal bank's (or the rig's) edits towards the
user's own frames. It learns the appearance residual and where to apply it; motion stays the base
editor's.

    reenact enroll --video me.mp4 -o engines/me       # the bank (train enrols first if it is missing)
    reenact train -o engines/me --preset tiny          # the refiner, on pairs of the bank's frames
    reenact video in.mp4 -o out.mp4 --editor neural:engines/me --target-au happy

A model directory engines/NAME/ holds the enrolment (editors/personal) and what `reenact train` wrote:
  neural.onnx                   the refiner, run by ONNX Runtime (no torch at run time)
  manifest.json                 the engines manifest: its sha256, specs, and how it was made
                                (`made`: crop size, AU names, base editor, the bank's sha256, steps)
  checkpoint.safetensors/.json  weights and optimiser state for --resume, with their metadata
  losses.csv, losses.png        the loss curves and the mask's statistics
  .gitignore                    `*`: a personal model is never committed

This module is torch-free: the editor imports it at run time. Training lives in `.loop` (torch), the
network in `.model`, the tracked-frame cache and the training pairs in `.data`.
"""
from __future__ import annotations

import os
from pathlib import Path

from ...engines.manifest import Entry, Manifest, model_folder
from ...errors import InputNotFound, IntegrityError
from ...pipeline.types import AU_NAMES

GRAPH = "neural"
# bump when the network's inputs, outputs or conventions change: older exports are refused
# (v1 was a warp + texture generator on its own; v2 refines a base editor's output)
VERSION = 2
ONNX_FILE = f"{GRAPH}.onnx"
# AU change (sum of |target − source|, FACS units) at which the edit gate reaches 1; below it flow and
# mask are scaled down linearly, so a zero change is the input exactly
GATE_AU = 0.1

# base: the base editor's output, crop: its input, both (N, 3, S, S) RGB in 0..1; delta (N, 17) =
# target − source AUs (FACS units, AU_NAMES order)
INPUT_NAMES = ("base", "crop", "delta")
# out = base·(1 − mask) + fill·mask; mask and fill apart, so an editor can apply them to a larger crop
OUTPUT_NAMES = ("out", "mask", "fill")
# the editors a refiner may sit on
BASES = ("personal", "rig")


def model_dir(spec: str | os.PathLike) -> Path:
    """'engines/NAME' as given, else NAME inside the engines directory; InputNotFound if neither exists."""
    found = model_folder(spec, ONNX_FILE)
    if found is None:
        raise InputNotFound(f"no {ONNX_FILE}: train one with `reenact train -o {spec}` (after `reenact enroll`)",
                            str(spec))
    return found


def model_entry(directory: Path) -> Entry:
    """The manifest entry of a model directory's ONNX, checked to be a neural model this code can run."""
    entry = Manifest(directory).models.get(GRAPH)
    where = str(directory / ONNX_FILE)
    if entry is None or entry.graph != GRAPH:
        raise IntegrityError(f"not listed as a {GRAPH} model in {directory / 'manifest.json'}; export it "
                             "again with `reenact train ... --resume`", where)
    if entry.version != VERSION:
        raise IntegrityError(f"a v{entry.version} neural model, but this code runs v{VERSION}; train it again "
                             "with `reenact train`", where)
    if tuple(entry.made.get("au_names", ())) != AU_NAMES:
        raise IntegrityError("trained on another AU set than this code's "
                             f"({', '.join(AU_NAMES)}); train it again", where)
    if entry.made.get("base") not in BASES:
        raise IntegrityError(f"refines an unknown base editor {entry.made.get('base')!r}; train it again", where)
    return entry
