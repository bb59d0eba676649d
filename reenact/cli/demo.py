from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_pipeline_options, config_from_args, report

EXAMPLES = """examples:
  reenact demo                                   writes out/demo_input.mp4 and out/demo.mp4
  reenact demo --target-au surprise -o out/surprise.mp4
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("demo", help="make a clip from the bundled astronaut and edit it",
                        description="Make a 4 s clip from the bundled public-domain astronaut.png (gentle "
                                    "synthetic camera motion, a tone for audio) and run the pipeline on it.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", default="out/demo.mp4", help="output video (default out/demo.mp4)")
    ap.add_argument("--crf", type=int, help="H.264 quality 0-51, lower is better (default 18)")
    add_pipeline_options(ap)
    ap.set_defaults(func=run, editor="rig")


def run(args) -> int:
    from .. import api
    from ..tasks.demo import make_demo_clip

    if not (args.target or args.ref or args.drive):
        args.target = "happy"
    cfg = config_from_args(args)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    clip = make_demo_clip(out.with_name(out.stem + "_input.mp4"))
    print(f"input: {clip}")
    return report(api.process_video(clip, out, cfg=cfg), str(out), cfg)
