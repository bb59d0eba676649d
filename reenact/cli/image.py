from __future__ import annotations

import argparse

from ._common import EDIT_EXAMPLES, add_pipeline_options, config_from_args, report

EXAMPLES = """examples:
  reenact image face.jpg -o out.png
  reenact image face.jpg -o happy.png --target-au happy
""" + EDIT_EXAMPLES


def add_parser(sub) -> None:
    ap = sub.add_parser("image", help="edit one image", description="Edit the faces in one image.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="input image (png, jpg, ppm, ...)")
    ap.add_argument("-o", "--output", required=True,
                    help="output image; png keeps untouched pixels exact, with the input's alpha and 16 bits")
    add_pipeline_options(ap)
    ap.set_defaults(func=run)


def run(args) -> int:
    from .. import api  # after the parser: `--help` and a bad flag load no model code

    cfg = config_from_args(args)
    return report(api.process_image(args.input, args.output, cfg=cfg), args.output, cfg)
