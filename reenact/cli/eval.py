from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..tasks import evaluate
from ..config import MEDIA_DIR, load_config
from ..io.image import ASTRONAUT
from ..errors import InputNotFound
from ..files import check_writable, write_atomic
from ._common import add_config_option, add_progress_option, at_least, frame_list

log = logging.getLogger("reenact")

EXAMPLES = """examples:
  reenact eval --editor rig --save out/eval          every preset on the four stills, side-by-side PNGs
  reenact eval --editor rig --presets happy,sad --video talking_man.mp4 --markdown eval.md
  reenact eval --editor identity                     the pass-through: background exact, SSIM 1
  reenact eval --reconstruct talking_man.mp4 --editors rig,personal:engines/NAME,neural:engines/NAME
  reenact eval --reconstruct smile_man.mp4 --test-frames 41-65 --editors personal:engines/smile

Expression eval: each preset on astronaut.png, portrait_man.jpg, jesper.jpg, smile_man.jpg, takeo.ppm
and frame 0 of smile_man.mp4 (NAME#N: a clip's frame as a still; from --media) and on --video's
frames, read back with reenact's own tracker and AU estimator: AU error on the preset's AUs, change of
the other AUs, face SSIM, background PSNR ("exact": bit-exact), flicker added and speech r (video: the
least correlation of the output's AU25/AU26 with the input's), dlib identity distance (with
reenact[eval] installed), and the expression judge's P(asked emotion) before and after, its top class,
and whether the emotion is recognised ("already": the face showed it before, so the pair does not count);
then the same verdict from a second, unrelated judge (fer_*: human's FER2013 emotion net).
A summary line per judge under the table counts the recognised pairs.

Reconstruction eval (--reconstruct): the clip's last 30 % of frames are held out (or --test-frames);
for seeded pairs of held-out frames each editor gets the source crop and the target's AUs, and its
output is compared with the target crop, over the face and over the mouth: PSNR, SSIM, L1, AU error,
identity distance. Two control rows are always included: "no edit" and "blur control" (the source
blurred by 0.8 px, what smoothing alone gains).
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("eval", help="measure editors: AU accuracy, SSIM, background, flicker, identity",
                        description="Measure an editor's expression edits on the shared media, or editors' "
                                    "reconstruction of held-out frames of a clip.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--editor", default="rig", help="editor for the expression eval (default rig)")
    ap.add_argument("--presets", help="comma-separated preset names from configs/presets.yaml (default: all)")
    ap.add_argument("--media", help="folder with the stills and clips (default ../shared/media)")
    ap.add_argument("--images", default=",".join(evaluate.STILLS),
                    help="comma-separated stills, in --media or paths (default: %(default)s)")
    ap.add_argument("--video", help="clip for the expression eval, in --media or a path (e.g. talking_man.mp4)")
    ap.add_argument("--frames", type=at_least(1), help="use only the first N frames of --video / --reconstruct")
    ap.add_argument("--reconstruct", metavar="CLIP", help="run the reconstruction eval on CLIP instead")
    ap.add_argument("--test-frames", type=frame_list, metavar="RANGES",
                    help="--reconstruct on these frame indices instead of the last 30%%, e.g. 41-65")
    ap.add_argument("--editors", default="rig",
                    help="comma-separated editors for --reconstruct (default rig; 'no edit' always added)")
    ap.add_argument("--pairs", type=at_least(1), default=40, help="held-out (source, target) pairs (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the pair sample (default 0)")
    ap.add_argument("--save", metavar="DIR", help="write side-by-side PNGs (input | output | 4×|diff|) here")
    ap.add_argument("--csv", metavar="FILE", help="write the rows as CSV")
    ap.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    ap.add_argument("--strength", type=float, help="scale of the edits, 0..1.5 (default from config)")
    add_config_option(ap)
    add_progress_option(ap)
    ap.set_defaults(func=run)


def _media(name: str, folder: Path) -> Path | None:
    """The file `name` names, as given or in `folder`; a clip's frame 'clip.mp4#N' keeps its '#N'."""
    path, index = evaluate.split_frame(name)
    for p in (path, folder / path):
        if p.is_file():
            return p if index is None else p.with_name(f"{p.name}#{index}")
    return ASTRONAUT if name == ASTRONAUT.name else None


def _not_found(what: str, name: str, folder: Path) -> InputNotFound:
    """The error for a file not found as given nor in the media folder, which names the folder when it is
    missing (files given by their own path need none: the eval runs without the shared media)."""
    if folder.is_dir():
        return InputNotFound(what, name)
    return InputNotFound(f"no such media folder; {what}", str(folder))


def _items(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def run(args) -> int:
    cfg = load_config(args.config, {"edit.strength": args.strength})
    folder = Path(args.media or MEDIA_DIR)
    if args.media and not folder.is_dir():
        raise InputNotFound("no such media folder", args.media)
    for path in filter(None, (args.csv, args.markdown)):
        check_writable(path)
    progress = not args.no_progress
    if args.reconstruct:
        clip = _media(args.reconstruct, folder)
        if clip is None:
            raise _not_found("no such clip", args.reconstruct, folder)
        rows = evaluate.reconstruction_eval(clip, _items(args.editors), pairs=args.pairs, seed=args.seed,
                                            max_frames=args.frames, test_frames=args.test_frames, cfg=cfg,
                                            save=args.save, progress=progress)
    else:
        images, missing = [], []
        for name in _items(args.images):
            p = _media(name, folder)
            (missing.append(name) if p is None else images.append(p))
        video = _media(args.video, folder) if args.video else None
        if args.video and video is None:
            raise _not_found("no such clip", args.video, folder)
        if not images and video is None:
            raise _not_found(f"none of the stills ({', '.join(missing) or 'none named'}) is there, "
                             "and no --video was given", str(folder), folder)
        for name in missing:
            log.warning("eval: %s not found in %s, skipped", name, folder)
        rows = evaluate.expression_eval(args.editor, presets=_items(args.presets) or None, images=images,
                                        video=video, video_frames=args.frames, cfg=cfg, save=args.save,
                                        progress=progress)
    table = evaluate.markdown_table(rows)
    if not args.reconstruct:
        table += "\n" + evaluate.summary(rows) + "\n"
    print(table)
    if args.csv:
        evaluate.write_csv(rows, args.csv)
        print(f"wrote csv: {args.csv}")
    if args.markdown:
        write_atomic(Path(args.markdown), table.encode("utf-8"))
        print(f"wrote markdown: {args.markdown}")
    if args.save:
        print(f"wrote side-by-sides: {args.save}")
    return 0
