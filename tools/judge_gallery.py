"""The expression judge's probabilities on the shared faces: each still and chosen clip frames.

Faces come from FaceTracker(static=True) (first face); the judge crops from its 478-point mesh.
smile_man.mp4 is the ground truth with a known shape: frames 0–17 neutral, 20–66 a broad smile,
70–71 near neutral; the table ends with the gain of each expression from frame 0 to frame 40, in
probability and in log-odds (a clear smile saturates at happy ≈ 1.000; its log-odds keep moving).
Run: python tools/judge_gallery.py [--media ../shared/media] [--markdown]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's reenact, not an installed one
from reenact.config import MEDIA_DIR  # noqa: E402
from reenact.judge import EXPRESSIONS, Judgement, judge  # noqa: E402
from reenact.io import load_image, open_source  # noqa: E402
from reenact.stages.tracker import FaceTracker  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "reenact" / "data" / "astronaut.png"
STILLS = ("astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm")
CLIP_FRAMES = {"smile_man.mp4": (0, 10, 20, 40, 60, 68, 71), "talking_man.mp4": (0, 40, 80, 120, 160, 200)}


def shared_faces(media: Path, stills=STILLS, clip_frames=CLIP_FRAMES) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(label, RGB image, (478, 3) landmarks) of the first face in each still and chosen clip frame.

    astronaut.png is read from the package when the shared folder lacks it; missing files are skipped.
    """
    tracker = FaceTracker(static=True)
    try:
        for name in stills:
            path = media / name
            if not path.exists() and name == BUNDLED.name:
                path = BUNDLED
            if not path.exists():
                print(f"skip {name}: not in {media}")
                continue
            image = load_image(path)
            faces = tracker.detect(image)
            if faces:
                yield name, image, faces[0]
            else:
                print(f"skip {name}: no face found")
        for clip, wanted in clip_frames.items():
            if not (media / clip).exists():
                print(f"skip {clip}: not in {media}")
                continue
            with open_source(str(media / clip)) as src:
                for frame in src:
                    if frame.index > max(wanted):
                        break
                    if frame.index in wanted:
                        faces = tracker.detect(frame.image)
                        if faces:
                            yield f"{clip}#{frame.index}", frame.image, faces[0]
    finally:
        tracker.close()


def row(label: str, j: Judgement, markdown: bool) -> str:
    cells = [label, j.top] + [f"{p:.3f}" for p in j.probabilities]
    if markdown:
        return "| " + " | ".join(cells) + " |"
    return f"{cells[0]:<22} {cells[1]:<10} " + " ".join(f"{c:>9}" for c in cells[2:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    head = ["face", "top", *EXPRESSIONS]
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    else:
        print(f"{head[0]:<22} {head[1]:<10} " + " ".join(f"{h:>9}" for h in head[2:]))
    seen: dict[str, Judgement] = {}
    times = []
    for label, image, landmarks in shared_faces(Path(args.media)):
        t = time.perf_counter()
        j = judge(image, landmarks)
        times.append(time.perf_counter() - t)
        seen[label] = j
        print(row(label, j, args.markdown))
    a, b = seen.get("smile_man.mp4#0"), seen.get("smile_man.mp4#40")
    if a and b:
        gain = b.gain(a)
        print("smile_man.mp4 gain frame 0 → 40: " + ", ".join(f"{e} {g:+.3f}" for e, g in gain.items()))
        print("  in log-odds: " + ", ".join(f"{e} {b.log_odds(e) - a.log_odds(e):+.1f}" for e in EXPRESSIONS))
    if times:
        print(f"judge (crop + network): median {1000 * float(np.median(times[1:] or times)):.1f} ms per face")


if __name__ == "__main__":
    main()
