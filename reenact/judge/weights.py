"""The judges' weights, hash-checked and decoded with numpy alone.

FaceExpressionNet: the two files face-api.js ships. The manifest (JSON) lists each tensor's name, shape
and dtype; the .bin holds them back to back in that order. Conv filters and the fc weights are stored as
uint8 and decoded as `q·scale + min` with the manifest's `quantization` fields; biases are plain
little-endian float32.
The fer judge: two tfjs graph models from @vladmandic/human (the face detector and the emotion net),
each a model.json (node list + weights manifest, unquantized float32/int32) and its .bin.
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

HUMAN_PACKAGE = "@vladmandic/human"
HUMAN_VERSION = "3.3.6"
# sha256 of the files as published in the npm package above (package/models/)
HUMAN_SHA256 = {
    "emotion.json": "56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2",
    "emotion.bin": "927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987",
    "blazeface.json": "cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f",
    "blazeface.bin": "dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72",
}

_BYTES = {"uint8": 1, "float32": 4, "int32": 4}
_PLAIN = {"float32": np.dtype(np.float32), "int32": np.dtype(np.int32)}   # stored little-endian, unquantized


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
    """Tensors by manifest name, in the manifest's shapes (filters HWIO, fc weights (in, out)); float32,
    or int32 where the manifest says so (e.g. a Mean's axes)."""
    out: dict[str, np.ndarray] = {}
    pos = 0
    for e in entries:
        q = e.get("quantization")
        dtype = q["dtype"] if q else e["dtype"]
        if not ((q and dtype == "uint8" and e["dtype"] == "float32") or (not q and dtype in _PLAIN)):
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
            values = np.frombuffer(data, "<" + _PLAIN[dtype].str[1:], n, pos).astype(_PLAIN[dtype])
        out[e["name"]] = values.reshape(e["shape"])
        pos = end
    if pos != len(data):
        raise IntegrityError(f"{len(data) - pos} bytes left over after the last tensor", where)
    return out


def read_graph_model(name: str, directory: Path = WEIGHTS_DIR) -> tuple[list[dict], dict[str, np.ndarray]]:
    """A human graph model, `name`.json and `name`.bin hash-checked: its nodes and its tensors (read-only)."""
    spec = json.loads(read_verified(directory / f"{name}.json", HUMAN_SHA256[f"{name}.json"], REPAIR))
    data = read_verified(directory / f"{name}.bin", HUMAN_SHA256[f"{name}.bin"], REPAIR)
    groups = spec["weightsManifest"]
    if [g["paths"] for g in groups] != [[f"{name}.bin"]]:
        raise IntegrityError(f"expected one weight group stored in {name}.bin; {REPAIR}",
                             str(directory / f"{name}.json"))
    tensors = decode(groups[0]["weights"], data, f"{name}.bin")
    for t in tensors.values():
        t.flags.writeable = False
    return spec["modelTopology"]["node"], tensors


@lru_cache(maxsize=1)
def load_weights() -> dict[str, np.ndarray]:
    """The shipped weights, decoded once per process (read-only arrays)."""
    entries, data = read_files()
    weights = decode(entries, data)
    for w in weights.values():
        w.flags.writeable = False
    return weights
