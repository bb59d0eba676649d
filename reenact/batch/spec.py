"""A batch, as the command line, a YAML spec file or Python states it.

    inputs: [faces/, "more/**/*.jpg", manifest.csv]
    edits:
      - happy
      - "AU06=0:3:1 x AU12=0:5:1"
      - {target: "AU12=3", mode: relative, strength: 0.5}
      - {ref: refs/surprised.jpg}
    refs: [refs/angry.jpg]          # same as {ref: ...} entries
    output: out/batch
    editor: rig                     # every edit's editor unless it names its own
    strength: 1.0
    mode: null                      # null: explicit AUs absolute, presets their own mode or relative
    config: null                    # a config YAML (default configs/default.yaml)
    overrides: {aligner.size: 512}  # dotted config overrides
    workers: null                   # null: one per core (Ray: per cluster CPU); 0: in this process
    ray: false                      # true: start or join a local Ray instance
    ray_address: null               # join this Ray cluster
    seed: 0
    judge: auto                     # auto | null | "module:factory"
    image_format: .png

Relative paths in a spec file are relative to the file's folder.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..config import load_yaml
from ..errors import ConfigError
from .edits import Edit, parse_edit, ref_edit

EDIT_KEYS = ("target", "ref", "mode", "editor", "strength")


@dataclass(frozen=True)
class BatchSpec:
    inputs: Sequence[str] = ()
    edits: Sequence[str | Mapping[str, Any]] = ()
    refs: Sequence[str] = ()
    output: str = ""
    editor: str = "rig"
    strength: float = 1.0
    mode: str | None = None
    config: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    workers: int | None = None
    ray: bool = False
    ray_address: str | None = None
    seed: int = 0
    judge: Any = "auto"
    image_format: str = ".png"
    progress: bool = True

    def expand_edits(self) -> list[Edit]:
        """Every edit the spec names, in order. Raises ConfigError for a bad spec or an empty list."""
        out: list[Edit] = []
        for e in self.edits:
            if isinstance(e, str):
                out += parse_edit(e, mode=self.mode)
            elif isinstance(e, Mapping):
                unknown = set(e) - set(EDIT_KEYS)
                if unknown or bool(e.get("target")) == bool(e.get("ref")):
                    raise ConfigError(f"bad edit {dict(e)!r}: give one of target or ref, plus optional "
                                      f"{', '.join(EDIT_KEYS[2:])}")
                spec = e["target"] if e.get("target") else f"ref:{e['ref']}"
                strength = e.get("strength")
                out += parse_edit(str(spec), mode=e.get("mode", self.mode), editor=e.get("editor"),
                                  strength=None if strength is None else float(strength))
            else:
                raise ConfigError(f"bad edit {e!r}: a spec string or a mapping")
        out += [ref_edit(r, mode=self.mode) for r in self.refs]
        if not out:
            raise ConfigError("no edit given: --edit happy, --edit AU12=0:5:1, --ref face.jpg, ...")
        return out


def load_spec(path: str | os.PathLike, **overrides: Any) -> BatchSpec:
    """A YAML spec file as a BatchSpec; keyword overrides (not None) win over the file."""
    p = Path(path)
    data = load_yaml(p, "spec file")
    if not isinstance(data, Mapping):
        raise ConfigError("a batch spec is a mapping of keys (inputs, edits, output, ...)", str(p))
    known = {f.name for f in fields(BatchSpec)} - {"progress"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown spec keys {sorted(unknown)}; known: {', '.join(sorted(known))}", str(p))
    base = p.resolve().parent

    def here(x):
        return str(base / x) if x and not Path(x).is_absolute() else x

    for key in ("inputs", "edits", "refs"):
        if isinstance(data.get(key), (str, Mapping)):
            data[key] = [data[key]]
    for key in ("inputs", "refs"):
        data[key] = [here(str(x)) for x in data.get(key) or []]
    for key in ("output", "config"):
        if data.get(key):
            data[key] = here(str(data[key]))
    data["edits"] = [dict(e, ref=here(str(e["ref"]))) if isinstance(e, Mapping) and e.get("ref") else e
                     for e in data.get("edits") or []]
    spec = BatchSpec(**data)
    return dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})


def as_spec(spec: BatchSpec | Mapping[str, Any] | str | os.PathLike) -> BatchSpec:
    if isinstance(spec, BatchSpec):
        return spec
    if isinstance(spec, Mapping):
        unknown = set(spec) - {f.name for f in fields(BatchSpec)}
        if unknown:
            raise ConfigError(f"unknown spec keys {sorted(unknown)}")
        return BatchSpec(**spec)
    return load_spec(spec)
