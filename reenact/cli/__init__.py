"""`reenact` command line: a thin layer over the library. Each command is a module in this package.

A command module defines `add_parser(subparsers)`, which registers its parser and sets `func(args) -> int`.
Every mistake is one line on stderr and exit status 2: a bad flag (argparse's complaint, without the
usage block) or a library error (ReenactError). SIGTERM is handled like Ctrl-C: a run closes its output
into a valid, shorter file; the exit status is then 128 + the signal's number (130, 143).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from ..errors import ReenactError
from ._common import Interrupts

# one module per command, in the order `--help` lists them
COMMANDS = ("demo", "video", "image", "live", "analyze", "batch", "enroll", "train", "eval", "engines", "bench", "doctor")


class UsageError(ReenactError):
    """A command line argparse refused."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming the command instead of a usage block."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(
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
    try:
        args = build_parser().parse_args(argv)
    except UsageError as e:
        print(f"reenact: error: {e}", file=sys.stderr)
        return 2
    # our own loggers only, to the stderr of this call (not a process-wide logging setup)
    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(logging.Formatter("reenact: %(message)s"))
    logger = logging.getLogger("reenact")
    level = logger.level
    logger.addHandler(log_handler)
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    main_thread = threading.current_thread() is threading.main_thread()
    Interrupts.last = signal.SIGINT
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(s, Interrupts.handle) for s in handled] if main_thread else []
    try:
        return int(args.func(args) or 0)
    except ReenactError as e:
        print(f"reenact: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reenact: interrupted", file=sys.stderr)
        return Interrupts.status()
    finally:
        for sig, handler in zip(handled, previous):
            signal.signal(sig, handler)
        logger.removeHandler(log_handler)
        logger.setLevel(level)
