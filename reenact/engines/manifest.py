"""manifest.json: what was exported, from which graph version, with which sha256 and how.

Every model file is hash-checked against its record before a backend sees a byte of it. Two folders
hold exports: the package's own `bundled/` (the small weightless ONNX files and their manifest,
committed and read-only) and the user's engines folder ($REENACT_ENGINES_DIR, else engines/ in the
user cache), where `reenact engines export` writes. A graph is looked up in the user's folder first.
Per-machine files (TensorRT plans, timing caches, CPU measurements) go to the user cache, never into
the package or the checkout.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import InputNotFound, IntegrityError
from ..files import read_verified, user_cache_dir, write_atomic
from .base import TensorSpec
from .graphs import graph, graph_names, variant_stem

MANIFEST = "manifest.json"
FORMAT = 1
# the committed exports, shipped as package data; never written at run time
BUNDLED = resources.files(__package__) / "bundled"


def engines_dir(path: str | os.PathLike | None = None) -> Path:
    """Where exports are written and looked up first: `path` as given; else $REENACT_ENGINES_DIR; else
    engines/ in the user cache."""
    if path is not None:
        return Path(path)
    env = os.environ.get("REENACT_ENGINES_DIR")
    return Path(env) if env else user_cache_dir() / "engines"


def machine_dir() -> Path:
    """Per-machine files: TensorRT plans and timing caches, CPU measurements (the user cache's engines/)."""
    return user_cache_dir() / "engines"


def search_dirs(directory: str | os.PathLike | None = None) -> list[Path]:
    """The folders a graph is looked up in: `directory` alone (it must exist), else the user's engines
    folder, then the bundled one."""
    if directory is None:
        return [engines_dir(), BUNDLED]
    d = Path(directory)
    if not d.is_dir():
        raise InputNotFound("no such engines folder", str(d))
    return [d]


def model_folder(spec: str | os.PathLike, marker: str) -> Path | None:
    """A personal model's folder: 'engines/NAME' as given, else NAME inside the engines directory; the
    first that holds `marker` (None: neither)."""
    p = Path(spec)
    return next((d for d in (p, engines_dir() / p.name) if (d / marker).exists()), None)


@dataclass(frozen=True)
class Entry:
    """One exported ONNX file."""

    graph: str
    version: int
    precision: str
    batch: int | None            # None: dynamic batch (and side); N: every dim fixed
    file: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    made: dict = field(default_factory=dict)  # tool command, torch/onnx versions, opset

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        return cls(**{**d, "inputs": tuple(map(TensorSpec.from_dict, d["inputs"])),
                      "outputs": tuple(map(TensorSpec.from_dict, d["outputs"]))})


class Manifest:
    def __init__(self, directory: Path):
        self.dir = directory
        self.path = directory / MANIFEST
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {"format": FORMAT, "models": {}}
        except json.JSONDecodeError as e:
            raise IntegrityError(f"not valid JSON ({e.msg}, line {e.lineno})", str(self.path)) from None
        self.models = {stem: Entry.from_dict(d) for stem, d in data["models"].items()}

    def put(self, stem: str, entry: Entry) -> None:
        self.models[stem] = entry

    def save(self) -> None:
        data = {"format": FORMAT, "models": {k: asdict(self.models[k]) for k in sorted(self.models)}}
        write_atomic(self.path, (json.dumps(data, indent=2) + "\n").encode())


@dataclass(frozen=True)
class ModelRef:
    """A graph resolved to its place on disk; `entry` is None until it has been exported."""

    graph: str
    stem: str
    precision: str
    dir: Path
    entry: Entry | None

    @property
    def onnx_path(self) -> Path:
        return self.dir / (self.entry.file if self.entry else f"{self.stem}.onnx")

    def export_hint(self) -> str:
        flags = " --fp16" if self.precision == "fp16" else ""
        return f"regenerate it with `reenact engines export {self.graph}{flags}` (needs torch)"

    def onnx_bytes(self) -> bytes:
        """The verified ONNX: listed in the manifest, from the graph version the code defines, hash intact."""
        if self.entry is None:
            raise InputNotFound(f"{self.stem} is not in {MANIFEST}; {self.export_hint()}", str(self.dir))
        code = graph(self.graph).version if self.graph in graph_names() else self.entry.version
        if code != self.entry.version:
            raise IntegrityError(f"exported from {self.graph} v{self.entry.version} but the code defines "
                                 f"v{code}; {self.export_hint()}", str(self.onnx_path))
        return read_verified(self.onnx_path, self.entry.sha256, self.export_hint())


def resolve(name_or_path: str | os.PathLike, precision: str = "fp32",
            directory: str | os.PathLike | None = None) -> ModelRef:
    """'warp_blend' (looked up in `search_dirs(directory)`) or a path to an exported .onnx (its dir's
    manifest). A graph found nowhere resolves, unexported, to the first folder."""
    p = Path(name_or_path)
    if p.suffix == ".onnx":
        manifest = Manifest(p.parent)
        stem = next((s for s, e in manifest.models.items() if e.file == p.name), None)
        if stem is None:
            raise IntegrityError(f"not listed in {manifest.path}, so it cannot be hash-checked; export it with "
                                 "`reenact engines export`", str(p))
        entry = manifest.models[stem]
        return ModelRef(entry.graph, stem, entry.precision, p.parent, entry)
    dirs = search_dirs(directory)
    stem = variant_stem(str(name_or_path), precision)
    for d in dirs:
        entry = Manifest(d).models.get(stem)
        if entry is not None:
            return ModelRef(str(name_or_path), stem, precision, d, entry)
    return ModelRef(str(name_or_path), stem, precision, dirs[0], None)
