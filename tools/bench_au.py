"""Benchmark the AU estimator alone: milliseconds per face per frame (target ≤ 0.5 ms).

Landmarks come from tracking talking_man.mp4 once; the timed loop replays them for `--seconds` of pts
time at the clip's rate, so the baseline window (au.baseline_window_s) is full, as in a long video.
Run: python tools/bench_au.py [--media ../shared/media] [--seconds 30]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from reenact.tasks.analyze import packets
from reenact.stages.au import AUEstimator, load_model
from reenact.config import MEDIA_DIR, load_config
from reenact.pipeline.types import Frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--seconds", type=float, default=30.0, help="pts time to replay (default 30)")
    args = ap.parse_args()
    cfg = load_config()
    clip = [p for p in packets(Path(args.media) / "talking_man.mp4", cfg=cfg) if p.faces]
    step, tb = clip[1].frame.pts - clip[0].frame.pts, clip[0].frame.time_base
    dt = float(step * tb)
    n = int(args.seconds / dt)
    timed = [clip[i % len(clip)].with_(frame=Frame(clip[i % len(clip)].frame.image, i, i * step, tb))
             for i in range(n)]

    est = AUEstimator(cfg.au)
    per_frame = np.empty(n)
    for i, p in enumerate(timed):
        t0 = time.perf_counter()
        est.process(p)
        per_frame[i] = time.perf_counter() - t0
    steady = per_frame[int(cfg.au.baseline_window_s / dt):] * 1000.0

    model = load_model(cfg.au.features)
    lm = [p.faces[0].face.landmarks for p in clip]
    t0 = time.perf_counter()
    for x in lm:
        model.features(x)
    features_ms = (time.perf_counter() - t0) * 1000.0 / len(lm)

    print(f"AU estimator, {len(steady)} frames with a full {cfg.au.baseline_window_s:g} s window, 1 face:")
    print(f"  {steady.mean():.3f} ms per face per frame (median {np.median(steady):.3f}, "
          f"p95 {np.percentile(steady, 95):.3f}); target <= 0.5")
    print(f"  of which features (canonical fit + feature map): {features_ms:.3f} ms")
    print("  single image (static, still prior): ", end="")
    static = AUEstimator(cfg.au, static=True)
    t0 = time.perf_counter()
    for p in clip:
        static.process(p)
    print(f"{(time.perf_counter() - t0) * 1000.0 / len(clip):.3f} ms per face")


if __name__ == "__main__":
    main()
