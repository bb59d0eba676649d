"""The personal editors' tables in README.md ("Personal editors"): held-out reconstruction on both clips,
a smile the enrolment never saw, and the editors' time per edit.

    python tools/eval_personal.py --talk engines/talking_man --smile engines/smile_man [--pairs 200]

Made by (README.md gives the full commands):
    reenact enroll --video talking_man.mp4 -o engines/talking_man --holdout 0.3
    reenact enroll --video smile_man.mp4 -o engines/smile_man --frames 0-40,66-71
    reenact train -o engines/<each> --preset tiny

talking_man.mp4: pairs of its last 30 % of frames. smile_man.mp4: pairs of frames 41–65, the held smile
the enrolment left out. Unseen smile: neutral frames 0, 5, 10 and 15 each edited to the AUs of smile frames
45, 50, 55 and 60, scored against those frames. Every row's editor is reset before each pair.

A second control, "blurred:personal:…", is the bank's answer blurred by σ 0.8 px over the face: the
refiner's output is softer than the bank's, and this row says how much of its gain softening alone gives.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from reenact.config import MEDIA_DIR, load_config
from reenact.editors import EDITORS, EditRequest, create_editor
from reenact.pipeline.types import Edit
from reenact.stages.au import load_model
from reenact.stages.tracker import FaceTracker
from reenact.tasks import evaluate as E

SMILE_TEST = tuple(range(41, 66))
NEUTRAL = (0, 5, 10, 15)
SMILES = (45, 50, 55, 60)


@EDITORS.register("blurred")
class Blurred:
    """Not an editor: another editor's answer blurred over the whole crop (the eval's masks limit it)."""

    needs_au = True

    def __init__(self, spec: str):
        self.inner = create_editor(spec)

    def edit(self, req: EditRequest) -> Edit:
        crop = cv2.GaussianBlur(self.inner.edit(req).crop, (0, 0), E.BLUR_SIGMA)
        return Edit(crop=crop, mask=np.ones(req.crop.shape[:2], np.float32))

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


def editors(folder: str) -> list[str]:
    return ["rig", f"personal:{folder}", f"neural:{folder}"]


def ms_per_edit(clip: Path, specs: list[str], pairs: int = 40) -> dict[str, float]:
    """Mean wall time of editor.edit on held-out pairs of `clip` (256² crops), after one warm-up edit."""
    cfg = load_config()
    reader = FaceTracker(cfg.tracker, static=True)
    try:
        held, _ = E.held_out_faces(clip, cfg, E.TRAIN_FRACTION, None, load_model(cfg.au.features), reader)
    finally:
        reader.close()
    reqs = [EditRequest(held[s].crop, held[s].landmarks, held[s].au, held[t].au)
            for s, t in E.sample_pairs(len(held), pairs, 0)]
    out = {}
    for spec in specs:
        editor = create_editor(spec)
        editor.edit(reqs[0])
        t0 = time.perf_counter()
        for r in reqs:
            editor.reset()
            editor.edit(r)
        out[spec] = 1000 * (time.perf_counter() - t0) / len(reqs)
        editor.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--talk", required=True, help="enrolment + refiner of talking_man.mp4 (first 70 %)")
    ap.add_argument("--smile", required=True, help="enrolment + refiner of smile_man.mp4 (frames 0-40, 66-71)")
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--pairs", type=int, default=200)
    args = ap.parse_args()
    media = Path(args.media)
    talk, smile = media / "talking_man.mp4", media / "smile_man.mp4"
    print(f"talking_man.mp4, {args.pairs} pairs of the last 30 %\n")
    print(E.markdown_table(E.reconstruction_eval(talk, [*editors(args.talk), f"blurred:personal:{args.talk}"],
                                                 pairs=args.pairs)))
    print(f"smile_man.mp4, {args.pairs} pairs of frames 41-65\n")
    print(E.markdown_table(E.reconstruction_eval(smile, editors(args.smile), pairs=args.pairs, test_frames=SMILE_TEST)))
    print(f"smile_man.mp4, neutral frames {NEUTRAL} to the AUs of smile frames {SMILES}\n")
    print(E.markdown_table(E.transfer_eval(smile, NEUTRAL, SMILES, editors(args.smile))))
    times = ms_per_edit(talk, editors(args.talk))
    print("ms per edit (256² crop, talking_man.mp4 held-out pairs): "
          + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))


if __name__ == "__main__":
    main()
