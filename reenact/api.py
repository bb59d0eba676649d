"""Library entry points: build a pipeline from a config and run it on a file, an image or a camera.

    from reenact import api
    stats = api.process_video("in.mp4", "out.mp4", editor="rig", target="happy")

The CLI calls these and nothing else.
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .stages.aligner import Aligner
from .stages.compositor import Compositor
from .stages.occlusion import OcclusionStage
from .config import Config, load_config
from .editors.stage import EditorStage
from .editors import EDITORS, Editor, create_editor
from .errors import UnsupportedInput
from .pipeline.runner import OfflineRunner, RunStats
from .pipeline.stage import Pipeline
from .stages.tracker import FaceTracker

log = logging.getLogger("reenact")


def with_edit(cfg: Config, **edit) -> Config:
    """Config with `edit.*` fields replaced (None leaves a field alone)."""
    return replace(cfg, edit=replace(cfg.edit, **{k: v for k, v in edit.items() if v is not None}))


def _make_editor(spec: str, cfg: Config) -> Editor:
    """Editors that run a compiled graph take `backend`; an explicit --backend reaches them."""
    takes = "backend" in inspect.signature(EDITORS.get(spec.partition(":")[0])).parameters
    kwargs = {"backend": cfg.engine.backend} if takes and cfg.engine.backend != "auto" else {}
    return create_editor(spec, **kwargs)


def build_pipeline(cfg: Config | None = None, *, editor: str | Editor | None = None,
                   static: bool = False, live: bool = False) -> Pipeline:
    """source → tracker → aligner → [occlusion] → [AU estimator → target] → editor → compositor.

    The AU estimator and target stage are wired in only for editors that read AUs; the occlusion stage
    unless `occlusion.enabled` is off. `live` wires the AU stages in always (the panel shows the face's
    AUs, and the editor may be swapped while running) and adds the easing stages around the editor
    (stages/easing.py), so no live change pops.
    """
    cfg = cfg or load_config()
    ed = editor if hasattr(editor, "edit") else _make_editor(editor or cfg.edit.editor, cfg)
    middle: list = []
    if ed.needs_au or live:
        from .stages.au import AUEstimator
        from .stages.targets import build_target_stage

        # the target is parsed before any model loads, so a typo fails at once
        target = build_target_stage(cfg, static=static)
        middle = [AUEstimator(cfg.au, static=static), target]
    hide = [OcclusionStage(cfg.occlusion)] if cfg.occlusion.enabled else []
    editor_stage = EditorStage(ed, occlusion=bool(hide))
    if live:
        from .stages.easing import EaseIn, FadeOut

        middle.append(EaseIn(cfg.live.ease_s))
        edit = [editor_stage, FadeOut(cfg.live.ease_s)]
    else:
        edit = [editor_stage]
    stages = [FaceTracker(cfg.tracker, static=static), Aligner(cfg.aligner), *hide, *middle, *edit,
              Compositor(cfg.compositor)]
    return Pipeline(stages)


def transcode(src: str | Path, dst: str | Path, pipeline: Pipeline, *, cfg: Config,
              progress: bool = True) -> RunStats:
    """Run every frame of a video through `pipeline` into `dst`, keeping frame count, pts and audio."""
    from .io.video_file import VideoFileSink
    from .io import open_source

    with open_source(str(src)) as source:
        if source.fps is None:
            raise UnsupportedInput("has no frame rate; use `reenact image` for a still", str(src))
        with VideoFileSink(dst, source=source, cfg=cfg.video) as sink:
            return OfflineRunner(pipeline, source, sink, total=source.frame_count, progress=progress).run()


def process_video(src: str | Path, dst: str | Path, *, cfg: Config | None = None,
                  editor: str | Editor | None = None, progress: bool = True) -> RunStats:
    """Edit every frame of a video; the output keeps frame count, timestamps and the audio stream."""
    cfg = cfg or load_config()
    with build_pipeline(cfg, editor=editor) as pipe:
        return transcode(src, dst, pipe, cfg=cfg, progress=progress)


def process_image(src: str | Path, dst: str | Path, *, cfg: Config | None = None,
                  editor: str | Editor | None = None) -> RunStats:
    """Edit one image; with nothing to change the output is a bit-exact copy of the pixels."""
    from .io.image_file import ImageSink
    from .io import open_source

    cfg = cfg or load_config()
    with open_source(str(src)) as source:
        sink = ImageSink(dst)
        with sink, build_pipeline(cfg, editor=editor, static=True) as pipe:
            stats = OfflineRunner(pipe, source, sink, total=1, progress=False).run()
    return stats


def start_live(sink, *, cfg: Config | None = None, editor: str | Editor | None = None,
               source: str | None = None, camera_backend=None, max_frames: int | None = None):
    """Start a live run on a background thread and return its handle, a `LiveSession`.

    `sink` is a Sink, or a function of the opened Source that makes one (so a virtual camera can take
    the camera's own size and rate). The handle steers the run while it goes: `set_target("happy")`,
    `set_strength(0.5)`, `bypass()`, `stats()` (fps, dropped, latency), `stop()`, `wait()` → RunStats.
    """
    from .tasks.live.session import LiveSession

    return LiveSession(sink, cfg=cfg or load_config(), editor=editor, source=source,
                       camera_backend=camera_backend, make_editor=_make_editor).start(max_frames)


def run_live(sink, *, cfg: Config | None = None, editor: str | Editor | None = None,
             source: str | None = None, camera_backend=None, max_frames: int | None = None,
             on_start: Callable | None = None) -> RunStats:
    """Camera (or a file played live) → pipeline → sink, dropping stale frames to keep latency flat.

    Runs on the calling thread until the source ends, the sink is closed by its user, max_frames, or
    `stop()`. `on_start(session)` is offered the handle (see start_live) before the first frame.
    """
    from .tasks.live.session import LiveSession

    session = LiveSession(sink, cfg=cfg or load_config(), editor=editor, source=source,
                          camera_backend=camera_backend, make_editor=_make_editor)
    if on_start is not None:
        try:
            on_start(session)
        except BaseException:
            session.close()
            raise
    stats = session.run(max_frames)
    if stats.dropped:
        log.info("live: %d stale frames dropped to keep latency low", stats.dropped)
    return stats
