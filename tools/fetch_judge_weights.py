"""Fetch the expression judges' weights again from the npm registry, byte for byte, hash-checked.

`npm pack @vladmandic/face-api@1.7.15` and `npm pack @vladmandic/human@3.3.6` into a temporary folder,
read from the tarballs (nothing else is unpacked) package/model/face_expression_model.bin and
face_expression_model-weights_manifest.json, and package/models/emotion.{json,bin} and
blazeface.{json,bin}, check each against the sha256 recorded in reenact/judge/weights.py, and write them
into reenact/judge/weights/. The LICENSE notices there are this project's and stay as they are.
Run: python tools/fetch_judge_weights.py [--check] [--dest DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reenact.files import write_atomic  # noqa: E402
from reenact.judge.weights import (HUMAN_PACKAGE, HUMAN_SHA256, HUMAN_VERSION, NPM_PACKAGE, NPM_VERSION,  # noqa: E402
                                   SHA256, WEIGHTS_DIR)

# (npm spec, folder in its tarball, file → sha256)
SOURCES = ((f"{NPM_PACKAGE}@{NPM_VERSION}", "package/model", SHA256),
           (f"{HUMAN_PACKAGE}@{HUMAN_VERSION}", "package/models", HUMAN_SHA256))


def check(directory: Path) -> bool:
    ok = True
    for name, want in {**SHA256, **HUMAN_SHA256}.items():
        p = directory / name
        got = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
        why = "" if got == want else f"  ({'missing' if got is None else got})"
        print(f"{'ok' if got == want else 'BAD'}  {p}{why}")
        ok &= got == want
    return ok


def npm_pack(spec: str, folder: str) -> Path:
    """`npm pack SPEC` into `folder`: the package's tarball, as the npm registry serves it."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH; install Node.js (npm comes with it)")
    print(f"npm pack {spec}")
    res = subprocess.run([npm, "pack", spec], cwd=folder, capture_output=True, text=True)
    tarballs = list(Path(folder).glob("*.tgz"))
    if res.returncode or len(tarballs) != 1:
        sys.exit(f"npm pack {spec} failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return tarballs[0]


def fetch(dest: Path) -> None:
    files = {}
    with tempfile.TemporaryDirectory(prefix="judge_weights_") as tmp:
        for spec, folder, hashes in SOURCES:
            with tarfile.open(npm_pack(spec, tmp), "r:gz") as tar:
                for name, want in hashes.items():
                    member = tar.extractfile(f"{folder}/{name}")
                    data = member.read() if member else b""
                    got = hashlib.sha256(data).hexdigest()
                    if got != want:
                        sys.exit(f"{spec}: {folder}/{name} has sha256 {got}, expected {want}; nothing written")
                    files[name] = data
            for tarball in Path(tmp).glob("*.tgz"):
                tarball.unlink()
    for name, data in files.items():
        write_atomic(dest / name, data)
        print(f"wrote {dest / name} ({len(data):,} bytes, sha256 ok)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=str(WEIGHTS_DIR), help="folder to write into (default: the package's)")
    ap.add_argument("--check", action="store_true", help="only check the files already there")
    args = ap.parse_args()
    dest = Path(args.dest)
    if not args.check:
        fetch(dest)
    sys.exit(0 if check(dest) else 1)


if __name__ == "__main__":
    main()
