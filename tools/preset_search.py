"""Search the intensities of an emotion preset's AUs, scored by the expression judge on a set of faces.

Each candidate is a whole-face target (the AUs it names at their values, the rest at rest, as
configs/presets.yaml's presets) run through the image pipeline (`reenact image`: the rig, its
appearance layer and the compositor) on every face; the judge reads the whole output, re-tracked, as
`reenact eval` does. Score: how many faces that did not already show the asked emotion now read as it
(recognised), then the mean gain in the asked class's log-odds (each clipped to ±CLIP, so one face
going from certain-no to certain-yes does not outweigh the rest); with `--judge both`, the two judges'
counts added and their gains averaged, so a preset is not tuned to one network's quirks. The search is coordinate descent:
one AU at a time over LEVELS, keeping a change only when it raises (recognised, mean gain).

Tune on some faces and confirm on others that the search never saw (`--eval`): a preset fitted to a
handful of faces reads on those faces and little else. Look at the pictures (`--save sheet.png`) before
trusting a number: the judge is one classifier, and a person must read the emotion too.

Run: python tools/preset_search.py fear --aus AU01,AU02,AU04,AU05,AU07,AU20,AU25,AU26 \
        --faces ../shared/media/astronaut.png 'out/unseen/*.png' [--start current] [--sweeps 2]
     python tools/preset_search.py fear --eval 'AU01=4,AU05=5' --faces ... [--save out/fear.png]
"""
from __future__ import annotations

import argparse
import glob
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reenact import api
from reenact.config import load_config
from reenact.errors import ReenactError
from reenact.judge import judge
from reenact.pipeline.types import AUVector, Frame, Packet
from reenact.stages.targets import WHOLE, Target, TargetStage, parse_target, presets
from reenact.stages.tracker import FaceTracker
from reenact.tasks.evaluate import JUDGE_CLASS, load_still

LEVELS = (0, 1, 2, 3, 4, 5)
CLIP = 6.0   # log-odds
THUMB = 160  # px, a face in the sheets


@dataclass(frozen=True)
class Face:
    name: str
    image: np.ndarray
    before: dict         # judge name → its Judgement of the unedited image
    box: tuple[int, int, int, int]   # x0, y0, x1, y1: the face, for the sheets


class Bench:
    """The image pipeline (`reenact image`: tracker, aligner, occlusion, AU estimator, target, rig,
    compositor) with its target swapped per candidate, and the judge on the whole output, re-tracked."""

    def __init__(self, paths: list[str], strength: float, preset: str, judges: tuple[str, ...] = ("faceapi",)):
        self.judges = judges
        cfg = api.with_edit(load_config(), editor="rig", target=preset, strength=strength)
        self.pipe = api.build_pipeline(cfg, static=True)
        self.target = next(s for s in self.pipe.stages if isinstance(s, TargetStage))
        self.tracker = FaceTracker(static=True)
        self.faces = [f for f in map(self.face, paths) if f is not None]

    def face(self, path: str) -> Face | None:
        image = load_still(path)
        pts = self.tracker.detect(image)
        if not pts:
            print(f"{path}: no face, left out")
            return None
        (x0, y0), (x1, y1) = pts[0][:, :2].min(0), pts[0][:, :2].max(0)
        half, cx, cy = 0.65 * max(x1 - x0, y1 - y0), (x0 + x1) / 2, (y0 + y1) / 2
        box = tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
        return Face(Path(path).name, image, {m: judge(image, pts[0], model=m) for m in self.judges}, box)

    def judge(self, image: np.ndarray) -> dict:
        """judge name → Judgement of the image (empty when the face is lost)."""
        pts = self.tracker.detect(image)
        return {m: judge(image, pts[0], model=m) for m in self.judges} if pts else {}

    def render(self, face: Face, aus: dict[str, float], side: str = "both") -> np.ndarray:
        self.target.set_target(Target("search", AUVector.from_dict(aus), tuple(aus), mode=WHOLE, side=side))
        self.pipe.reset()
        return self.pipe.process(Packet(Frame(face.image, 0, 0))).output

    def score(self, asked: str, aus: dict[str, float], side: str = "both", save: Path | None = None):
        """(recognised, counted, mean clipped log-odds gain, per-face rows)."""
        hits = counted = 0
        gains, rows, pairs = [], [], []
        for f in self.faces:
            out = self.render(f, aus, side)
            after = self.judge(out)
            row = f.name[:16]
            for m, before in f.before.items():
                j = after.get(m)
                b = np.clip(before.log_odds(asked), -CLIP, CLIP)
                a = np.clip(j.log_odds(asked), -CLIP, CLIP) if j is not None else -CLIP
                gains.append(a - b)
                already = before.top == asked
                hit = j is not None and j.top == asked
                if not already:
                    counted += 1
                    hits += hit
                row += f":{'=' if already else 'Y' if hit else 'n'}{j.top[:4] if j else '-'} {a - b:+.1f}"
            rows.append(row)
            pairs.append(np.hstack([thumb(f.image, f.box), thumb(out, f.box)]))
        if save is not None:
            sheet(save, pairs, rows)
        return hits, counted, float(np.mean(gains)), rows


