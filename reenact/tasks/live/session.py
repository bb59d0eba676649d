"""A live run and its handle: every control a person (panel, hotkeys) or a program has over it.

    session = api.start_live(sink, cfg=cfg)      # or api.run_live(..., on_start=...)
    session.set_target("happy"); session.set_strength(0.6); session.bypass()
    session.stats()                               # LiveStatus: fps, dropped, latency, faces' AUs
    session.stop(); session.wait()                # → RunStats

Each method checks its request on the caller's thread (a bad target, an editor that will not load or
a virtual camera that is missing fail there, with a one-line error) and then sends its messages down
the runner's control channel; the runner applies each on the thread that owns the stage it changes,
before that thread's next frame (pipeline/live.py). So no setting is shared between threads: `controls`
is a frozen snapshot that only the output thread replaces, and `stats()` is the runner's own snapshot.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from ...config import Config
from ...editors.stage import EditorStage
from ...errors import ConfigError, ReenactError
from ...io import open_source
from ...io.camera import looped, mark_camera_lost, paced
from ...io.sink import MultiSink, SinkBase
from ...pipeline.live import LiveRunner, LiveStatus
from ...pipeline.runner import RunStats
from ...pipeline.types import Frame
from ...stages.easing import EaseIn, FadeOut
from ...stages.targets import STRENGTH_RANGE, Target, TargetStage, check_strength, parse_target, presets

log = logging.getLogger("reenact")


@dataclass(frozen=True)
class Controls:
    """What the operator has asked for, as applied (replaced only on the runner's output thread)."""

    target: str = ""          # preset name, AU values, 'ref:NAME', or '' for no edit
    strength: float = 1.0
    editor: str = "identity"
    faces: tuple[int, ...] | None = None   # track ids edited; None: every face
    ease_s: float = 0.2
    recording: str = ""       # the file being recorded, '' when not
    virtual_camera: str = ""  # its device while on


class _Recording(SinkBase):
    """A recording started mid-run: its clock starts at its own first frame. A recording that cannot
    be finished (no frame yet) is a warning, not the end of the call."""

    def __init__(self, sink):
        self.sink, self.path = sink, sink.path
        self._t0: int | None = None

    def write(self, frame: Frame, image: np.ndarray) -> None:
        pts = frame.pts if frame.pts is not None else frame.index
        self._t0 = pts if self._t0 is None else self._t0
        self.sink.write(replace(frame, pts=pts - self._t0), image)

    def close(self) -> None:
        try:
            self.sink.close()
        except ReenactError as e:
            log.warning("recording not saved: %s", e)

    def abort(self) -> None:
        self.sink.abort()


def editor_choices() -> list[str]:
    """identity, rig, and a neural:engines/NAME for each trained model in the engines directory."""
    from ...editors.neural import ONNX_FILE
    from ...engines.manifest import engines_dir

    found = sorted(p.parent.name for p in engines_dir().glob(f"*/{ONNX_FILE}"))
    return ["identity", "rig", *(f"neural:engines/{name}" for name in found)]


class LiveSession:
    """One live run: the source, the pipeline, the runner and its outputs, with the controls over them.

    `sink` is a Sink or a function of the opened Source that makes one. make_editor(spec, cfg) builds
    an editor (api's, which passes the engine backend on).
    """

    def __init__(self, sink, *, cfg: Config, editor=None, source: str | None = None, camera_backend=None,
                 make_editor: Callable):
        from ... import api

        self.cfg = cfg
        self._make_editor = make_editor
        self._stack = contextlib.ExitStack()
        self._thread: threading.Thread | None = None
        self._result: RunStats | BaseException | None = None
        try:
            spec = source if source is not None else f"webcam:{cfg.live.camera}"
            src = self._stack.enter_context(open_source(spec, live_cfg=cfg.live, camera_backend=camera_backend,
                                                        reconnect=True))
            self.source = src
            # a file stands in for a camera by playing at its own speed; a still repeats at the camera's rate
            frames: Iterable[Frame] = src
            if src.kind == "video":
                frames = paced(src)
            elif src.kind == "image":
                frames = paced(looped(next(iter(src)), cfg.live.fps))
            self.fps = float(src.fps or cfg.live.fps)
            self.outputs = self._stack.enter_context(MultiSink([sink(src) if callable(sink) else sink]))
            pipe = self._stack.enter_context(api.build_pipeline(cfg, editor=editor, live=True))
        except BaseException:
            # unwound with the error, so an output file that never got a frame is discarded, not kept
            if not self._stack.__exit__(*sys.exc_info()):
                raise
        stages = pipe.stages
        self.targets = next(s for s in stages if isinstance(s, TargetStage))
        self.ease = next(s for s in stages if isinstance(s, EaseIn))
        self.fade = next(s for s in stages if isinstance(s, FadeOut))
        self.editor_stage = next(s for s in stages if isinstance(s, EditorStage))
        # tracking, AUs and targets on one thread; editing, compositing and the outputs on the other
        self.runner = LiveRunner(pipe, frames, self.outputs, split=stages.index(self.editor_stage), fps=self.fps,
                                 lost_after_s=cfg.live.read_timeout_s, hold=mark_camera_lost)
        target = self.targets.target
        name = editor if isinstance(editor, str) else cfg.edit.editor if editor is None else editor.name
        self.controls = Controls(target=target.name if target else "", strength=self.targets.strength,
                                 editor=name, ease_s=cfg.live.ease_s)

    # --- running -----------------------------------------------------------------------------------

    def run(self, max_frames: int | None = None) -> RunStats:
        """Run on the calling thread until the source ends, stop(), max_frames or the sink's user closes it."""
        with self._stack:
            return self.runner.run(max_frames)

    def start(self, max_frames: int | None = None) -> "LiveSession":
        """Run on a background thread; `wait()` returns its RunStats (or raises its error)."""

        def work() -> None:
            try:
                self._result = self.run(max_frames)
            except BaseException as e:  # re-raised by wait()
                self._result = e

        self._thread = threading.Thread(target=work, name="reenact-live", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> RunStats:
        if self._thread is not None:
            self._thread.join(timeout)
        if isinstance(self._result, BaseException):
            raise self._result
        if self._result is None:
            raise TimeoutError("the live run is still going")
        return self._result

    def stop(self) -> None:
        self.runner.stop.set()

    def close(self) -> None:
        """Release everything without running (a run closes it all itself when it ends)."""
        self._stack.close()

    def stats(self) -> LiveStatus:
        """fps, dropped frames, latency p50/p95/max over the last seconds, CPU, faces and their AUs."""
        return self.runner.status

    # --- controls ----------------------------------------------------------------------------------

    def _note(self, **changes) -> None:
        """Record a change in `controls` once the output thread reaches it."""
        self.runner.send(lambda _: setattr(self, "controls", replace(self.controls, **changes)))

    def set_target(self, target: str | Target | None) -> None:
        """A preset name, 'AU12=3,AU6=2' (in the config's mode), a Target, or None for no edit; eases in."""
        if isinstance(target, str):
            target = parse_target(target, self.cfg.edit.mode) if target.strip() else None

        def apply(_) -> None:
            self.targets.set_target(target)
            self.ease.restart()

        self.runner.send(apply, stage=self.targets)
        self._note(target=target.name if target is not None else "")

    def set_aus(self, values: Mapping[str, float], mode: str = "relative") -> None:
        """Explicit AU intensities (0–5): relative adds them to the face's own, absolute sets them."""
        named = {k: float(v) for k, v in values.items() if mode == "absolute" or float(v) != 0.0}
        spec = ",".join(f"{k}={v:g}" for k, v in named.items())
        self.set_target(parse_target(spec, mode) if named else None)

    def set_reference(self, image: np.ndarray, name: str = "upload") -> None:
        """The expression of the face in `image` (as --ref); NoFace when it has none."""
        from ...stages.targets import reference_target

        self.set_target(reference_target(image, name, self.cfg))

    def set_strength(self, strength: float) -> None:
        strength = check_strength(strength)

        def apply(_) -> None:
            self.targets.strength = strength
            self.ease.restart()

        self.runner.send(apply, stage=self.targets)
        self._note(strength=strength)

    def nudge_strength(self, delta: float) -> None:
        """Strength up or down by `delta`, from whatever it is when the message is applied (hotkeys)."""
        lo, hi = STRENGTH_RANGE

        def apply(_) -> None:
            self.targets.strength = round(min(max(self.targets.strength + delta, lo), hi), 3)
            self.ease.restart()
            strength = self.targets.strength
            self._note(strength=strength)

        self.runner.send(apply, stage=self.targets)

    def bypass(self, on: bool | None = True) -> None:
        """Send the camera's frames out untouched (bit-exact) from the next frame on; None toggles."""
        self.runner.bypass(on)

    def set_editor(self, spec: str) -> None:
        """identity, rig or neural:engines/NAME; loaded here, swapped in between two frames."""
        editor = self._make_editor(spec, self.cfg)

        def apply(_) -> None:
            old, self.editor_stage.editor = self.editor_stage.editor, editor
            old.close()

        self.runner.send(apply, stage=self.editor_stage)
        self._note(editor=spec)

    def edit_faces(self, track_ids: Iterable[int] | None) -> None:
        """Edit only these faces (track ids from stats().faces); None: every face."""
        ids = None if track_ids is None else tuple(sorted(int(i) for i in track_ids))
        self.runner.send(lambda _: self.ease.select(ids), stage=self.ease)
        self._note(faces=ids)

    def set_ease(self, seconds: float) -> None:
        """How long a change eases in and a lost face fades out."""
        if not 0.0 <= seconds <= 5.0:
            raise ConfigError(f"ease {seconds:g} s is outside 0..5 s")
        self.runner.send(lambda _: setattr(self.ease, "seconds", seconds), stage=self.ease)
        self.runner.send(lambda _: setattr(self.fade, "seconds", seconds), stage=self.fade)
        self._note(ease_s=seconds)

    def record(self, on: bool = True, path: str | Path | None = None) -> str:
        """Start recording the output to `path` (default: a timestamped file in the current folder), or stop."""
        from ...io.video_file import VideoFileSink

        if not on:
            def stop(_) -> None:
                for s in [s for s in self.outputs.sinks if isinstance(s, _Recording)]:
                    self.outputs.sinks.remove(s)
                    # finishing the file off the output thread, so the stream does not stall
                    threading.Thread(target=s.close, name="reenact-record-close").start()

            self.runner.send(stop)
            self._note(recording="")
            return ""
        path = Path(path) if path else Path(time.strftime("reenact-%Y%m%d-%H%M%S.mp4"))
        sink = _Recording(VideoFileSink(path, fps=self.fps, time_base=self.source.time_base, cfg=self.cfg.video))
        self.runner.send(lambda _: self.outputs.sinks.append(sink))
        self._note(recording=str(path))
        return str(path)

    def virtual_camera(self, on: bool = True) -> str:
        """Send the output to a virtual camera at the source's size and rate, or stop; its device name."""
        from ...io.virtual_camera import VirtualCameraSink

        def remove(_) -> None:
            for s in [s for s in self.outputs.sinks if isinstance(s, VirtualCameraSink)]:
                self.outputs.sinks.remove(s)
                s.close()

        if not on:
            self.runner.send(remove)
            self._note(virtual_camera="")
            return ""
        w, h = self.source.size
        sink = VirtualCameraSink(w, h, self.fps)
        self.runner.send(lambda _: (remove(_), self.outputs.sinks.append(sink)))
        self._note(virtual_camera=sink.device)
        return sink.device

    def on_key(self, key: str) -> None:
        """Preview hotkeys: 1–9 the presets in presets.yaml's order, 0 bypass on/off, + and − strength."""
        names = list(presets())
        if key.isdigit() and key != "0" and int(key) <= len(names):
            self.set_target(names[int(key) - 1])
        elif key == "0":
            self.bypass(None)
        elif key in "+=":
            self.nudge_strength(+0.1)
        elif key in "-_":
            self.nudge_strength(-0.1)
