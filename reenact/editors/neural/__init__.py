"""A personal neural editor, trained on the user's own footage (DefGAN-style warp + masked texture).

    reenact train --video me.mp4 -o engines/me        # track, cache, train, export
    reenact video in.mp4 -o out.mp4 --editor neural:engines/me --target-au happy

A model directory engines/NAME/ holds what `reenact train` wrote:
  neural.onnx                   the generator, run by ONNX Runtime (no torch at run time)
  manifest.json                 the engines manifest: its sha256, specs, and how it was made
                                (`made`: crop size, AU names, training videos and steps)
  checkpoint.safetensors/.json  weights and optimiser state for --resume, with their metadata
  losses.csv, losses.png        the loss curves
  .gitignore                    `*`: a personal model is never committed

This module is torch-free: the editor imports it at run time. Training lives in `reenact.editors.neural.loop`
(torch), the network in `.model`, the tracked-frame cache in `.data`.
"""
from __future__ import annotations

import os
from pathlib import Path

from ...engines.manifest import Entry, Manifest, engines_dir
from ...errors import InputNotFound, IntegrityError
from ...pipeline.types import AU_NAMES

GRAPH = "neural"
# bump when the network's inputs, outputs or conventions change: older exports are refused
VERSION = 1
ONNX_FILE = f"{GRAPH}.onnx"
# AU change (sum of |target − source|, FACS units) at which the edit gate reaches 1; below it flow and
# mask are scaled down linearly, so a zero change is the input exactly
GATE_AU = 0.1

# crop (N, 3, S, S) RGB in 0..1, delta (N, 17) = target − source AUs (FACS units, AU_NAMES order)
INPUT_NAMES = ("crop", "delta")
# out: the edited crop; flow/mask/fill: its parts, so an editor can warp a larger crop itself
# (out = warp(crop, flow)·(1 − mask) + fill·mask, the warp_blend convention; flow in pixels of S)
OUTPUT_NAMES = ("out", "flow", "mask", "fill")


def model_dir(spec: str | os.PathLike) -> Path:
    """'engines/NAME' as given, else NAME inside the engines directory; InputNotFound if neither exists."""
    p = Path(spec)
    for d in (p, engines_dir() / p.name):
        if (d / ONNX_FILE).exists():
            return d
    raise InputNotFound(f"no {ONNX_FILE}: train one with `reenact train --video YOURS.mp4 -o {p}`", str(p))


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
    return entry
