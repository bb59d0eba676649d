"""Training checkpoints: safetensors (weights and optimiser state) with a JSON sidecar holding their
sha256, the training config, AU names and versions; anything corrupt or made for another model is
refused with one line."""
from __future__ import annotations

import json
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import safetensors.torch
import torch

from ...files import read_verified, sha256_bytes, write_atomic
from ...errors import InputNotFound, IntegrityError
from ...pipeline.types import AU_NAMES
from . import GRAPH, VERSION

if TYPE_CHECKING:
    from .loop import Trainer


CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
CHECKPOINT_FORMAT = 1


def versions() -> dict[str, str]:
    return {p: version(p) for p in ("reenact", "torch", "safetensors", "numpy")}


def save_checkpoint(directory: Path, trainer: Trainer, meta: dict) -> str:
    """Atomically write the weights and then their sidecar; returns the weights' sha256."""
    data = safetensors.torch.save(trainer.state())
    write_atomic(directory / CHECKPOINT, data)
    sha = sha256_bytes(data)
    sidecar = {"format": CHECKPOINT_FORMAT, "graph": GRAPH, "version": VERSION, "file": CHECKPOINT,
               "sha256": sha, "step": trainer.step, "au_names": list(AU_NAMES),
               "config": asdict(trainer.cfg), "versions": versions(), **meta}
    write_atomic(directory / CHECKPOINT_META, (json.dumps(sidecar, indent=2) + "\n").encode())
    return sha


def load_checkpoint(directory: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(sidecar, tensors), verified: hash intact, and made by this model version for these AUs."""
    meta_path = directory / CHECKPOINT_META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputNotFound("no checkpoint to resume (train without --resume first)", str(meta_path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IntegrityError(f"checkpoint metadata is not valid JSON ({e})", str(meta_path)) from None
    where = str(directory / CHECKPOINT)
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT or meta.get("graph") != GRAPH:
        raise IntegrityError(f"not a {GRAPH} checkpoint of format {CHECKPOINT_FORMAT}", str(meta_path))
    if meta.get("version") != VERSION:
        raise IntegrityError(f"made by neural model v{meta.get('version')}, this code is v{VERSION}: "
                             "train a new model", where)
    if meta.get("au_names") != list(AU_NAMES):
        raise IntegrityError(f"trained for AUs {meta.get('au_names')}, this code uses {', '.join(AU_NAMES)}: "
                             "train a new model", where)
    data = read_verified(directory / CHECKPOINT, meta.get("sha256", ""), "train a new model or restore the file")
    try:
        tensors = safetensors.torch.load(data)
    except Exception as e:  # safetensors raises its own SafetensorError for a malformed header
        raise IntegrityError(f"not a readable safetensors file ({e})", where) from None
    return meta, tensors
