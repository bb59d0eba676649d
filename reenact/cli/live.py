from __future__ import annotations

import argparse

from ..config import Config
from ._common import EDIT_EXAMPLES, add_pipeline_options, at_least, config_from_args, report

EXAMPLES = """examples:
  reenact live --target-au happy --virtual-cam          webcam → virtual camera for video calls
  reenact live --preview --camera 1 --width 640 --height 480
  reenact live --drive webcam --source portrait.jpg --preview   avatar mode
""" + EDIT_EXAMPLES


def add_parser(sub) -> None:
    ap = sub.add_parser("live", help="webcam → preview and/or virtual camera",
                        description="Edit a live camera feed. Stale frames are dropped so latency never "
                                    "grows; the count is reported at the end.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camera", type=int, help="camera index (default 0)")
    ap.add_argument("--source", help="use this image or video instead of the camera (avatar mode, testing)")
    ap.add_argument("--width", type=int, help="capture width")
    ap.add_argument("--height", type=int, help="capture height")
    ap.add_argument("--fps", type=float, help="capture frame rate")
    ap.add_argument("--virtual-cam", action="store_true", help="send frames to a virtual camera (pyvirtualcam)")
    ap.add_argument("--preview", action="store_true", help="show a preview window (q or Esc quits)")
    ap.add_argument("-o", "--output", help="also record to this video file")
    ap.add_argument("--max-frames", type=at_least(1), help="stop after this many frames")
    add_pipeline_options(ap)
    ap.set_defaults(func=run)


def make_sinks(args, cfg: Config):
    from .. import api
    from ..io.preview import PreviewSink
    from ..io.sink import MultiSink
    from ..io.video_file import VideoFileSink
    from ..io.virtual_camera import VirtualCameraSink

    if args.output:
        api.refuse_overwrite(args.output, cfg, *filter(None, [args.source]))
    sinks = MultiSink([])
    try:  # a sink that cannot start discards the ones made before it (no .part file is left)
        if args.virtual_cam:
            sinks.sinks.append(VirtualCameraSink(cfg.live.width, cfg.live.height, cfg.live.fps))
        if args.output:
            sinks.sinks.append(VideoFileSink(args.output, fps=cfg.live.fps, cfg=cfg.video))
        if args.preview or not sinks.sinks:
            sinks.sinks.append(PreviewSink("reenact"))
    except BaseException:
        sinks.abort()
        raise
    return sinks


def run(args) -> int:
    from .. import api

    cfg = config_from_args(args)
    stats = api.run_live(make_sinks(args, cfg), cfg=cfg, source=args.source, max_frames=args.max_frames)
    report(stats, "live", cfg, stoppable=True)  # Ctrl-C is how a live run ends
    return 0
