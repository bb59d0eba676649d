"""`reenact` command line: a thin layer over the library. Each command is a module in this package.

A command module defines `add_parser(subparsers)`, which registers its parser and sets `func(args) -> int`.
Library errors (ReenactError) are printed as one line and give exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import ReenactError

# one module per command, in the order `--help` lists them
COMMANDS = ("demo", "video", "image", "live", "analyze", "enroll", "train", "eval", "engines", "bench", "doctor")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="reenact",
        description="Real-time facial expression reenactment driven by facial action units.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  reenact video in.mp4 -o out.mp4\n  reenact live --virtual-cam\n  reenact doctor",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".{name}", __package__).add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="reenact: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ReenactError as e:
        print(f"reenact: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reenact: interrupted", file=sys.stderr)
        return 130
