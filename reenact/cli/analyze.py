from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputNotFound, NoFace
from ..files import check_writable
from ..io import webcam_index
from ._common import Interrupts, add_config_option, add_progress_option, at_least, config_from_args

EXAMPLES = """examples:
  reenact analyze face.jpg                          print the AUs of each face
  reenact analyze talk.mp4 --csv au.csv --plot au.png
  reenact analyze talk.mp4 --calibrate 2 --csv au.csv     first 2 s are the neutral face
  reenact analyze talk.mp4 --neutral rest.jpg --csv au.csv
  reenact analyze webcam --plot au.png              Ctrl+C stops and writes the outputs

A video's AUs are relative to each face's own neutral: a running percentile of its features
(see configs/default.yaml, au:), --calibrate seconds, or a --neutral image of the same person.
A single image is read against the population-average neutral face.
"""


def add_parser(sub) -> None:
    ap = sub.add_parser("analyze", help="AU intensities of an image, a video or a webcam, as CSV and plot",
                        description="Estimate the 17 FACS action-unit intensities (0-5) of every face "
                                    "in every frame.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", metavar="IN", help="image, video, folder of images (unreadable files are skipped), "
                                                "or 'webcam[:N]'")
    ap.add_argument("--csv", help="CSV out: frame, timestamp, face_id, confidence, pose_*, AU01_r ... AU45_r")
    ap.add_argument("--plot", help="PNG out: stacked AU time series")
    ap.add_argument("--calibrate", type=float, metavar="SECONDS",
                    help="treat each face's first SECONDS as its neutral")
    ap.add_argument("--neutral", metavar="IMAGE", help="image of the same person at rest, used as the neutral")
    ap.add_argument("--max-faces", type=int, help="faces to track (default 1)")
    ap.add_argument("--max-frames", type=at_least(1), help="stop after this many frames")
    add_config_option(ap)
    add_progress_option(ap)
    ap.set_defaults(func=run)


def run(args) -> int:
    from ..tasks import analyze

    cfg = config_from_args(args)
    if args.neutral and not Path(args.neutral).is_file():
        raise InputNotFound("no such neutral image", args.neutral)
    for path in filter(None, (args.csv, args.plot)):
        check_writable(path)
    stream = analyze.packets(args.input, cfg=cfg, neutral=args.neutral,
                             max_frames=args.max_frames, progress=not args.no_progress)
    recs: list[analyze.AURecord] = []
    interrupted = False
    try:
        recs.extend(analyze.records(stream))
    except KeyboardInterrupt:  # keep what was analysed: a webcam runs until stopped
        interrupted = True
    finally:
        stream.close()
    if not recs:
        if interrupted:
            raise KeyboardInterrupt
        raise NoFace("no face found", args.input)
    if args.csv:
        analyze.write_csv(recs, args.csv)
    if args.plot:
        analyze.plot(recs, args.plot, title=str(args.input))
    df = analyze.to_dataframe(recs)
    summary = df.groupby("face_id")[list(analyze.AU_COLUMNS)].agg(["mean", "max"]).T.unstack(level=1)
    print(f"{args.input}: {df['frame'].nunique()} frames with a face")
    print(summary.round(2).to_string())
    for what, path in (("csv", args.csv), ("plot", args.plot)):
        if path:
            print(f"wrote {what}: {path}")
    if interrupted and webcam_index(str(args.input)) is None:
        print("(interrupted: the results cover only the frames analysed before it)")
        return Interrupts.status()
    return 0
