"""Library entry points: build a pipeline from a config and run it on a file, an image or a camera.

    from reenact import api
    stats = api.process_video("in.mp4", "out.mp4", editor="rig", target="happy")

The CLI calls these and nothing else. Each run checks first and loads later: the config, the input, the
output and the target are checked (milliseconds) before any model loads, so a typo fails at once.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from .stages.aligner import Aligner
from .stages.compositor import Compositor
from .stages.occlusion import OcclusionStage
from .config import Config, load_config
from .editors.stage import EditorStage
from .editors import EDITORS, Editor, create_editor
from .errors import ConfigError, UnsupportedInput
from .pipeline.runner import OfflineRunner, RunStats
from .pipeline.stage import Pipeline
from .stages.targets import TargetStage, build_target_stage, check_strength, parse_target
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


def check(cfg: Config) -> None:
    """Everything about a run's edit that can be checked without loading a model: the editor and backend
    names, the target, the strength, and that --ref and a --drive file open. Raises one-line errors."""
    from .engines import BACKENDS
    from .io import load_image, open_source, webcam_index

    e = cfg.edit
    EDITORS.get(e.editor.partition(":")[0])
    if cfg.engine.backend != "auto":
        BACKENDS.get(cfg.engine.backend)
    if e.target:
        parse_target(e.target, e.mode)
    check_strength(e.strength)
    if e.ref:
        load_image(e.ref)
    if e.drive and webcam_index(e.drive) is None:
        open_source(e.drive).close()  # decodes its first frame; a camera is opened once, by the run


def refuse_overwrite(dst: str | os.PathLike, cfg: Config, *inputs: str | os.PathLike) -> None:
    """An output may not be one of the run's inputs: the atomic rename would destroy it."""
    named = [(src, "the input") for src in inputs]
    named += [(cfg.edit.ref, "the --ref image"), (cfg.edit.drive, "the --drive video")]
    for src, what in named:
        if not src:
            continue
        try:
            same = os.path.samefile(src, dst)
        except OSError:  # one of them does not exist (yet)
            same = Path(src).resolve() == Path(dst).resolve()
        if same:
            raise UnsupportedInput(f"would overwrite {what}; choose another output name", str(dst))


def _why_unedited(stats: RunStats, cfg: Config, pipe: Pipeline, *, still: bool) -> str:
    """One line on why a run changed no pixel ("" when it changed some)."""
    e = cfg.edit
    if stats.frames_edited or not stats.frames:
        return ""
    if not stats.frames_with_face:
        return "no face found" + ("" if still else " in any frame")
    if e.editor == "identity":
        return "the identity editor passes frames through; ask for an expression with --target-au, --ref or --drive"
    if e.drive and still:
        return ("--drive follows how a driver's expression changes over time, and a still has one moment; "
                "use --ref with a frame of the driver instead")
    driver = next((st.driver for st in pipe.stages if isinstance(st, TargetStage)), None)
    if driver is not None and not getattr(driver, "seen_face", True):
        return f"no face found in the driver {e.drive}"
    if not (e.target or e.ref or e.drive):
        return "no target given (--target-au, --ref or --drive)"
    return "the target asks for the expression the face already shows"


def _check_calibration(cfg: Config, source) -> None:
    calibrate = cfg.au.calibrate_s
    if not calibrate:
        return
    if source.fps is None:
        raise ConfigError("--calibrate needs a video: a still is read against the population neutral face")
    if source.frame_count and calibrate >= source.frame_count / source.fps:
        raise ConfigError(f"--calibrate {calibrate:g} s is not shorter than the video "
                          f"({float(source.frame_count / source.fps):.1f} s): every frame would be the neutral face")


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


@contextlib.contextmanager
def _video_io(src: str | Path, dst: str | Path, cfg: Config) -> Iterator[tuple]:
    """The opened input and the output file (both checked) as (source, sink); the sink closes into a
    valid file when the block ends, even after an interrupt, and leaves nothing when it raises."""
    from .io import open_source
    from .io.video_file import VideoFileSink

    refuse_overwrite(dst, cfg, src)
    with open_source(str(src)) as source:
        if source.fps is None:
            raise UnsupportedInput("has no frame rate; use `reenact image` for a still", str(src))
        with VideoFileSink(dst, source=source, cfg=cfg.video) as sink:
            yield source, sink


