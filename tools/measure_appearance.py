"""Measure what a smile does to the skin's shading, in the canonical frame, from a neutral → smile clip.

Each frame's crop is carried onto the average face through its own landmarks (so every canonical pixel is
the same bit of skin in every frame); the log-brightness ratio smile / neutral is then read across the
nasolabial fold of configs/appearance.yaml (both sides, the middle of the fold) and in boxes beside the
eyes. It prints a smoothed profile across the fold and the least-squares groove (depth, width, ridge)
the rig's appearance model needs to make it under the clip's own light, and writes the ratio image to
--out for looking at. Only those few numbers go into the config; no pixels of the clip are kept.
Run: python tools/measure_appearance.py [--clip ../shared/media/smile_man.mp4] [--neutral 0 17] [--smile 30 60]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from reenact.config import MEDIA_DIR
from reenact.editors.rig.appearance import Appearance, anchor_points, spline
from reenact.editors.rig.basis import MIDLINE
from reenact.editors.rig.flow import rasterize_flow, warp
from reenact.editors.rig.mesh import crop_mesh, rest_points
from reenact.io import open_source
from reenact.stages.aligner import Aligner
from reenact.stages.au import load_model
from reenact.stages.landmarks import interocular
from reenact.stages.tracker import FaceTracker

SIZE = 256
STEPS = 31   # samples across the fold


def to_canonical_crop(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The crop's log brightness moved onto the average face, mesh triangle by triangle."""
    mesh = crop_mesh(SIZE)
    src = np.concatenate([landmarks[:, :2], mesh.ring]).astype(np.float32)
    dst = np.concatenate([rest_points(SIZE), mesh.ring]).astype(np.float32)
    flow = np.zeros((2, SIZE, SIZE), np.float32)
    rasterize_flow(flow, src, dst, mesh.triangles)
    grey = np.log(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) + 8.0)
    return warp(grey, flow)


def mean_canonical(clip: Path, first: int, last: int, tracker, aligner) -> tuple[np.ndarray, list]:
    frames, crops = [], []
    with open_source(str(clip)) as src:
        for frame in src:
            if frame.index > last:
                break
            if frame.index >= first:
                pts = tracker.detect(frame.image)
                if pts:
                    a = aligner.align(frame.image, pts[0])
                    frames.append(to_canonical_crop(a.crop, a.landmarks))
                    crops.append(a)
    return np.mean(frames, 0), crops


