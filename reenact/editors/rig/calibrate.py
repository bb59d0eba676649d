"""Calibrate the rig against our own AU estimator, through the image: `python -m reenact.editors.rig.calibrate`.

For each AU the rig renders the AU at a test intensity on real faces from ../shared/media, MediaPipe
re-tracks the edited crop, and the estimator reads the AU's signed change relative to the unedited crop
(its features as the neutral, so a face the population neutral already reads as saturated still counts).
The AU's gain is scaled until the median reading equals the intensity asked for, within the anatomical
cap `max_move` (IOD at intensity 5) that the basis file sets per AU. Going through the image matters:
MediaPipe follows a warped brow or cheek only part of the way, and that is what the estimator sees.
Every AU is then rendered once more with its gain and all 17 readings are kept, to show how it reads
on the others. Both go into the `calibration:` block at the end of rig_basis.yaml.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ...stages.au import AUModel, load_model
from ...config import MEDIA_DIR, config_path, read_yaml
from ...pipeline.types import AU_NAMES, AUVector
from .basis import BASIS_FILE, build_basis

# still images and clip frames (name, frame index or None) whose faces the gains are fitted on
FACES = (("smile_man.mp4", 5), ("talking_man.mp4", 0), ("astronaut.png", None), ("portrait_man.jpg", None),
         ("jesper.jpg", None))
MARK = "# --- calibration"


def load_faces(media: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(aligned crop, crop landmarks) for each calibration face."""
    from ...stages.aligner import Aligner
    from ...io import open_source
    from ...stages.tracker import FaceTracker

    tracker, aligner = FaceTracker(static=True), Aligner()
    out = []
    for name, index in FACES:
        with open_source(str(media / name)) as src:
            frame = next(f for i, f in enumerate(src) if index is None or i == index)
        pts = tracker.detect(frame.image)
        if pts:
            a = aligner.align(frame.image, pts[0])
            out.append((a.crop, a.landmarks))
    tracker.close()
    return out


def signed_reading(model: AUModel, features: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Per-AU reading of `features` against `neutral`, mirrored below zero instead of clipped there.

    Positive: what the estimator reads (onset dead zone included, no cap at 5); negative: how far the
    feature moved the other way, on the same scale, so an AU pushed against its direction shows.
    """
    k = model.au_feature
    move = model.direction * (features[k] - neutral[k])
    return np.sign(move) * np.maximum(np.abs(move) - model.onset, 0) * 5.0 / (model.full - model.onset)


def response(editor, tracker, model: AUModel, faces, coeff: np.ndarray) -> np.ndarray:
    """(faces, 17) signed readings when `editor` applies basis coefficients `coeff` (both sides)."""
    from ..base import EditRequest

    rows = []
    for crop, lm in faces:
        base = tracker.detect(crop)
        req = EditRequest(crop=crop, landmarks=lm, source=AUVector.zeros(), target=AUVector.zeros())
        seen = tracker.detect(editor.apply(req, coeff, coeff).crop)
        if base and seen:
            rows.append(signed_reading(model, model.features(seen[0]), model.features(base[0])))
    return np.array(rows)


def calibrate(faces, spec: dict, intensity: float = 3.0, rounds: int = 4) -> dict:
    """Per-AU gains (reading back `intensity`, within max_move) and the cross-reading matrix."""
    from .editor import RigEditor
    from ...stages.tracker import FaceTracker

    model = load_model()
    tracker = FaceTracker(static=True)
    n = len(AU_NAMES)
    unit = build_basis(spec, calibration={})
    peak = np.maximum(np.abs(unit.right).max(axis=(1, 2)), np.abs(unit.left).max(axis=(1, 2)))
    gains = {au: 1.0 for au in AU_NAMES}
    for k, au in enumerate(AU_NAMES):
        cap = float(spec["aus"][au].get("max_move", 1.0)) / (5.0 * max(float(peak[k]), 1e-6))
        coeff = np.zeros(n)
        coeff[k] = intensity
        for _ in range(rounds):
            editor = RigEditor(basis=build_basis(spec, calibration={"gain": gains}), memory=False)
            got = float(np.median(response(editor, tracker, model, faces, coeff)[:, k]))
            if abs(got - intensity) < 0.1 * intensity or (got > 0 and gains[au] >= cap):
                break
            step = intensity / got if got > 0.05 * intensity else 3.0
            gains[au] = float(np.clip(gains[au] * np.clip(step, 0.5, 3.0), 0.2, cap))
    editor = RigEditor(basis=build_basis(spec, calibration={"gain": gains}), memory=False)
    readout = np.zeros((n, n))
    for k in range(n):
        coeff = np.zeros(n)
        coeff[k] = intensity
        readout[:, k] = np.median(response(editor, tracker, model, faces, coeff), axis=0) / intensity
    tracker.close()
    return {"intensity": intensity, "faces": len(faces), "gain": gains,
            "readout": {a: [round(float(x), 3) for x in readout[j]] for j, a in enumerate(AU_NAMES)}}


def write_calibration(cal: dict) -> Path:
    path = config_path(BASIS_FILE)
    head = path.read_text(encoding="utf-8").split(MARK)[0].rstrip() + "\n\n"
    diag = {a: cal["readout"][a][j] for j, a in enumerate(AU_NAMES)}
    lines = [f"{MARK}: written by `python -m reenact.editors.rig.calibrate`, do not edit by hand ---",
             f"# Each AU was rendered at {cal['intensity']:g} on {cal['faces']} real faces, re-tracked by MediaPipe",
             "# and read by our estimator against the unedited face. gain: basis scale that makes the reading",
             "# the intensity asked for, unless max_move stops it first (then `reads` is under 1 per unit).",
             "# readout (for the record; the rig does not use it): row = AU read, columns = AU applied",
             "# (AU_NAMES order), median signed reading per applied unit.",
             "calibration:",
             f"  intensity: {cal['intensity']:g}",
             f"  faces: {cal['faces']}",
             "  gain:"]
    lines += [f"    {a}: {cal['gain'][a]:.3f}   # reads {diag[a]:.2f} per unit" for a in AU_NAMES]
    lines.append("  readout:")
    lines += [f"    {a}: [{', '.join(f'{x:.3f}' for x in cal['readout'][a])}]" for a in AU_NAMES]
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--intensity", type=float, default=3.0)
    args = ap.parse_args(argv)
    cal = calibrate(load_faces(Path(args.media)), read_yaml(BASIS_FILE), args.intensity)
    print(f"wrote {write_calibration(cal)}")
    for j, au in enumerate(AU_NAMES):
        print(f"{au}: gain {cal['gain'][au]:.3f}, reads {cal['readout'][au][j]:.2f} per unit")


if __name__ == "__main__":
    main()
