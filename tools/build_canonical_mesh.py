"""Build configs/canonical_mesh.npy: the Procrustes mean of real neutral faces from ../shared/media.

Inputs (all at rest, mouth closed): astronaut.png, portrait_man.jpg, takeo.ppm, smile_man.mp4 frames
0–15 and talking_man.mp4 frames where the inner lips touch. Each face is fitted by a similarity to the
running mean over all 478 points (generalised Procrustes, 10 rounds), then the mean is frontalised
(eye line horizontal, forehead→chin vertical) and scaled to unit inter-ocular distance.
Run: python tools/build_canonical_mesh.py [--media ../shared/media]
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np
import yaml

from reenact.config import CONFIG_DIR, TrackerConfig
from reenact.geometry import frontalize, similarity_fit
from reenact.landmarks import INNER_LIPS, interocular
from reenact.tracker import FaceTracker


def _images(media: Path):
    for name in ("astronaut.png", "portrait_man.jpg", "takeo.ppm"):
        yield cv2.cvtColor(cv2.imread(str(media / name)), cv2.COLOR_BGR2RGB)
    import av

    for name, frames in (("smile_man.mp4", range(0, 16)), ("talking_man.mp4", range(0, 237, 3))):
        with av.open(str(media / name)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i in frames:
                    yield f.to_ndarray(format="rgb24")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "media"))
    args = ap.parse_args()
    tracker = FaceTracker(TrackerConfig(), static=True)
    shapes = []
    for img in _images(Path(args.media)):
        for pts in tracker.detect(img)[:1]:
            gap = np.linalg.norm(pts[INNER_LIPS[0], :2] - pts[INNER_LIPS[1], :2]) / interocular(pts)
            if gap < 0.03:  # closed mouth only: a neutral reference
                shapes.append(pts.astype(np.float64))
    mean = shapes[0].copy()
    for _ in range(10):
        fitted = []
        for s in shapes:
            k, r, t = similarity_fit(s, mean)
            fitted.append(k * s @ r.T + t)
        mean = frontalize(np.mean(fitted, 0)).astype(np.float64)
    mesh = frontalize(mean)
    out = CONFIG_DIR / "canonical_mesh.npy"
    np.save(out, mesh, allow_pickle=False)
    assets_path = CONFIG_DIR / "assets.yaml"
    assets = yaml.safe_load(assets_path.read_text()) if assets_path.exists() else {}
    assets["canonical_mesh.npy"] = {
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "made_by": "tools/build_canonical_mesh.py",
        "faces": len(shapes),
    }
    assets_path.write_text("# Data files under configs/ and their sha256; checked on load.\n"
                           + yaml.safe_dump(assets, sort_keys=False))
    print(f"wrote {out} from {len(shapes)} neutral faces")


if __name__ == "__main__":
    main()
