"""Held-out reconstruction of a neural model against the rig, no edit, and a blur control, as reported in
README.md ("Personal neural editor").

    python tools/eval_neural.py engines/talking_man [--clip ../shared/media/talking_man.mp4] [--pairs 200]

Face region: `reenact.tasks.evaluate.reconstruction_eval` (what `reenact eval --reconstruct` prints), plus a
control row "blur": the source Gaussian-blurred (sigma 0.8 px) inside the face hull. Held-out targets
differ from their source by head motion that AUs do not describe, and any resampling smooths the beard
and skin texture that this motion misaligns, so smoothing alone raises SSIM; the control says how much.
Mouth region: the same pairs scored on the lips' hull grown by 7 px, where the expression change is.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from reenact.tasks import evaluate as E
from reenact.stages.compositor import Compositor
from reenact.stages.au import load_model
from reenact.config import MEDIA_DIR, load_config
from reenact.editors import EDITORS, EditRequest, create_editor
from reenact.stages.landmarks import LIPS_OUTER
from reenact.stages.tracker import FaceTracker
from reenact.pipeline.types import Edit

BLUR_SIGMA = 0.8
MOUTH_GROW_PX = 7


@EDITORS.register("blur")
class BlurControl:
    """Not an editor: the source blurred over the whole crop (the evaluation's hull mask limits it)."""

    needs_au = False

    def edit(self, req: EditRequest) -> Edit:
        return Edit(crop=cv2.GaussianBlur(req.crop, (0, 0), BLUR_SIGMA), mask=np.ones(req.crop.shape[:2], np.float32))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def mouth_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(landmarks[list(LIPS_OUTER), :2]).astype(np.int32)), 1)
    k = 2 * MOUTH_GROW_PX + 1
    return cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0


def mouth_table(clip: Path, editors: list[str], pairs: int, seed: int) -> str:
    cfg = load_config()
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    compositor = Compositor(cfg.compositor)
    try:
        held, _ = E.held_out_faces(clip, cfg, E.TRAIN_FRACTION, None, model, reader)
    finally:
        reader.close()
    lines = ["| editor | mouth PSNR (dB) | mouth SSIM | mouth L1 |", "|---|---:|---:|---:|"]
    for spec in (E.NO_EDIT, *editors):
        editor = create_editor("identity" if spec == E.NO_EDIT else spec)
        scores = []
        for s, t in E.sample_pairs(len(held), pairs, seed):
            src, tgt = held[s], held[t]
            editor.reset()
            edit = editor.edit(EditRequest(crop=src.crop, landmarks=src.landmarks, source=src.au, target=tgt.au,
                                           time=src.time))
            out = compositor.blend_crop(src.crop, edit, src.landmarks)
            region = mouth_region(tgt.landmarks, tgt.crop.shape[0])
            scores.append((E.psnr(out, tgt.crop, region), E.ssim(out, tgt.crop, region), E.l1(out, tgt.crop, region)))
        editor.close()
        p, s, l1 = np.mean(scores, 0)
        lines.append(f"| {spec} | {p:.3f} | {s:.3f} | {l1:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model directory made by `reenact train`, e.g. engines/talking_man")
    ap.add_argument("--clip", default=str(MEDIA_DIR / "talking_man.mp4"))
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    editors = ["rig", f"neural:{args.model}", "blur"]
    rows = E.reconstruction_eval(args.clip, editors, pairs=args.pairs, seed=args.seed)
    print(f"face region, {args.pairs} held-out pairs of {Path(args.clip).name}\n")
    print(E.markdown_table(rows))
    print(f"\nmouth region (lips' hull + {MOUTH_GROW_PX} px), same pairs\n")
    print(mouth_table(Path(args.clip), editors, args.pairs, args.seed))


if __name__ == "__main__":
    main()