def thumb(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The face's box of an image (zero outside it), THUMB² px."""
    x0, y0, x1, y1 = box
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    out[max(-y0, 0):min(h, y1) - y0, max(-x0, 0):min(w, x1) - x0] = image[max(y0, 0):y1, max(x0, 0):x1]
    return cv2.resize(out, (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def sheet(path: Path, pairs: list[np.ndarray], rows: list[str], per_row: int = 3) -> None:
    """before|after pairs of the face, `per_row` to a row, each labelled with its row of the score."""
    cells = []
    for pair, text in zip(pairs, rows):
        cell = pair.copy()
        cv2.putText(cell, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        cells.append(cell)
    cells += [np.zeros_like(cells[0])] * (-len(cells) % per_row)
    grid = np.vstack([np.hstack(cells[i:i + per_row]) for i in range(0, len(cells), per_row)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def parse(spec: str) -> dict[str, float]:
    """'AU01=5,AU05=3' → {AU01: 5.0, AU05: 3.0}, checked as --target-au checks it."""
    t = parse_target(spec, "absolute")
    return {k: float(t.values[k]) for k in t.named}


def show(aus: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(aus.items()) if v > 0)


def search(bench: Bench, asked: str, start: dict[str, float], free: list[str], sweeps: int, side: str):
    best = dict(start)
    h, n, g, _ = bench.score(asked, best, side)
    key = (h, g)
    print(f"start {show(best)}: {h}/{n}, gain {g:+.2f}", flush=True)
    for sweep in range(sweeps):
        changed = False
        for au in free:
            for level in LEVELS:
                if level == best.get(au, 0):
                    continue
                trial = {**best, au: float(level)}
                h, n, g, _ = bench.score(asked, trial, side)
                if (h, g) > key:
                    best, key, changed = trial, (h, g), True
                    print(f"  sweep {sweep + 1}: {show(best)}: {h}/{n}, gain {g:+.2f}", flush=True)
        if not changed:
            break
    return best, key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("preset", help="the preset whose emotion is asked (configs/presets.yaml name)")
    ap.add_argument("--faces", nargs="+", required=True, help="image paths or globs (NAME#N: a clip's frame)")
    ap.add_argument("--aus", default="", help="AUs the search may change, comma-separated")
    ap.add_argument("--start", default="current", help="'current' (the preset as committed) or AU=v,...")
    ap.add_argument("--eval", help="only score these intensities (AU=v,...; 'current': the preset)")
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--strength", type=float, default=1.0)
    ap.add_argument("--save", type=Path, help="with --eval: a PNG sheet of before|after pairs")
    ap.add_argument("--judge", choices=("faceapi", "fer", "both"), default="faceapi", help="who scores")
    args = ap.parse_args()
    if args.preset not in JUDGE_CLASS:
        ap.error(f"{args.preset!r} is not an emotion preset; one of {', '.join(JUDGE_CLASS)}")
    try:
        run(args)
    except ReenactError as e:
        ap.exit(2, f"preset_search: {e}\n")


def run(args: argparse.Namespace) -> None:
    preset = presets()[args.preset]
    asked = JUDGE_CLASS[args.preset]
    current = {k: float(preset.values[k]) for k in preset.named}
    start = current if args.start == "current" else parse(args.start)
    aus = None if args.eval is None else current if args.eval == "current" else parse(args.eval)
    paths = [p for spec in args.faces for p in (sorted(glob.glob(spec)) or [spec])]
    judges = ("faceapi", "fer") if args.judge == "both" else (args.judge,)
    bench = Bench(paths, args.strength, args.preset, judges)
    try:
        if aus is not None:
            h, n, g, rows = bench.score(asked, aus, preset.side, args.save)
            print(f"{args.preset} {show(aus)}: {h}/{n}, gain {g:+.2f}\n   " + " | ".join(rows))
            return
        free = [parse(f"{a}=0").popitem()[0] for a in args.aus.split(",") if a.strip()] or sorted(start)
        best, (h, g) = search(bench, asked, start, free, args.sweeps, preset.side)
        print(f"best {args.preset}: {show(best)}: recognised {h}, gain {g:+.2f}")
    finally:
        bench.pipe.close()


if __name__ == "__main__":
    main()