def _offline(pipeline: Pipeline, source, sink, progress: bool) -> RunStats:
    stats = OfflineRunner(pipeline, source, sink, total=source.frame_count, progress=progress).run()
    if stats.interrupted and not stats.frames:
        raise KeyboardInterrupt  # nothing to keep: the sink discards its file
    return stats


def transcode(src: str | Path, dst: str | Path, pipeline: Pipeline, *, cfg: Config,
              progress: bool = True) -> RunStats:
    """Run every frame of a video through `pipeline` into `dst`, keeping frame count, pts and audio."""
    with _video_io(src, dst, cfg) as (source, sink):
        return _offline(pipeline, source, sink, progress)


def process_video(src: str | Path, dst: str | Path, *, cfg: Config | None = None,
                  editor: str | Editor | None = None, progress: bool = True) -> RunStats:
    """Edit every frame of a video; the output keeps frame count, timestamps and the audio stream."""
    cfg = cfg or load_config()
    check(cfg)
    with _video_io(src, dst, cfg) as (source, sink):
        _check_calibration(cfg, source)
        with build_pipeline(cfg, editor=editor) as pipe:
            stats = _offline(pipe, source, sink, progress)
            stats.no_edit_reason = _why_unedited(stats, cfg, pipe, still=False)
    return stats


def process_image(src: str | Path, dst: str | Path, *, cfg: Config | None = None,
                  editor: str | Editor | None = None) -> RunStats:
    """Edit one image; with nothing to change the output is a bit-exact copy of the pixels (and of its
    alpha channel and 16-bit depth, where the output format holds them)."""
    from .io.image_file import ImageSink
    from .io import open_source

    cfg = cfg or load_config()
    check(cfg)
    refuse_overwrite(dst, cfg, src)
    with open_source(str(src)) as source:
        _check_calibration(cfg, source)
        with ImageSink(dst, original=source.original) as sink, build_pipeline(cfg, editor=editor, static=True) as pipe:
            stats = _offline(pipe, source, sink, progress=False)
            stats.no_edit_reason = _why_unedited(stats, cfg, pipe, still=True)
    return stats


def _live_config(cfg: Config | None, max_frames: int | None) -> Config:
    cfg = cfg or load_config()
    check(cfg)
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be at least 1, got {max_frames}")
    return cfg


def start_live(sink, *, cfg: Config | None = None, editor: str | Editor | None = None,
               source: str | None = None, camera_backend=None, max_frames: int | None = None):
    """Start a live run on a background thread and return its handle, a `LiveSession`.

    `sink` is a Sink, or a function of the opened Source that makes one (so a virtual camera can take
    the camera's own size and rate). The handle steers the run while it goes: `set_target("happy")`,
    `set_strength(0.5)`, `bypass()`, `stats()` (fps, dropped, latency), `stop()`, `wait()` → RunStats.
    """
    from .tasks.live.session import LiveSession

    cfg = _live_config(cfg, max_frames)
    return LiveSession(sink, cfg=cfg, editor=editor, source=source,
                       camera_backend=camera_backend, make_editor=_make_editor).start(max_frames)


def run_live(sink, *, cfg: Config | None = None, editor: str | Editor | None = None,
             source: str | None = None, camera_backend=None, max_frames: int | None = None,
             on_start: Callable | None = None) -> RunStats:
    """Camera (or a file played live) → pipeline → sink, dropping stale frames to keep latency flat.

    Runs on the calling thread until the source ends, the sink is closed by its user, max_frames, or
    `stop()`. `on_start(session)` is offered the handle (see start_live) before the first frame. The
    outputs close when the run ends, and are discarded (no file left) when it cannot start.
    """
    from .tasks.live.session import LiveSession

    cfg = _live_config(cfg, max_frames)
    session = LiveSession(sink, cfg=cfg, editor=editor, source=source,
                          camera_backend=camera_backend, make_editor=_make_editor)
    if on_start is not None:
        try:
            on_start(session)
        except BaseException:
            session.close()
            raise
    stats = session.run(max_frames)
    stats.no_edit_reason = _why_unedited(stats, cfg, session.runner.pipeline, still=False)
    if stats.dropped:
        log.info("live: %d stale frames dropped to keep latency low", stats.dropped)
    return stats
