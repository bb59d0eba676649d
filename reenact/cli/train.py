"""`reenact train`: a personal neural editor from the user's own footage (needs torch)."""
from __future__ import annotations

import argparse
import shlex

from ..config import load_config
from ..engines.base import has_module
from ..errors import BackendUnavailable
from ._common import add_config_option, add_progress_option, at_least

DESCRIPTION = """\
Train a neural expression editor on footage of one person: every frame is tracked, aligned and
AU-annotated by reenact's own pipeline (cached, so a second run starts at once), then a warp + texture
generator learns to turn one frame into another from their AU difference. The result, engines/NAME/,
is used with --editor neural:engines/NAME by every command. A few minutes of the person talking and
making faces is a good start; README.md ("Personal neural editor") has measured times."""

EXAMPLES = """\
examples:
  reenact train --video me.mp4 -o engines/me --preset tiny            CPU, minutes: a first look (128²)
  reenact train --video a.mp4 --video b.mp4 -o engines/me             default preset: a GPU, 256²
  reenact train --video me.mp4 -o engines/me --resume --steps 40000   continue to 40000 steps in all
  reenact train --video me.mp4 -o engines/me2 --adversarial 0.05      add the patch-GAN loss (off by default)
  reenact train --video talk.mp4 -o engines/talk --preset tiny --holdout 0.3
                                                 keep the last 30% out, for `reenact eval --reconstruct`
  reenact video in.mp4 -o out.mp4 --editor neural:engines/me --target-au happy
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("train", help="train a personal neural editor on your own footage (needs torch)",
                        description=DESCRIPTION, epilog=EXAMPLES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", action="append", required=True, metavar="VIDEO",
                    help="footage of the person (repeat for more clips)")
    ap.add_argument("-o", "--output", required=True, metavar="DIR", help="model directory, e.g. engines/NAME")
    ap.add_argument("--preset", choices=("tiny", "default"),
                    help="tiny: CPU, minutes, 128²; default: GPU, 256² (default: default, or the checkpoint's)")
    ap.add_argument("--steps", type=at_least(1), help="total training steps (with --resume: the new total)")
    ap.add_argument("--size", type=int, choices=(128, 256), help="crop side the model works at (default: the preset's)")
    ap.add_argument("--holdout", type=float, metavar="FRACTION",
                    help="leave the last FRACTION of each video out of training (for evaluation)")
    ap.add_argument("--adversarial", type=float, metavar="WEIGHT",
                    help="weight of the optional patch-GAN loss (default 0: off)")
    ap.add_argument("--resume", action="store_true", help="continue the checkpoint in DIR")
    ap.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    add_config_option(ap)
    add_progress_option(ap)
    ap.set_defaults(func=run)


def _command(args) -> str:
    argv = [a for v in args.video for a in ("--video", v)] + ["-o", args.output]
    for opt in ("preset", "steps", "size", "holdout", "adversarial", "device"):
        if getattr(args, opt) is not None:
            argv += [f"--{opt}", str(getattr(args, opt))]
    return shlex.join(["reenact", "train", *argv] + (["--resume"] if args.resume else []))


def run(args) -> int:
    if not has_module("torch"):
        raise BackendUnavailable("training needs torch: pip install 'reenact[torch]' (running a model does not)")
    from ..editors.neural.loop import train

    res = train(args.video, args.output, preset=args.preset, steps=args.steps, size=args.size,
                holdout=args.holdout, adversarial=args.adversarial, resume=args.resume, cfg=load_config(args.config), device=args.device,
                progress=not args.no_progress, command=_command(args))
    losses = ", ".join(f"{k} {v:.4f}" for k, v in res.losses.items())
    print(f"trained {res.trained_steps} steps in {res.seconds / 60:.1f} min ({res.steps} in all)"
          + (" - stopped at the preset's time limit" if res.stopped_early else ""))
    if losses:
        print(f"final losses (mean of the last 20 steps): {losses}")
    print(f"wrote {res.directory}/: neural.onnx, manifest.json, checkpoint, losses.csv/png")
    print(f"use it: --editor neural:{res.directory}")
    return 0
