"""What the commands share: flag checks, the pipeline options and their mapping onto config
overrides, interrupts, and the result line."""
from __future__ import annotations

import argparse
import signal

from ..config import Config, load_config
from ..errors import ConfigError
from ..pipeline.runner import StopPoint

EDIT_EXAMPLES = """
target examples:
  --editor rig --target-au happy             a preset from configs/presets.yaml
  --editor rig --target-au "AU12=3,AU6=2"    explicit intensities, FACS 0-5
  --editor rig --ref ref.jpg                 copy the expression of a reference face
  --editor rig --drive driver.mp4            follow a driving video's expression changes
"""


def at_least(low: int):
    """An argparse type: a whole number >= low, so `--max-frames -5` is refused before anything runs."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def frame_list(text: str) -> tuple[int, ...]:
    """'0-40,66-71' → the frame indices 0…40 and 66…71 (an argparse type)."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, dash, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi if dash else lo)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a frame range: {part!r} (e.g. 0-40,66-71)") from None
        if a < 0 or b < a:
            raise argparse.ArgumentTypeError(f"not a frame range: {part!r} (first ≤ last, both ≥ 0)")
        out += range(a, b + 1)
    if not out:
        raise argparse.ArgumentTypeError("no frames given (e.g. 0-40,66-71)")
    return tuple(out)


def add_config_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--config", help="YAML config to start from (default: the package's configs/default.yaml)")


def add_progress_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def add_pipeline_options(ap: argparse.ArgumentParser) -> None:
    add_config_option(ap)
    ap.add_argument("--editor", help="editor name: identity, rig, personal:engines/NAME, neural:engines/NAME "
                                     "(default from config)")
    target = ap.add_mutually_exclusive_group()
    target.add_argument("--target-au", dest="target", help="preset name or 'AU12=3,AU6=2'")
    target.add_argument("--ref", help="reference face image whose expression is the target")
    target.add_argument("--drive", help="driving video file or 'webcam[:N]' whose AU changes drive the edit")
    ap.add_argument("--strength", type=float, help="scale of the edit, 0..1.5")
    ap.add_argument("--mode", choices=("absolute", "relative"), help="explicit AU values replace (absolute) or add to (relative) the face's own; presets are whole faces")
    ap.add_argument("--max-faces", type=int, help="faces to track (default 1)")
    ap.add_argument("--size", type=int, choices=(256, 512), help="aligned crop size")
    ap.add_argument("--color-match", action="store_true", default=None, help="match colours inside the mask")
    ap.add_argument("--backend", help="inference backend for compiled editors: auto (default), tensorrt, "
                                      "onnxruntime, torch, opencv")
    ap.add_argument("--calibrate", type=float, metavar="SECONDS",
                    help="treat the first SECONDS (up to 60) as the person's neutral face")


OVERRIDES = {
    "editor": "edit.editor", "target": "edit.target", "ref": "edit.ref", "drive": "edit.drive",
    "strength": "edit.strength", "mode": "edit.mode", "max_faces": "tracker.max_faces",
    "size": "aligner.size", "color_match": "compositor.color_match", "calibrate": "au.calibrate_s",
    "crf": "video.crf", "camera": "live.camera", "width": "live.width", "height": "live.height",
    "fps": "live.fps", "backend": "engine.backend",
}


def _flag(option: str) -> str:
    return "--target-au" if option == "target" else "--" + option.replace("_", "-")


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file (or the default) with the given flags on top; a bad value is named by its flag."""
    given = {opt: getattr(args, opt) for opt in OVERRIDES if getattr(args, opt, None) is not None}
    values = {OVERRIDES[opt]: v for opt, v in given.items()}
    if (values.get("edit.target") or values.get("edit.ref") or values.get("edit.drive")) \
            and "edit.editor" not in values:
        values["edit.editor"] = "rig"  # asking for an expression implies the editor that makes one
    try:
        return load_config(getattr(args, "config", None), values)
    except ConfigError as e:
        flag = next((opt for opt in given if OVERRIDES[opt] == e.key), None)
        if flag is None:
            raise
        raise ConfigError(f"{_flag(flag)}: {e.detail}") from None


class Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM both raise KeyboardInterrupt, which a run turns into a shorter output;
    `status()` is the exit status that says which one stopped it."""

    last: int = signal.SIGINT

    @classmethod
    def handle(cls, signum: int, frame) -> None:
        cls.last = signum
        if not StopPoint.defer():
            raise KeyboardInterrupt

    @classmethod
    def status(cls) -> int:
        return 128 + int(cls.last)


def describe_edit(cfg: Config) -> str:
    """'editor rig, target happy': what a run was asked to do, for its result line."""
    e = cfg.edit
    what = (f"target {e.target}" + (f" ({e.mode})" if "=" in e.target else "") if e.target
            else f"target the expression of {e.ref}" if e.ref
            else f"driven by {e.drive}" if e.drive else "no target")
    return f"editor {e.editor}, {what}"


def report(stats, what: str, cfg: Config, *, stoppable: bool = False) -> int:
    """Print a run's one result line and return the exit status. `stoppable`: an interrupt is the
    normal way to end it (live), not a shortened result."""
    line = f"{what}: {stats.frames} frames, {stats.frames_with_face} with a face, {stats.fps:.1f} fps"
    if stats.dropped:
        line += f", {stats.dropped} stale frames dropped"
    line += f"; {describe_edit(cfg)}"
    if stats.no_edit_reason:
        line += f"; nothing edited: {stats.no_edit_reason}"
    if stats.interrupted and not stoppable:
        line += f" (interrupted: {what} is a shortened file)"
        print(line)
        return Interrupts.status()
    print(line)
    return 0
