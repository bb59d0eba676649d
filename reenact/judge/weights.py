"""FaceExpressionNet's weights: the two files face-api.js ships, hash-checked and decoded with numpy alone.

The manifest (JSON) lists each tensor's name, shape and dtype; the .bin holds them back to back in that
order. Conv filters and the fc weights are stored as uint8 and decoded as `q·scale + min` with the
manifest's `quantization` fields; biases are plain little-endian float32.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import IntegrityError
from ..files import read_verified

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
NPM_PACKAGE = "@vladmandic/face-api"
NPM_VERSION = "1.7.15"
MANIFEST = "face_expression_model-weights_manifest.json"
BIN = "face_expression_model.bin"
# sha256 of the files as published in the npm package above (package/model/)
SHA256 = {
    BIN: "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
    MANIFEST: "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
}
BIN_SIZE = 329_468
REPAIR = "fetch them again with `python tools/fetch_judge_weights.py`"

_BYTES = {"uint8": 1, "float32": 4}


def read_files(directory: Path = WEIGHTS_DIR) -> tuple[list[dict], bytes]:
    """The manifest's tensor entries and the .bin's bytes, each checked against its recorded sha256.

    A missing file raises InputNotFound, an altered one IntegrityError; both name the file and the fix.
    """
    manifest = read_verified(directory / MANIFEST, SHA256[MANIFEST], REPAIR)
    data = read_verified(directory / BIN, SHA256[BIN], REPAIR)
    groups = json.loads(manifest)
    if [g["paths"] for g in groups] != [[BIN]]:
        raise IntegrityError(f"expected one weight group stored in {BIN}; {REPAIR}", str(directory / MANIFEST))
    return groups[0]["weights"], data


def decode(entries: list[dict], data: bytes, where: str = BIN) -> dict[str, np.ndarray]:
    """Tensors by manifest name, float32, in the manifest's shapes (filters HWIO, fc weights (in, out))."""
    out: dict[str, np.ndarray] = {}
    pos = 0
    for e in entries:
        q = e.get("quantization")
        dtype = q["dtype"] if q else e["dtype"]
        if dtype not in _BYTES or e["dtype"] != "float32":
            raise IntegrityError(f"{e['name']}: unsupported dtype {dtype}", where)
        n = int(np.prod(e["shape"], dtype=np.int64))
        end = pos + n * _BYTES[dtype]
        if end > len(data):
            raise IntegrityError(f"{e['name']} runs past the end of the file ({end} > {len(data)} bytes)", where)
        if q:
            raw = np.frombuffer(data, np.uint8, n, pos)
            # tfjs decodes in double precision and stores float32; so does this
            values = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
        else:
            values = np.frombuffer(data, "<f4", n, pos).astype(np.float32)
        out[e["name"]] = values.reshape(e["shape"])
        pos = end
    if pos != len(data):
        raise IntegrityError(f"{len(data) - pos} bytes left over after the last tensor", where)
    return out


@lru_cache(maxsize=1)
def load_weights() -> dict[str, np.ndarray]:
    """The shipped weights, decoded once per process (read-only arrays)."""
    entries, data = read_files()
    weights = decode(entries, data)
    for w in weights.values():
        w.flags.writeable = False
    return weights
