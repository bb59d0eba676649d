"""Files the project writes and reads back: atomic writes and hash-checked reads (no pickle anywhere)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .errors import InputNotFound, IntegrityError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_verified(path: Path, sha256: str, rebuild: str) -> bytes:
    """The file's bytes, read once and hashed, so what is checked is what gets loaded."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputNotFound(f"missing; {rebuild}", str(path)) from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise IntegrityError(f"sha256 {actual[:12]}… does not match the recorded {sha256[:12]}…: the file is "
                             f"corrupted or was changed; {rebuild}", str(path))
    return data
