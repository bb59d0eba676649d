"""Build configs/canonical_mesh.npy: the Procrustes mean of real neutral faces from ../shared/media.

Inputs: the relaxed, mouth-closed frames of the two people filmed at rest, smile_man.mp4 frames 0–15
and talking_man.mp4 every third frame where the inner lips touch. The stills (astronaut.png,
portrait_man.jpg, takeo.ppm, jesper.jpg, smile_man.jpg) all smile, so none is a neutral reference.
Each face is fitted by a similarity to the running mean over all 478 points (generalised Procrustes,
10 rounds); each person's frames are averaged first, so every person weighs the same whatever their
frame count. The mean is then frontalised (eye line horizontal, forehead→chin vertical) and scaled to
unit inter-ocular distance.
Run: python tools/build_canonical_mesh.py [--media ../shared/media]
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import yaml

from reenact.config import CONFIG_DIR, MEDIA_DIR, TrackerConfig
from reenact.files import sha256_bytes, write_atomic
from reenact.stages.geometry import frontalize, similarity_fit
from reenact.stages.landmarks import INNER_LIPS, interocular
from reenact.stages.tracker import FaceTracker

# clip → frames that may be neutral; the closed-mouth check below has the last word
NEUTRAL_CLIPS = (("smile_man.mp4", range(0, 16)), ("talking_man.mp4", range(0, 237, 3)))


def _frames(path: Path, frames: range):
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in frames:
                yield f.to_ndarray(format="rgb24")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    args = ap.parse_args()
    tracker = FaceTracker(TrackerConfig(), static=True)
    people: list[list[np.ndarray]] = []
    for name, frames in NEUTRAL_CLIPS:
        shapes = []
        for img in _frames(Path(args.media) / name, frames):
            for pts in tracker.detect(img)[:1]:
                gap = np.linalg.norm(pts[INNER_LIPS[0], :2] - pts[INNER_LIPS[1], :2]) / interocular(pts)
                if gap < 0.03:  # closed mouth only: a neutral reference
                    shapes.append(pts.astype(np.float64))
        people.append(shapes)
    mean = people[0][0].copy()
    for _ in range(10):
        person_means = []
        for shapes in people:
            fitted = []
            for s in shapes:
                k, r, t = similarity_fit(s, mean)
                fitted.append(k * s @ r.T + t)
            person_means.append(np.mean(fitted, 0))
        mean = frontalize(np.mean(person_means, 0)).astype(np.float64)
    mesh = frontalize(mean)
    out = CONFIG_DIR / "canonical_mesh.npy"
    buf = io.BytesIO()
    np.save(buf, mesh, allow_pickle=False)
    write_atomic(out, buf.getvalue())
    assets_path = CONFIG_DIR / "assets.yaml"
    assets = yaml.safe_load(assets_path.read_text()) if assets_path.exists() else {}
    counts = {name: len(s) for (name, _), s in zip(NEUTRAL_CLIPS, people)}
    assets["canonical_mesh.npy"] = {
        "sha256": sha256_bytes(buf.getvalue()),
        "made_by": "tools/build_canonical_mesh.py",
        "faces": sum(counts.values()),
        "people": len(people),
    }
    write_atomic(assets_path, ("# Data files under configs/ and their sha256; checked on load.\n"
                               + yaml.safe_dump(assets, sort_keys=False)).encode())
    print(f"wrote {out} from {len(people)} people, neutral frames per clip: {counts}")


if __name__ == "__main__":
    main()
