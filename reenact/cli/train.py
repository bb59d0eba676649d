"""`reenact train`: the personal refiner on the user's own enrolled frames (needs torch)."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..config import load_config
from ..engines.base import has_module
from ..errors import BackendUnavailable, ConfigError
from ._common import add_config_option, add_progress_option, at_least, frame_list

DESCRIPTION = """\
Train the refiner of a personal editor: a network that corrects the personal bank's edits (or the
rig's) towards the person's real frames, from pairs of their own enrolled frames. DIR must hold an
enrolment (`reenact enroll`); with --video, one is made first, as `reenact enroll` would. The result,
DIR/neural.onnx beside the bank, is used with --editor neural:DIR by every command. README.md
("Personal editors") has measured times and what they gain."""

EXAMPLES = """\
examples:
  reenact train -o engines/me --preset tiny                         CPU, minutes (128²), on the enrolment
  reenact train --video me.mp4 -o engines/me --preset tiny          enrol me.mp4 first, then train
  reenact train --video talk.mp4 -o engines/talk --preset tiny --holdout 0.3
                                                 keep the last 30% out, for `reenact eval --reconstruct`
  reenact train -o engines/me                                       default preset: a GPU, 256²
  reenact train -o engines/me --resume --steps 40000                continue to 40000 steps in all
  reenact train -o engines/me2 --base rig                           refine the rig instead of the bank
  reenact video in.mp4 -o out.mp4 --editor neural:engines/me --target-au happy
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("train", help="train the refiner of a personal editor on your own frames (needs torch)",
                        description=DESCRIPTION, epilog=EXAMPLES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True, metavar="DIR", help="enrolment folder, e.g. engines/NAME")
    ap.add_argument("--video", action="append", metavar="VIDEO",
                    help="enrol this footage first when DIR holds no enrolment (repeat for more clips)")
    ap.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                    help="with --video: leave the last FRACTION of each video out (for evaluation)")
    ap.add_argument("--frames", type=frame_list, metavar="RANGES",
                    help="with --video: enrol only these frame indices, e.g. 0-40,66-71")
    ap.add_argument("--preset", choices=("tiny", "default"),
                    help="tiny: CPU, minutes, 128²; default: GPU, 256² (default: default, or the checkpoint's)")
    ap.add_argument("--steps", type=at_least(1), help="total training steps (with --resume: the new total)")
    ap.add_argument("--size", type=int, choices=(128, 256), help="crop side the model works at (default: the preset's)")
    ap.add_argument("--base", choices=("personal", "rig"), help="the editor refined (default personal: the bank)")
    ap.add_argument("--pairs", type=int, help="base edits computed before training (default: the preset's)")
    ap.add_argument("--adversarial", type=float, metavar="WEIGHT",
                    help="weight of the optional patch-GAN loss (default 0: off)")
    ap.add_argument("--resume", action="store_true", help="continue the checkpoint in DIR")
    ap.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    add_config_option(ap)
    add_progress_option(ap)
    ap.set_defaults(func=run)


def _command(args) -> str:
    argv = [a for v in args.video or () for a in ("--video", v)] + ["-o", args.output]
    for opt in ("preset", "steps", "size", "base", "pairs", "adversarial", "device"):
        if getattr(args, opt) is not None:
            argv += [f"--{opt}", str(getattr(args, opt))]
    return shlex.join(["reenact", "train", *argv] + (["--resume"] if args.resume else []))


def run(args) -> int:
    if not has_module("torch"):
        raise BackendUnavailable("training needs torch: pip install 'reenact[torch]' (running a model does not)")
    from ..editors.neural.loop import train
    from ..editors.personal import BANK_META

    if args.video and not (Path(args.output) / BANK_META).exists():
        from ..tasks.enroll import enroll

        res = enroll(args.video, args.output, holdout=args.holdout, frames=args.frames,
                     cfg=load_config(args.config), progress=not args.no_progress, command=_command(args))
        print(f"enrolled {res.frames} frames into {res.directory}/ (coverage.txt: "
              f"{len(res.coverage.missing)} of 17 AUs missing)")
    elif args.video:
        from ..editors.neural.data import file_sha256
        from ..editors.personal.bank import read_meta

        if [file_sha256(v) for v in args.video] != [v["sha256"] for v in read_meta(Path(args.output))["videos"]]:
            raise ConfigError("already holds an enrolment of other footage: drop --video to train on it, or "
                              "choose another -o", args.output)
    res = train(args.output, preset=args.preset, steps=args.steps, size=args.size, base=args.base, pairs=args.pairs,
                adversarial=args.adversarial, resume=args.resume, device=args.device,
                progress=not args.no_progress, command=_command(args))
    losses = ", ".join(f"{k} {v:.4f}" for k, v in res.losses.items())
    print(f"trained {res.trained_steps} steps in {res.seconds / 60:.1f} min ({res.steps} in all)"
          + (" - stopped at the preset's time limit" if res.stopped_early else ""))
    if losses:
        print(f"final losses and mask statistics (mean of the last 20 steps): {losses}")
    print(f"wrote {res.directory}/: neural.onnx, manifest.json, checkpoint, losses.csv/png")
    print(f"use it: --editor neural:{res.directory}")
    return 0
