from __future__ import annotations

import argparse
from pathlib import Path

from ..config import MEDIA_DIR
from ._common import at_least

EXAMPLES = """examples:
  reenact bench                          identity editor, 150 frames of 720p
  reenact bench --editor rig --target-au happy
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("bench", help="pipeline fps against a bare decode+encode, same run",
                        description="Benchmark the pipeline on a 720p clip made from the shared media. "
                                    "The figure is the ratio: pipeline fps / bare PyAV decode+encode fps.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--editor", default="identity")
    ap.add_argument("--target-au", dest="target", default="")
    ap.add_argument("--frames", type=at_least(1), default=150)
    ap.add_argument("--media", default=str(MEDIA_DIR),
                    help="folder with talking_man.mp4 (default ../shared/media); falls back to the astronaut")
    ap.set_defaults(func=run)


def run(args) -> int:
    from ..tasks.bench import run_bench

    res = run_bench(editor=args.editor, target=args.target, frames=args.frames, media=Path(args.media))
    print("\n".join(res.lines()))
    return 0
