from __future__ import annotations

import argparse
from pathlib import Path

from ..config import MEDIA_DIR
from ._common import at_least

EXAMPLES = """examples:
  reenact bench                          identity editor, 150 frames of 720p
  reenact bench --editor rig --target-au happy
  reenact bench --batch                  batch items/s: 1 worker, N local workers, N Ray workers
  reenact bench --live --seconds 30      live latency: 640x480 at 30 fps played as a camera, rig+happy and identity
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("bench", help="pipeline fps against a bare decode+encode, same run",
                        description="Benchmark the pipeline on a 720p clip made from the shared media. "
                                    "The figure is the ratio: pipeline fps / bare PyAV decode+encode fps.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--editor", default="identity")
    ap.add_argument("--target-au", dest="target", default="")
    ap.add_argument("--frames", type=at_least(1), default=150)
    ap.add_argument("--live", action="store_true",
                    help="measure live runs instead: capture-to-output latency p50/p95, fps and dropped %% of a "
                         "640x480 clip played as a 30 fps camera, with rig+happy and with identity")
    ap.add_argument("--seconds", type=float, default=10.0, help="--live: seconds measured per editor")
    ap.add_argument("--media", default=str(MEDIA_DIR),
                    help="folder with talking_man.mp4 (default ../shared/media); falls back to the astronaut")
    ap.add_argument("--batch", action="store_true", help="benchmark `reenact batch` executors instead")
    ap.add_argument("--workers", type=at_least(1), help="--batch: N for the N-worker rows (default: one per core)")
    ap.add_argument("--items", type=at_least(1), default=40, help="--batch: items per worker per round after warm-up")
    ap.add_argument("--rounds", type=at_least(1), default=3, help="--batch: rounds of the three configurations")
    ap.set_defaults(func=run)


def run(args) -> int:
    if args.batch:
        from ..batch.bench import run_batch_bench

        res = run_batch_bench(workers=args.workers, per_worker=args.items, rounds=args.rounds, media=Path(args.media))
        print("\n".join(res.lines()))
        return 0
    if args.live:
        from ..tasks.live.bench import run_live_bench

        for res in run_live_bench(seconds=args.seconds, media=Path(args.media)):
            print(res.line(), flush=True)
        return 0
    from ..tasks.bench import run_bench

    res = run_bench(editor=args.editor, target=args.target, frames=args.frames, media=Path(args.media))
    print("\n".join(res.lines()))
    return 0
