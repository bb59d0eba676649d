"""The inputs of a batch: folders (recursively), globs, CSV manifests and single files.

Each input gets a name relative to the argument it came from (the folder, the fixed part of a glob,
the common folder of a manifest's files), so outputs are named the same on every run and machine.
"""
from __future__ import annotations

import glob
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..errors import ConfigError, CorruptMedia, InputNotFound
from ..io import IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
MANIFEST_PATH_COLUMN = "path"
_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True)
class Input:
    """One file to edit. `name` is its output stem (posix, relative, no suffix); `extra` holds a
    manifest's other columns, carried into labels.csv."""

    path: str
    name: str
    kind: str  # "image" | "video"
    extra: tuple[tuple[str, str], ...] = ()


def kind_of(path: str | os.PathLike) -> str:
    return "image" if Path(path).suffix.lower() in IMAGE_EXTENSIONS else "video"


def _named(path: Path, base: Path, extra: tuple = ()) -> Input:
    try:
        rel = path.relative_to(base)
    except ValueError:
        rel = Path(path.name)
    return Input(str(path), rel.with_suffix("").as_posix(), kind_of(path), extra)


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _folder(folder: Path, exclude: Path | None) -> list[Input]:
    files = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if _hidden(rel) or p.suffix.lower() not in MEDIA_EXTENSIONS or not p.is_file():
            continue
        if exclude is not None and (p == exclude or exclude in p.parents):
            continue  # an output folder inside the input folder is not input
        files.append(p)
    if not files:
        raise InputNotFound(f"folder has no images or videos ({', '.join(sorted(MEDIA_EXTENSIONS))})", str(folder))
    return [_named(p, folder) for p in sorted(files, key=lambda p: p.relative_to(folder).as_posix())]


def _glob(pattern: str, exclude: Path | None) -> list[Input]:
    parts = Path(pattern).parts
    fixed = list(itertools.takewhile(lambda s: not _MAGIC.search(s), parts))
    base = Path(*fixed).resolve() if fixed else Path.cwd()
    files = sorted(Path(p).resolve() for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    files = [p for p in files if exclude is None or exclude not in p.parents]
    if not files:
        raise InputNotFound("matches no files", pattern)
    return [_named(p, base) for p in files]


def _manifest(csv_path: Path) -> list[Input]:
    import pandas as pd

    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorruptMedia(f"not a readable CSV manifest ({str(e).splitlines()[0]})", str(csv_path)) from None
    if MANIFEST_PATH_COLUMN not in df.columns:
        raise ConfigError(f"a manifest needs a {MANIFEST_PATH_COLUMN!r} column; it has {', '.join(df.columns)}",
                          str(csv_path))
    if df.empty:
        raise ConfigError("the manifest lists no files", str(csv_path))
    extra_cols = [c for c in df.columns if c != MANIFEST_PATH_COLUMN]
    written = [Path(p) for p in df[MANIFEST_PATH_COLUMN]]
    paths = [(csv_path.parent / p).resolve() for p in written]
    # a path written relative to the manifest (and inside its folder) is its own name; the others are
    # named relative to their common folder
    inside = [not w.is_absolute() and ".." not in w.parts for w in written]
    outside = [p.parent for p, i in zip(paths, inside) if not i]
    base = Path(os.path.commonpath(outside)) if outside else csv_path.parent
    return [_named(p, csv_path.parent.resolve() if i else base, tuple((c, str(row[c])) for c in extra_cols))
            for p, i, (_, row) in zip(paths, inside, df.iterrows())]


def collect(args: Sequence[str | os.PathLike], *, exclude: str | os.PathLike | None = None) -> list[Input]:
    """Every input named by `args`, in argument order, each file once.

    Raises InputNotFound for an argument that names nothing (a missing file or folder, a glob matching
    nothing); a file that is listed but unreadable is not an error here: it becomes a failed row.
    """
    if not args:
        raise ConfigError("no input given: name folders, globs, CSV manifests or files")
    skip = Path(exclude).resolve() if exclude is not None else None
    out: list[Input] = []
    for arg in args:
        text = os.fspath(arg)
        p = Path(text)
        if p.is_dir():
            out += _folder(p.resolve(), skip)
        elif p.is_file() and p.suffix.lower() == ".csv":
            out += _manifest(p.resolve())
        elif p.is_file():
            out.append(_named(p.resolve(), p.resolve().parent))
        elif _MAGIC.search(text):
            out += _glob(text, skip)
        else:
            raise InputNotFound("no such file, folder or glob", text)
    return _unique(out)


def _unique(items: Iterable[Input]) -> list[Input]:
    seen: set[str] = set()
    out = []
    for it in items:
        if it.path not in seen:
            seen.add(it.path)
            out.append(it)
    return out
