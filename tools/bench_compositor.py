"""The compositor stage alone, this tree's against a git revision's, on the 720p bench clip: CPU per frame and
how far the outputs differ.

The stages before the compositor run once per frame; then both compositors paste the same packets, timed
in alternating rounds (the machines here are shared: CPU time, and interleaving, keep the comparison fair),
with OpenCV on one thread. The old module is `git show REV:reenact/stages/compositor.py`, imported with
its relative imports pointed at this tree's package.
Run: PYTHONPATH=$PWD python tools/bench_compositor.py [--rev main] [--frames 60] [--rounds 9]
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from reenact.api import build_pipeline, with_edit
from reenact.config import MEDIA_DIR, load_config
from reenact.pipeline.types import Frame, Packet
from reenact.stages import compositor
from reenact.tasks.bench import make_bench_clip


def old_module(rev: str, tmp: Path):
    text = subprocess.run(["git", "show", f"{rev}:reenact/stages/compositor.py"], check=True,
                          capture_output=True, text=True).stdout
    path = tmp / "compositor_old.py"
    path.write_text(text.replace("from ..", "from reenact.").replace("from .", "from reenact.stages."))
    spec = importlib.util.spec_from_file_location("compositor_old", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def packets(clip: Path, target: str, frames: int) -> list[Packet]:
    cfg = with_edit(load_config(), editor="rig", target=target)
    before = build_pipeline(cfg).stages[:-1]
    out = []
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= frames:
                break
            p = Packet(frame=Frame(f.to_ndarray(format="rgb24"), i, f.pts, f.time_base))
            for stage in before:
                p = stage.process(p)
            out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="main")
    ap.add_argument("--media", type=Path, default=MEDIA_DIR)
    ap.add_argument("--target", default="happy")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="reenact-comp-") as tmp:
        try:
            old = old_module(args.rev, Path(tmp)).Compositor()
        except subprocess.CalledProcessError as e:
            why = (e.stderr.strip().splitlines() or ["git show failed"])[0]
            ap.exit(2, f"bench_compositor: cannot read the compositor at {args.rev!r}: {why}\n")
        pks = packets(make_bench_clip(Path(tmp) / "in.mp4", args.media, args.frames), args.target, args.frames)
    new = compositor.Compositor()
    diff = [np.abs(old.process(p).output.astype(np.int16) - new.process(p).output) for p in pks]
    print(f"{len(pks)} frames: outputs differ at {sum(int((d > 0).sum()) for d in diff)} values "
          f"({np.mean([(d > 0).mean() for d in diff]):.1e} of all), max {max(int(d.max()) for d in diff)}, "
          f"largest per-frame 99.9th percentile {max(float(np.percentile(d, 99.9)) for d in diff)}")
    ms = {"old": [], "new": []}
    for r in range(args.rounds):
        for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
            stage = old if name == "old" else new
            t = time.process_time()
            for p in pks:
                stage.process(p)
            ms[name].append(1000 * (time.process_time() - t) / len(pks))
    for name, v in ms.items():
        print(f"{name} ({args.rev if name == 'old' else 'this tree'}): median {np.median(v):.2f} ms/frame "
              f"(rounds {', '.join(f'{x:.2f}' for x in v)})")


if __name__ == "__main__":
    sys.exit(main())
