from __future__ import annotations

import argparse

from ._common import EDIT_EXAMPLES, add_pipeline_options, add_progress_option, config_from_args, report

EXAMPLES = """examples:
  reenact video in.mp4 -o out.mp4
  reenact video in.mp4 -o out.mp4 --editor rig --target-au happy --strength 0.8
  reenact video in.mp4 -o out.mp4 --ref ref.jpg --crf 16
""" + EDIT_EXAMPLES


def add_parser(sub) -> None:
    ap = sub.add_parser("video", help="edit a video file; keeps timestamps and audio",
                        description="Edit every frame of a video. The output keeps the frame count, "
                                    "timestamps and the original audio stream.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="input video file")
    ap.add_argument("-o", "--output", required=True, help="output video file (.mp4, .mkv, .mov)")
    ap.add_argument("--crf", type=int, help="H.264 quality 0-51, lower is better (default 18)")
    add_progress_option(ap)
    add_pipeline_options(ap)
    ap.set_defaults(func=run)


def run(args) -> int:
    from .. import api  # after the parser: `--help` and a bad flag load no model code

    cfg = config_from_args(args)
    return report(api.process_video(args.input, args.output, cfg=cfg, progress=not args.no_progress), args.output, cfg)