def profile(ratio: np.ndarray, curve: np.ndarray, half: float, steps: int, flip: bool) -> np.ndarray:
    """Mean of `ratio` along the middle of `curve` at signed offsets across it (+: the curve's right)."""
    tangent = np.gradient(curve, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) * (-1 if flip else 1)
    mid = curve[len(curve) // 5: 4 * len(curve) // 5]
    nrm = normal[len(curve) // 5: 4 * len(curve) // 5]
    v = np.linspace(-half, half, steps)
    at = (mid[:, None, :] + v[None, :, None] * nrm[:, None, :]).astype(np.float32)
    return cv2.remap(ratio, at[..., 0], at[..., 1], cv2.INTER_LINEAR).mean(0)


# boxes beside the subject's right outer eye corner (landmark 33), IOD; mirrored for the left eye
REGIONS = {"crow's feet": (-0.25, 0.0), "lower lid": (0.2, 0.15)}


def fit_groove(measured: np.ndarray, v: np.ndarray, cfg, light_y: float, normal_y: float, iod: float) -> str:
    """Least-squares groove for a log-ratio profile across a fold, averaged over both sides of the face:
    the model's −occlusion·depth·g(v − c, w) minus relief × the light × the slope of
    h = −depth·g(v − c, w) + ridge·g(v − c − o, s). Averaged over mirrored sides only the light's y part
    stays, seen through the y part of the fold's normal (`normal_y`)."""
    grids = np.meshgrid(np.arange(-0.16, 0.161, 0.02), np.arange(0.5, 3.01, 0.25), np.arange(0.03, 0.151, 0.01),
                        np.arange(0.04, 0.161, 0.02), np.array([0.04, 0.06, 0.08]), np.arange(0.0, 3.01, 0.25),
                        indexing="ij")
    c, d, w, o, s, r = (g.reshape(-1, 1) for g in grids)
    g = np.exp(-0.5 * ((v - c) / w) ** 2)
    h = -d * g + r * np.exp(-0.5 * ((v - c - o) / s) ** 2)
    slope = np.gradient(h, v * iod, axis=1)
    model = -cfg.occlusion * d * g - cfg.relief * light_y * normal_y * slope
    err = ((model - measured) ** 2).mean(1)
    k = int(np.argmin(err))
    return (f"centre {c[k, 0]:+.2f} IOD, depth {d[k, 0]:.2f} px, width {w[k, 0]:.3f} IOD, "
            f"ridge [{o[k, 0]:.2f}, {s[k, 0]:.2f}, {r[k, 0]:.2f}] (rms {np.sqrt(err[k]):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(MEDIA_DIR / "smile_man.mp4"))
    ap.add_argument("--neutral", type=int, nargs=2, default=(0, 17))
    ap.add_argument("--smile", type=int, nargs=2, default=(30, 60))
    ap.add_argument("--out", default="out/appearance_ratio.png")
    args = ap.parse_args()
    tracker, aligner = FaceTracker(static=True), Aligner()
    neutral, n_crops = mean_canonical(Path(args.clip), *args.neutral, tracker, aligner)
    smile, s_crops = mean_canonical(Path(args.clip), *args.smile, tracker, aligner)
    tracker.close()
    rest = rest_points(SIZE).astype(np.float64)
    iod = interocular(rest)
    ratio = cv2.GaussianBlur(smile - neutral, (0, 0), 1.0)
    # the head turns a little between the two: take the forehead's change as the light's, not the skin's
    forehead = ratio[int(rest[10, 1]) + 2:int(rest[151, 1]), int(rest[109, 0]):int(rest[338, 0])]
    ratio -= float(np.median(forehead))
    app = Appearance()
    cfg = app.cfg.patterns["nasolabial"]
    mirror_x = float(rest[list(MIDLINE), 0].mean())
    half = 0.3 * iod
    prof = []
    for flip in (False, True):
        pts = anchor_points(cfg.grooves[0], rest, iod)
        if flip:
            pts[:, 0] = 2 * mirror_x - pts[:, 0]
        curve = spline(pts)
        prof.append(profile(ratio, curve, half, STEPS, flip))
        if not flip:
            tangent = np.diff(curve[len(curve) // 5: 4 * len(curve) // 5], axis=0)
            normal_y = float((tangent[:, 0] / np.linalg.norm(tangent, axis=1)).mean())
    measured = np.mean(prof, 0)
    light = np.mean([app.light(a.crop, a.landmarks) for a in s_crops], 0)
    v = np.linspace(-half, half, STEPS)
    print("offset IOD   " + " ".join(f"{x / iod:+.2f}" for x in v))
    print("log ratio    " + " ".join(f"{x:+.2f}" for x in measured))
    print(f"light of the smile frames (x, y): {light[0]:+.2f} {light[1]:+.2f}")
    print("fitted groove: " + fit_groove(measured, v / iod, app.cfg, light[1], normal_y, iod))
    # how far the smile went, read by our estimator against the clip's own neutral
    model = load_model()
    mean_features = lambda crops: np.mean([model.features(a.landmarks) for a in crops], 0)  # noqa: E731
    delta = model.intensities(mean_features(s_crops), neutral=mean_features(n_crops))
    weighted = sum(w * delta[k] for k, w in cfg.aus.items())
    print("AU change: " + ", ".join(f"{k} {delta[k]:+.1f}" for k in cfg.aus)
          + f"; the fold's strength there: tanh({weighted:.2f} / {app.cfg.saturation}) = "
          f"{np.tanh(weighted / app.cfg.saturation):.2f} of its depth")
    for name, (dx, dy) in REGIONS.items():
        # a 0.1 × 0.1 IOD box at this offset from each outer eye corner, mirrored for the left eye
        vals = [ratio[int(rest[eye, 1] + dy * iod) - 2:int(rest[eye, 1] + dy * iod) + 3,
                      int(rest[eye, 0] + sign * dx * iod) - 2:int(rest[eye, 0] + sign * dx * iod) + 3].mean()
                for eye, sign in ((33, 1), (263, -1))]
        print(f"{name}: mean log ratio {np.mean(vals):+.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vis = np.clip(128 + 500 * ratio, 0, 255).astype(np.uint8)
    cv2.imwrite(str(out), vis)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
