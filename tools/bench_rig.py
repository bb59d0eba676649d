"""Benchmark the rig editor's edit step on 256² crops: coefficients, mesh, flow, appearance, fills, warp and blend.

Tracking and alignment run once, outside the timing. Reports the median and 90th percentile ms per
crop for each preset on each face, and a split of the median into stages.
Run: python tools/bench_rig.py [--media ../shared/media] [--repeat 30] [--no-appearance] [--cpu]
(--cpu: this process's CPU time instead of wall time, steadier on a shared, loaded machine)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from reenact.config import MEDIA_DIR
from reenact.stages.aligner import Aligner
from reenact.stages.au import AUEstimator
from reenact.editors.base import EditRequest
from reenact.editors.rig.editor import RigEditor
from reenact.editors.rig.deform import deform, dense_flow
from reenact.editors.rig.solve import coefficients, smile_share
from reenact.editors.rig.memory import TextureMemory, openness
from reenact.io import load_image
from reenact.stages.targets import presets
from reenact.stages.tracker import FaceTracker

FACES = ("astronaut.png", "portrait_man.jpg", "jesper.jpg")


def requests(media: Path):
    tracker, aligner, est = FaceTracker(static=True), Aligner(), AUEstimator(static=True)
    for name in FACES:
        image = load_image(media / name)
        pts = tracker.detect(image)[0]
        a = aligner.align(image, pts)
        source = est.model.intensities(est.model.features(pts))
        for preset, target in presets().items():
            if preset != "neutral":
                yield name, preset, target, EditRequest(crop=a.crop, landmarks=a.landmarks, source=source,
                                                         target=target.resolve(source), side=target.side)
    tracker.close()


CLOCK = time.perf_counter


def ms(fn, repeat: int) -> np.ndarray:
    out = []
    for _ in range(repeat):
        t = CLOCK()
        fn()
        out.append((CLOCK() - t) * 1000)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--no-appearance", action="store_true", help="without the creases layer (rig.appearance)")
    ap.add_argument("--cpu", action="store_true", help="time CPU time of this process, not wall time")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.cpu else time.perf_counter
    ed = RigEditor(memory=False, appearance=False if args.no_appearance else None)
    totals, stages = [], {"mesh": [], "flow": [], "appearance": [], "fills": [], "warp+blend": []}
    print(f"{'face':18s} {'preset':9s} {'median':>7s} {'p90':>7s}  ms per 256² crop")
    for name, preset, target, req in requests(Path(args.media)):
        ed.edit(req)  # warm caches (mesh topology, basis, grids)
        t = ms(lambda: ed.edit(req), args.repeat)
        totals.append(np.median(t))
        print(f"{name:18s} {preset:9s} {np.median(t):7.2f} {np.percentile(t, 90):7.2f}")
        right, left = coefficients(req.source, req.target, ed.basis, req.side)
        smile = smile_share(req.source, req.target)
        d = deform(req.landmarks, right, left, ed.basis, req.crop.shape[0], smile)
        opened = openness(req.landmarks)
        plan = ed.plan(req, right, left, TextureMemory(), opened)
        mesh = ms(lambda: deform(req.landmarks, right, left, ed.basis, 256, smile), args.repeat)
        stages["mesh"].append(np.median(mesh))
        stages["flow"].append(np.median(ms(lambda: dense_flow(d, 256), args.repeat)))
        flow, _, box = dense_flow(d, 256)
        shading = (lambda: ed.appearance.shading(req.crop, d, flow, box, right, left)) if ed.appearance else (lambda: None)
        stages["appearance"].append(np.median(ms(shading, args.repeat)))
        stages["fills"].append(np.median(ms(lambda: ed.plan(req, right, left, TextureMemory(), opened), args.repeat))
                               - stages["mesh"][-1] - stages["flow"][-1] - stages["appearance"][-1])
        stages["warp+blend"].append(np.median(ms(lambda: ed.render(req.crop, plan), args.repeat)))
    print(f"\nall presets and faces: median {np.median(totals):.2f} ms, worst {np.max(totals):.2f} ms per crop")
    print("split of the median: " + ", ".join(f"{k} {np.median(v):.2f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
