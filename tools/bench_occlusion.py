"""Benchmark the occlusion stage on aligned crops of talking_man.mp4, with and without an occluder.

Tracking and alignment run once, outside the timing. Times are CPU time of this process (the machines
here are shared, and CPU time is what the stage takes from the others). "with occluder": a blue/green
striped patch pasted over half the mouth, as in tests/test_occlusion.py, timed with the editor stage's
`hide_occluded` applied to a `happy` rig edit.
Run: python tools/bench_occlusion.py [--media ../shared/media] [--frames 24]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import numpy as np

from reenact.config import MEDIA_DIR, load_config
from reenact.editors import EditRequest, create_editor
from reenact.stages.aligner import Aligner
from reenact.stages.au import AUEstimator
from reenact.stages.occlusion import OcclusionStage, hide_occluded
from reenact.stages.targets import presets
from reenact.stages.tracker import FaceTracker


def striped(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The image with blue and green stripes over the subject's right half of the mouth."""
    out = image.copy()
    x0, x1 = int(landmarks[61, 0]) - 10, int(0.5 * (landmarks[61, 0] + landmarks[291, 0]))
    y0, y1 = int(0.5 * (landmarks[2, 1] + landmarks[0, 1])), int(0.5 * (landmarks[17, 1] + landmarks[152, 1]))
    blue = (np.arange(x1 - x0) // 4) % 2 == 1
    out[y0:y1, x0:x1][:, blue] = (20, 60, 200)
    out[y0:y1, x0:x1][:, ~blue] = (30, 170, 60)
    return out


def cpu_ms(fn, repeat: int) -> np.ndarray:
    out = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out.append((time.process_time() - t) * 1000)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    tracker, aligner, est = FaceTracker(static=True), Aligner(), AUEstimator(static=True)
    stage, editor = OcclusionStage(load_config().occlusion), create_editor("rig", memory=False)
    happy = presets()["happy"]
    plain, occluded, hidden = [], [], []
    with av.open(str(Path(args.media) / "talking_man.mp4")) as clip:
        for i, frame in enumerate(clip.decode(video=0)):
            if i >= args.frames * 8:
                break
            if i % 8:
                continue
            image = frame.to_ndarray(format="rgb24")
            pts = tracker.detect(image)[0]
            a, b = aligner.align(image, pts), aligner.align(striped(image, pts), pts)
            plain.append(cpu_ms(lambda: stage.occluded(a), args.repeat))
            occluded.append(cpu_ms(lambda: stage.occluded(b), args.repeat))
            source = est.model.intensities(est.model.features(pts))
            req = EditRequest(crop=b.crop, landmarks=b.landmarks, source=source, target=happy.resolve(source))
            edit, mask = editor.edit(req), stage.occluded(b)
            hidden.append(cpu_ms(lambda: hide_occluded(edit, b.crop, mask), args.repeat))
    tracker.close()
    for name, ts in (("no occluder", plain), ("with occluder", occluded), ("hide_occluded", hidden)):
        t = np.concatenate(ts)
        print(f"{name:14s} median {np.median(t):.2f} ms, p90 {np.percentile(t, 90):.2f} ms per face (CPU time)")


if __name__ == "__main__":
    main()
