"""Calibrate the rig against real motion: `python -m reenact.editors.rig.calibrate`.

Real faces from ../shared/media show what an AU reading means in distance: smile_man.mp4 goes from rest
(frames REST) to a broad smile with teeth (frames SMILE), and talking_man.mp4 opens and closes its mouth
with speech. MediaPipe tracks every frame, the mesh goes into the rig's canonical frame, and our
estimator reads each frame against the clip's own neutral (its resting-side percentile), as it reads a
video. Each sample is then a displacement from rest with the AUs read on it. The gains of the AUs those
clips show (FITTED) are fitted so that the rig's fields, at the readings, move the mesh the way the real
face moved (see `fit`): one unit of an AU is the motion a real face shows at that reading, in both
directions, which is what a whole-face preset needs to take a smile away.
The other AUs keep gain 1: their `amount`s are FACS distances (see the head of configs/rig_basis.yaml).
The result (gains, how much of the real motion the fit explains, the largest real motions) goes into
the `calibration:` block at the end of rig_basis.yaml. Going through the landmarks matters less than
it did for the old estimator-readback calibration: real motion is what MediaPipe follows best.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ...config import MEDIA_DIR, config_path, read_yaml
from ...pipeline.types import AU_INDEX, AU_NAMES
from .basis import BASIS_FILE, build_basis
from .mesh import N_MESH

# AU26 is not among them: on real footage the jaw's reading moves with the lips' (talking_man.mp4: r 0.91),
# so the clips cannot tell the two apart, and the jaw keeps FACS's distance per unit
FITTED = ("AU06", "AU12", "AU25")
SMILE_CLIP, REST, SMILE = "smile_man.mp4", range(0, 15), range(30, 50)
SPEECH_CLIP = "talking_man.mp4"
# regions whose largest real motion is recorded (landmark ids), to hold the basis' max_move against
REGIONS = {"mouth corners": (61, 291), "lips": (0, 13, 14, 17), "chin": (152, 175), "cheeks": (205, 425, 50, 280),
           "lower lids": (145, 374), "brows": (105, 334, 66, 296)}
MARK = "# --- calibration"


def track(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames, 478, 3) canonical meshes and (frames, 17) AU readings against the clip's own neutral."""
    from ...io import open_source
    from ...stages.au import load_model
    from ...stages.geometry import to_canonical
    from ...stages.tracker import FaceTracker
    from ...config import load_config

    cfg = load_config()
    model = load_model(cfg.au.features)
    tracker = FaceTracker(cfg.tracker)
    meshes, feats = [], []
    try:
        with open_source(str(path)) as src:
            for frame in src:
                pts = tracker.detect(frame.image)
                if pts:
                    meshes.append(to_canonical(pts[0])[0])
                    feats.append(model.features(pts[0]))
    finally:
        tracker.close()
    feats = np.stack(feats)
    neutral = model.baseline(feats, cfg.au.baseline_percentile)
    return np.stack(meshes), np.stack([model.intensities(f, neutral).values for f in feats])


def samples(media: Path) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(N, 468, 3) displacements from rest and (N, 17) readings: the smile (one sample, the mean of its
    frames against the mean of the rest frames) and every speech frame against the speech clip's rest
    (its frames where the mouth AUs read below 0.3)."""
    meshes, au = track(media / SMILE_CLIP)
    disp = [meshes[list(SMILE)].mean(0) - meshes[list(REST)].mean(0)]
    reads = [au[list(SMILE)].mean(0) - au[list(REST)].mean(0)]
    meshes, au = track(media / SPEECH_CLIP)
    mouth = [AU_INDEX["AU25"], AU_INDEX["AU26"]]
    rest = au[:, mouth].max(1) < 0.3
    disp += list(meshes - meshes[rest].mean(0))
    reads += list(au - au[rest].mean(0))
    return np.stack(disp)[:, :N_MESH], np.stack(reads), {SMILE_CLIP: 1, SPEECH_CLIP: len(meshes)}


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x through the origin."""
    return float(x @ y / max(float(x @ x), 1e-12))


