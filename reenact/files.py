"""Files the project writes and reads back: atomic writes and hash-checked reads (no pickle anywhere)."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from .errors import InputNotFound, IntegrityError, OutputNotWritable


def user_cache_dir() -> Path:
    """Where run-time files go (measurements, TensorRT plans, tracked frames): $REENACT_CACHE_DIR, else
    ~/.cache/reenact. Never the installed package or the checkout."""
    return Path(os.environ.get("REENACT_CACHE_DIR") or Path.home() / ".cache" / "reenact")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PartFile:
    """A hidden temporary file beside `path`: `commit()` renames it onto path, `discard()` deletes it.

    The one way this project writes a file: a failed or interrupted write never leaves a partial one.
    The name keeps the extension last so FFmpeg and OpenCV pick the format from it.
    """

    def __init__(self, path: Path):
        if path.is_dir():
            raise OutputNotWritable("is a folder, not a file name", str(path))
        self.tmp = path.with_name(f".{path.name}.part-{secrets.token_hex(4)}{path.suffix}")
        self.path = path
        try:
            # O_EXCL: never clobber; 0o666 lets the umask decide the final file's permissions
            os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileNotFoundError:
            # a folder that exists but takes no new files (/proc) answers ENOENT too
            why = "cannot create files in the output folder" if path.parent.is_dir() else "output folder does not exist"
            raise OutputNotWritable(why, str(path)) from None
        except NotADirectoryError:
            raise OutputNotWritable("output folder is not a folder", str(path)) from None
        except OSError as e:
            raise OutputNotWritable(f"cannot write to the output folder ({e.strerror})", str(path)) from None

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


def check_writable(path: str | os.PathLike) -> None:
    """Raise OutputNotWritable now, not after the work, when `path` cannot be written."""
    PartFile(Path(path)).discard()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a PartFile, making the folder first (caches, model folders)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(f"cannot make the output folder ({e.strerror})", str(path)) from None
    part = PartFile(path)
    try:
        part.tmp.write_bytes(data)
        part.commit()
    except BaseException:
        part.discard()
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
