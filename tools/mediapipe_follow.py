"""How far MediaPipe's re-tracked landmarks follow a plain image-space move of one face region.

Run: python tools/mediapipe_follow.py [--media DIR]

No editor is involved: each face is aligned, one region of the crop is shifted up by N px with
cv2.remap, and both crops are re-detected. "ideal" is the feature change a tracker that followed the
pixels exactly would give: the same forward displacement applied to the unwarped crop's landmarks and
read through the same canonical fit, so anything the band moves besides the feature's own points (a
ref point, a rigid fit point) is accounted for. follow = measured / ideal. The AU columns show what the
AU reading that feature makes of the move (neutral = the unwarped crop): ideal → measured intensity.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from reenact.stages.aligner import Aligner
from reenact.stages.au import load_model
from reenact.config import MEDIA_DIR
from reenact.stages.landmarks import interocular
from reenact.stages.tracker import FaceTracker
from reenact.pipeline.types import AU_INDEX

FACES = ("astronaut.png", "portrait_man.jpg", "jesper.jpg")
SHIFTS = (4, 8, 12)
BROW_LOW = {"r": [46, 53, 52, 65, 55], "l": [276, 283, 282, 295, 285]}
CORNERS = {"r": [33, 133], "l": [263, 362]}
UPPER_LID = {"r": [160, 159, 158], "l": [387, 386, 385]}
LOWER_LID = {"r": [144, 145, 153], "l": [373, 374, 380]}
CHEEK = {"r": [50, 118, 117, 205], "l": [280, 347, 346, 425]}
WING = {"r": [49, 48, 102], "l": [279, 278, 331]}
REGIONS = {  # region → (feature it should move, the AU that reads it)
    "brows": ("brow_inner", "AU01"), "upper lid": ("upper_lid", "AU05"), "lower lid": ("lower_lid", "AU07"),
    "cheeks": ("cheek", "AU06"), "nose wings": ("nose_wing", "AU09"), "mouth corners": ("corner_rise", "AU12"),
}


def ramp(v, lo, hi, r_lo, r_hi):
    """1 on [lo, hi], linear to 0 over r_lo below and r_hi above."""
    return np.clip(np.minimum((v - lo + r_lo) / r_lo, (hi + r_hi - v) / r_hi), 0.0, 1.0)


def weights(region: str, lm: np.ndarray, n: int, size: int) -> np.ndarray:
    """(size, size) share of the N px shift each source pixel gets."""
    X, Y = lm[:, 0], lm[:, 1]
    iod = interocular(lm)
    # a band moved up squeezes the skin above it; a top ramp shorter than N px would fold it over
    top_min = 1.5 * n
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    w = np.zeros((size, size), np.float32)
    for s in "rl":
        xo, xi = sorted(X[CORNERS[s]])
        ew = xi - xo
        if region == "brows":   # all rows above the brow's lower edge; stretches the brow-lid skin
            bottom = Y[UPPER_LID[s]].min() - 1.0
            y1 = min(Y[BROW_LOW[s]].max(), bottom - 1.0)
            cols = ramp(xx, -1e9, size / 2, 1.0, 1.0) if s == "r" else ramp(xx, size / 2, 1e9, 1.0, 1.0)
            box = cols * ramp(yy, -1e9, y1, 1.0, bottom - y1)
        elif region in ("upper lid", "lower lid"):
            # eye-local columns, 0 at the eye corners: the lids' ref points stay still
            cols = ramp(xx, xo + ew / 4, xi - ew / 4, ew / 4, ew / 4)
            lid = UPPER_LID[s] if region == "upper lid" else LOWER_LID[s]
            y0, y1 = Y[lid].min() - 1.0, Y[lid].max() + 1.0
            above = Y[BROW_LOW[s]].max() if region == "upper lid" else Y[UPPER_LID[s]].max()
            below = Y[LOWER_LID[s]].max() + 1.0 if region == "upper lid" else y1 + 0.25 * iod
            box = cols * ramp(yy, y0, y1, max(y0 - above, top_min), max(below - y1, 2.0))
        else:
            pts = {"cheeks": CHEEK[s], "nose wings": WING[s], "mouth corners": [61 if s == "r" else 291]}[region]
            pad = 4.0 if region == "mouth corners" else 2.0
            x0, x1, y0, y1 = X[pts].min() - pad, X[pts].max() + pad, Y[pts].min() - pad, Y[pts].max() + pad
            # cheeks ramp in from just below the lower lid; the others from a fixed 0.2 IOD
            top = y0 - Y[LOWER_LID[s]].max() - 2.0 if region == "cheeks" else 0.2 * iod
            side = 0.1 * iod if region == "nose wings" else 0.15 * iod
            box = ramp(xx, x0, x1, side, side) * ramp(yy, y0, y1, max(top, top_min), 0.2 * iod)
        w = np.maximum(w, box)
    return w


def warp(crop: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Forward move y → y − N·w(x, y), inverted per column into cv2.remap's backward map."""
    h, width = w.shape
    ys = np.arange(h, dtype=np.float32)
    map_y = np.empty_like(w)
    for x in range(width):
        map_y[:, x] = np.interp(ys, ys - n * w[:, x], ys)  # monotone: the ramps above never fold
    map_x = np.broadcast_to(np.arange(width, dtype=np.float32), (h, width)).copy()
    return cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def moved(lm: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """Landmarks carried exactly by the forward move: what a perfectly following tracker reports."""
    x = lm[:, 0:1].astype(np.float32).reshape(1, -1)
    y = lm[:, 1:2].astype(np.float32).reshape(1, -1)
    out = lm.copy()
    out[:, 1] -= n * cv2.remap(w, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).ravel()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    args = ap.parse_args()
    model, tracker, aligner = load_model(), FaceTracker(static=True), Aligner()
    names = list(model.feature_names)
    print(f"{'region':14}{'face':18}{'N px':>5}{'N/IOD':>8}{'ideal':>8}{'meas.':>8}{'follow':>8}"
          f"   {'AU':5}{'AU Δ':>7}{'onset':>7}  read ideal→meas.")
    shares: dict[str, list[float]] = {r: [] for r in REGIONS}
    for name in FACES:
        image = cv2.imread(str(Path(args.media) / name), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        crop = aligner.align(image, tracker.detect(image)[0]).crop
        # the reference is the re-detected crop, not the aligner's landmarks: both sides see 256 px
        lm0 = tracker.detect(crop)[0]
        f0, iod = model.features(lm0), interocular(lm0)
        for region, (feat, au) in REGIONS.items():
            fi, k = names.index(feat), AU_INDEX[au]
            for n in SHIFTS:
                w = weights(region, lm0, n, crop.shape[0])
                found = tracker.detect(warp(crop, w, n))
                f_ideal = model.features(moved(lm0, w, n))
                ideal = f_ideal[fi] - f0[fi]
                row = f"{region:14}{name:18}{n:5d}{n / iod:8.3f}{ideal:8.3f}"
                if not found:
                    print(row + "   face lost")
                    continue
                f1 = model.features(found[0])
                meas = f1[fi] - f0[fi]
                shares[region].append(100 * meas / ideal)
                au_move = model.direction[k] * (f1 - f0)[model.au_feature[k]]
                read_i, read_m = model.intensities(f_ideal, f0)[au], model.intensities(f1, f0)[au]
                print(row + f"{meas:8.3f}{shares[region][-1]:7.0f}%   {au:5}{au_move:7.3f}"
                      f"{model.onset[k]:7.3f}  {read_i:4.1f} → {read_m:3.1f}")
    print("\nmedian follow per region: " + ", ".join(f"{r} {np.median(s):.0f}%" for r, s in shares.items() if s))


if __name__ == "__main__":
    main()
