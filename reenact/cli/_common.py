"""Options shared by the commands that run the pipeline, and their mapping onto config overrides."""
from __future__ import annotations

import argparse

from ..config import Config, load_config

EDIT_EXAMPLES = """
target examples:
  --editor rig --target-au happy             a preset from configs/presets.yaml
  --editor rig --target-au "AU12=3,AU6=2"    explicit intensities, FACS 0-5
  --editor rig --ref ref.jpg                 copy the expression of a reference face
  --editor rig --drive driver.mp4            follow a driving video's expression changes
"""


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
    ap.add_argument("--config", help="YAML config to start from (default: configs/default.yaml)")


def add_progress_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def add_pipeline_options(ap: argparse.ArgumentParser) -> None:
    add_config_option(ap)
    ap.add_argument("--editor", help="editor name: identity, rig, personal:engines/NAME, neural:engines/NAME "
                                     "(default from config)")
    ap.add_argument("--target-au", dest="target", help="preset name or 'AU12=3,AU6=2'")
    ap.add_argument("--ref", help="reference face image whose expression is the target")
    ap.add_argument("--drive", help="driving video file or 'webcam[:N]' whose AU changes drive the edit")
    ap.add_argument("--strength", type=float, help="scale of the edit, 0..1.5")
    ap.add_argument("--mode", choices=("absolute", "relative"), help="explicit AU values replace (absolute) or add to (relative) the face's own; presets are whole faces")
    ap.add_argument("--max-faces", type=int, help="faces to track (default 1)")
    ap.add_argument("--size", type=int, choices=(256, 512), help="aligned crop size")
    ap.add_argument("--color-match", action="store_true", default=None, help="match colours inside the mask")
    ap.add_argument("--backend", help="inference backend for compiled editors: auto (default), tensorrt, "
                                      "onnxruntime, torch, opencv")
    ap.add_argument("--calibrate", type=float, metavar="SECONDS",
                    help="treat the first SECONDS as the person's neutral face")


OVERRIDES = {
    "editor": "edit.editor", "target": "edit.target", "ref": "edit.ref", "drive": "edit.drive",
    "strength": "edit.strength", "mode": "edit.mode", "max_faces": "tracker.max_faces",
    "size": "aligner.size", "color_match": "compositor.color_match", "calibrate": "au.calibrate_s",
    "crf": "video.crf", "camera": "live.camera", "width": "live.width", "height": "live.height",
    "fps": "live.fps", "backend": "engine.backend",
}


def config_from_args(args: argparse.Namespace) -> Config:
    values = {key: getattr(args, opt) for opt, key in OVERRIDES.items() if getattr(args, opt, None) is not None}
    if (values.get("edit.target") or values.get("edit.ref") or values.get("edit.drive")) \
            and "edit.editor" not in values:
        values["edit.editor"] = "rig"  # asking for an expression implies the editor that makes one
    return load_config(getattr(args, "config", None), values)


def report(stats, what: str) -> None:
    line = f"{what}: {stats.frames} frames, {stats.frames_with_face} with a face, {stats.fps:.1f} fps"
    if stats.dropped:
        line += f", {stats.dropped} stale frames dropped"
    if stats.interrupted:
        line += " (interrupted: output closed cleanly)"
    print(line)
