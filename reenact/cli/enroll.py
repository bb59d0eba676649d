"""`reenact enroll`: bank a person's own frames for the personal editor (and the refiner `train` adds)."""
from __future__ import annotations

import argparse
import shlex

from ..config import load_config
from ._common import add_config_option, add_progress_option, frame_list

DESCRIPTION = """\
Record a person for the personal editor: every frame is tracked, aligned and AU-annotated by reenact's
own pipeline and stored in DIR with a coverage report (which AUs the footage shows, which are missing,
and what to record for them). From a file (--video) nothing is asked; live (the default, or --source
to play a file as the camera) a preview window prompts each expression in turn. Use it with
--editor personal:DIR; `reenact train -o DIR` adds a refiner to the same folder (neural:DIR)."""

EXAMPLES = """\
examples:
  reenact enroll -o engines/me                                 webcam, prompts in a preview window
  reenact enroll --video me.mp4 -o engines/me                  a recording, no prompts
  reenact enroll --video talk.mp4 -o engines/talk --holdout 0.3        keep the last 30% out for eval
  reenact enroll --video smile.mp4 -o engines/smile --frames 0-40,66-71   only these frames
  reenact video in.mp4 -o out.mp4 --editor personal:engines/me --target-au happy
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("enroll", help="record a person's own frames for the personal editor",
                        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True, metavar="DIR", help="enrolment folder, e.g. engines/NAME")
    ap.add_argument("--video", action="append", metavar="VIDEO", help="footage of the person (repeat for more)")
    ap.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                    help="leave the last FRACTION of each video out (for evaluation)")
    ap.add_argument("--frames", type=frame_list, metavar="RANGES",
                    help="keep only these frame indices of each video, e.g. 0-40,66-71")
    ap.add_argument("--camera", type=int, help="live: camera index (default from config)")
    ap.add_argument("--source", metavar="FILE", help="live: play this video as the camera (prompts and all)")
    ap.add_argument("--replace", action="store_true", help="overwrite an enrolment already in DIR")
    add_config_option(ap)
    add_progress_option(ap)
    ap.set_defaults(func=run)


def _command(args) -> str:
    argv = [a for v in args.video or () for a in ("--video", v)] + ["-o", args.output]
    for opt in ("holdout", "camera", "source"):
        if getattr(args, opt):
            argv += [f"--{opt}", str(getattr(args, opt))]
    if args.frames:
        from ..tasks.enroll import ranges

        argv += ["--frames", ranges(args.frames)]
    return shlex.join(["reenact", "enroll", *argv])


def run(args) -> int:
    from ..tasks.enroll import enroll, enroll_live

    cfg = load_config(args.config, {"live.camera": args.camera})
    command = _command(args)
    if args.video:
        res = enroll(args.video, args.output, holdout=args.holdout, frames=args.frames, replace=args.replace,
                     cfg=cfg, progress=not args.no_progress, command=command)
    else:
        from ..io import open_source
        from ..io.camera import paced
        from ..io.preview import DisplayUnavailable, PreviewSink

        try:
            sink = PreviewSink("reenact enroll")
        except DisplayUnavailable:
            raise DisplayUnavailable("live enrolment shows its prompts in a preview window and there is no "
                                     "display here; enrol from a recording with --video") from None
        with open_source(args.source or f"webcam:{cfg.live.camera}", live_cfg=cfg.live) as src:
            frames = paced(src) if src.kind == "video" else src
            res = enroll_live(frames, sink, args.output, replace=args.replace, cfg=cfg, command=command)
    print(res.report, end="")
    print(f"wrote {res.directory}/: {res.frames} frames (bank.npz, bank.json, coverage.txt)")
    print(f"use it: --editor personal:{res.directory}   (add a refiner: reenact train -o {res.directory})")
    return 0
