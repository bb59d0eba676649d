"""Gallery of the rig editor: every preset on the shared faces and on frames of the clips, as PNG grids.

Each PNG is a 3×3 grid of 256² aligned crops: the input, then one cell per preset (label top left,
then the fill source the editor reported; under it the expression judge's top class on the cell and
its P(the asked emotion), re-tracked on the crop, with a * when the judge recognises it). Clip frames
are edited after the editor has watched the clip up to them, so its texture memory is in play.
Run: python tools/rig_gallery.py [--media ../shared/media] [--out out/rig_gallery] [--strength 1.0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from reenact.config import MEDIA_DIR
from reenact.stages.aligner import Aligner
from reenact.stages.au import AUEstimator
from reenact.editors import EditRequest, create_editor
from reenact.io import load_image, open_source
from reenact.judge import judge
from reenact.stages.targets import presets
from reenact.stages.tracker import FaceTracker
from reenact.tasks.evaluate import JUDGE_CLASS

STILLS = ("astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm")
CLIP_FRAMES = {"talking_man.mp4": (40, 120, 200), "smile_man.mp4": (0, 40)}


def label(img: np.ndarray, *lines: str) -> np.ndarray:
    out = img.copy()
    for k, text in enumerate(lines):
        y = 14 + 16 * k
        cv2.putText(out, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
    return out


class Gallery:
    def __init__(self, strength: float):
        self.tracker, self.aligner, self.est = FaceTracker(static=True), Aligner(), AUEstimator(static=True)
        self.strength = strength

    def face(self, image: np.ndarray):
        pts = self.tracker.detect(image)
        if not pts:
            return None
        a = self.aligner.align(image, pts[0])
        return a, self.est.model.intensities(self.est.model.features(pts[0]))

    def grid(self, image: np.ndarray, editor, track: int = 0, t: float = 0.0, video: bool = False) -> np.ndarray | None:
        found = self.face(image)
        if found is None:
            return None
        a, source = found
        cells = [label(a.crop, "input", self.verdict(a.crop))]
        for name, target in presets().items():
            req = EditRequest(crop=a.crop, landmarks=a.landmarks, source=source,
                              target=target.resolve(source, self.strength, video=video), side=target.side,
                              track_id=track, time=t, rest=target.rest(self.strength))
            edit = editor.edit(req)
            cells.append(label(edit.crop, f"{name} [{edit.meta.get('fill', '-')}]",
                               self.verdict(edit.crop, JUDGE_CLASS.get(name))))
        rows = [np.hstack(cells[i:i + 3]) for i in range(0, 9, 3)]
        return np.vstack(rows)

    def verdict(self, crop: np.ndarray, asked: str | None = None) -> str:
        """'judge: TOP' and, for an emotion, 'P(asked)' (a * when it is the top class)."""
        pts = self.tracker.detect(crop)
        if not pts:
            return "judge: face lost"
        j = judge(crop, pts[0])
        if asked is None:
            return f"judge: {j.top}"
        return f"judge: {j.top}  P({asked[:4]}) {j[asked]:.2f}{' *' if j.top == asked else ''}"

    def watch(self, editor, image: np.ndarray, track: int, t: float) -> None:
        """Let the editor's texture memory see a frame (a zero edit only observes)."""
        found = self.face(image)
        if found is not None:
            a, source = found
            editor.edit(EditRequest(crop=a.crop, landmarks=a.landmarks, source=source, target=source,
                                    track_id=track, time=t))


def save(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--out", default="out/rig_gallery")
    ap.add_argument("--strength", type=float, default=1.0)
    args = ap.parse_args()
    media, out = Path(args.media), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    g = Gallery(args.strength)
    for name in STILLS:
        grid = g.grid(load_image(media / name), create_editor("rig", memory=False))
        if grid is not None:
            save(out / f"{Path(name).stem}.png", grid)
    for clip, wanted in CLIP_FRAMES.items():
        eds = create_editor("rig", memory=True)
        with open_source(str(media / clip)) as src:
            for frame in src:
                if frame.index > max(wanted):
                    break
                if frame.index in wanted:
                    grid = g.grid(frame.image, eds, t=frame.time, video=True)
                    if grid is not None:
                        save(out / f"{Path(clip).stem}_{frame.index:03d}.png", grid)
                elif frame.index % 3 == 0:
                    g.watch(eds, frame.image, 0, frame.time)


if __name__ == "__main__":
    main()