def fit(spec: dict, disp: np.ndarray, reads: np.ndarray) -> dict:
    """Gains of FITTED, each on what its reading measures:
      AU25  the inner-lip gap (13–14) per unit read, over every sample: what our estimator reads as
            lips parting, the rig opens by as much, whether to open or to close a mouth (a still's
            smile reads AU25 alone, so AU25 alone must close it)
      AU06, AU12  the smile sample, least squares over all mesh points after the other AUs' share.
    """
    unit = build_basis(spec, calibration={})
    fields = (unit.right + unit.left)[:, :N_MESH]          # both sides at once, per unit
    k25, k06, k12 = (AU_INDEX[a] for a in ("AU25", "AU06", "AU12"))
    gains = {a: 1.0 for a in AU_NAMES}
    gap = disp[:, 14, 1] - disp[:, 13, 1]
    gains["AU25"] = _slope(reads[:, k25], gap) / float(fields[k25, 14, 1] - fields[k25, 13, 1])
    g = np.array([gains[a] for a in AU_NAMES])
    smile = disp[0] - np.einsum("k,kvd->vd", reads[0] * g * (np.arange(len(g)) != k06) * (np.arange(len(g)) != k12),
                                fields)
    cols = np.stack([reads[0, k] * fields[k] for k in (k06, k12)], -1).reshape(-1, 2)
    g612, *_ = np.linalg.lstsq(cols, smile.reshape(-1), rcond=None)
    gains["AU06"], gains["AU12"] = (float(max(v, 0.0)) for v in g612)
    model = np.einsum("nk,kvd->nvd", reads * np.array([gains[a] for a in AU_NAMES]), fields)
    explained = {}
    for name, rows in (("smile", slice(0, 1)), ("speech", slice(1, None))):
        total = float((disp[rows] ** 2).sum())
        explained[name] = 1 - float(((disp[rows] - model[rows]) ** 2).sum()) / total if total else 0.0
    largest = {r: float(np.linalg.norm(disp[:, list(ids), :2], axis=-1).max()) for r, ids in REGIONS.items()}
    return {"gain": gains, "explained": explained, "largest": largest}


def write_calibration(cal: dict, counts: dict[str, int]) -> Path:
    path = config_path(BASIS_FILE)
    head = path.read_text(encoding="utf-8").split(MARK)[0].rstrip() + "\n\n"
    lines = [f"{MARK}: written by `python -m reenact.editors.rig.calibrate`, do not edit by hand ---",
             f"# Fitted on real motion: {SMILE_CLIP} (rest frames {REST.start}–{REST.stop - 1}, smile "
             f"{SMILE.start}–{SMILE.stop - 1}) and {SPEECH_CLIP} ({counts[SPEECH_CLIP]} frames), meshes in the",
             "# canonical frame, AUs read against each clip's own neutral. gain: the scale of the fields of",
             f"# {', '.join(FITTED)} (the others stay 1: FACS distances; how each is fitted: calibrate.fit). explained: the share of the",
             "# real motion (sum of squares over the mesh) the fitted rig reproduces. largest: the largest real",
             "# motion seen per region (IOD), the yardstick for max_move.",
             "calibration:",
             "  gain:"]
    lines += [f"    {a}: {cal['gain'][a]:.3f}" for a in AU_NAMES if a in FITTED]
    lines.append("  explained: {" + ", ".join(f"{k}: {v:.2f}" for k, v in cal["explained"].items()) + "}")
    lines.append("  largest:")
    lines += [f"    {r}: {v:.3f}" for r, v in cal["largest"].items()]
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    args = ap.parse_args(argv)
    disp, reads, counts = samples(Path(args.media))
    cal = fit(read_yaml(BASIS_FILE), disp, reads)
    print(f"wrote {write_calibration(cal, counts)}")
    for a in FITTED:
        print(f"{a}: gain {cal['gain'][a]:.3f}")
    print("explained: " + ", ".join(f"{k} {v:.2f}" for k, v in cal["explained"].items()))
    print("largest real motion (IOD): " + ", ".join(f"{k} {v:.3f}" for k, v in cal["largest"].items()))


if __name__ == "__main__":
    main()
