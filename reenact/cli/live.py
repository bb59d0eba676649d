from __future__ import annotations

import argparse

from ..config import Config
from ._common import EDIT_EXAMPLES, add_pipeline_options, at_least, config_from_args, report

EXAMPLES = """examples:
  reenact live --target-au happy --virtual-cam          webcam → virtual camera for video calls
  reenact live --panel --virtual-cam                    steer it from a control page in the browser
  reenact live --preview --camera 1 --width 640 --height 480
  reenact live --drive webcam --source portrait.jpg --preview   avatar mode
""" + EDIT_EXAMPLES

HOTKEYS = "preview hotkeys: 1-9 presets, 0 bypass on/off, + and - strength, q quit"


def add_parser(sub) -> None:
    ap = sub.add_parser("live", help="webcam → preview, control panel and/or virtual camera",
                        description="Edit a live camera feed. Stale frames are dropped so latency never grows;\n"
                                    "latency, fps and drops are reported at the end. With no output chosen, a\n"
                                    "preview window opens where there is a display, else the control panel.\n"
                                    + HOTKEYS + ".",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--camera", type=int, help="camera index (default 0)")
    ap.add_argument("--source", help="use this image or video instead of the camera (avatar mode, testing)")
    ap.add_argument("--width", type=int, help="capture width")
    ap.add_argument("--height", type=int, help="capture height")
    ap.add_argument("--fps", type=float, help="capture frame rate")
    ap.add_argument("--virtual-cam", action="store_true",
                    help="send frames to a virtual camera (pyvirtualcam) at the camera's size and rate")
    ap.add_argument("--preview", action="store_true", help="show a preview window (" + HOTKEYS + ")")
    ap.add_argument("--panel", action="store_true",
                    help="serve a control page on 127.0.0.1 (its address, with a secret token, is printed)")
    ap.add_argument("--port", type=int, default=0, help="the panel's port (default: any free one)")
    ap.add_argument("-o", "--output", help="also record to this video file")
    ap.add_argument("--max-frames", type=at_least(1), help="stop after this many frames")
    add_pipeline_options(ap)
    ap.set_defaults(func=run)


def choose_outputs(args) -> None:
    """With no output asked for: the preview where a display exists, else the panel (said in one line)."""
    from ..io.preview import display_available

    if args.virtual_cam or args.output or args.preview or args.panel:
        return
    if display_available():
        args.preview = True
    else:
        args.panel = True
        print("reenact: no display for a preview window; serving the control panel instead")


def make_sinks(args, cfg: Config, source, extra=()):
    """The outputs, made once the source is open: the virtual camera takes its size and rate."""
    from ..io.preview import PreviewSink
    from ..io.sink import MultiSink
    from ..io.video_file import VideoFileSink
    from ..io.virtual_camera import VirtualCameraSink

    fps = float(source.fps or cfg.live.fps)
    sinks = MultiSink([])
    try:  # a sink that cannot start discards the ones made before it (no .part file is left)
        if args.virtual_cam:
            sinks.sinks.append(VirtualCameraSink(*source.size, fps))
        if args.output:
            sinks.sinks.append(VideoFileSink(args.output, fps=fps, cfg=cfg.video))
        if args.preview:
            sinks.sinks.append(PreviewSink("reenact"))
    except BaseException:
        sinks.abort()
        raise
    sinks.sinks.extend(extra)
    return sinks


def run(args) -> int:
    from .. import api
    from ..io.mjpeg import MJPEGSink
    from ..io.preview import PreviewSink

    cfg = config_from_args(args)
    if args.output:
        api.refuse_overwrite(args.output, cfg, *filter(None, [args.source]))
    choose_outputs(args)
    browser = MJPEGSink() if args.panel else None
    made = []
    servers = []

    def sinks(source):
        made.append(make_sinks(args, cfg, source, [browser] if browser else []))
        return made[-1]

    def on_start(session) -> None:
        for s in made[-1].sinks:
            if isinstance(s, PreviewSink):
                s.on_key = session.on_key
        if browser is not None:
            from ..tasks.live.panel import PanelServer

            servers.append(PanelServer(session, browser, port=args.port).start())
            print(f"reenact: control panel at {servers[-1].url}", flush=True)

    try:
        stats = api.run_live(sinks, cfg=cfg, source=args.source, max_frames=args.max_frames, on_start=on_start)
    finally:
        for server in servers:
            server.close()
    status = report(stats, "live", cfg, stoppable=True)  # Ctrl-C is how a live run ends
    print(f"live latency, capture to output: {stats.latency.line()}; dropped {stats.dropped} of "
          f"{stats.captured} ({stats.dropped_percent:.1f} %)"
          + (f"; {stats.held} 'camera lost' frames sent" if stats.held else "")
          + (f"; {stats.errors} frames went out unedited after an error" if stats.errors else ""))
    return status
