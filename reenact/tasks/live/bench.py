"""`reenact bench --live`: capture-to-output latency, delivered fps and dropped frames of live runs.

A 640×480 clip (talking_man.mp4, or the astronaut without the shared media) is played as a camera
through the camera interface (FileCamera: paced at its 30 fps, looped) for `seconds` with the rig
editor and `happy`, then with the identity editor, in one process. Each run's first `warmup_s` (model
start-up, first detection) is left out of its figures.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config import Config, load_config
from ...io.camera import FileCamera
from ...io.sink import SinkBase
from ...pipeline.types import Frame
from ..bench import make_bench_clip

RUNS = (("rig", "happy"), ("identity", ""))


@dataclass(frozen=True)
class LiveBenchResult:
    editor: str
    frames: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    fps: float
    dropped_percent: float

    def line(self) -> str:
        return (f"{self.editor}: p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, {self.fps:.1f} fps, "
                f"dropped {self.dropped_percent:.1f} %")


class Discard(SinkBase):
    """The sink of a benchmark: it has the frame the moment write() is called."""

    def write(self, frame: Frame, image: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass

    abort = close


def measure_live(clip: Path, *, editor: str, target: str = "", seconds: float = 10.0, warmup_s: float = 2.0,
                 cfg: Config | None = None) -> LiveBenchResult:
    from ...api import start_live, with_edit

    cfg = with_edit(cfg or load_config(), editor=editor, target=target or None)
    session = start_live(Discard(), cfg=cfg, camera_backend=FileCamera(clip))
    try:
        time.sleep(warmup_s)
        start, t0 = session.stats(), time.perf_counter()
        time.sleep(seconds)
    finally:
        session.stop()
    end = session.wait()
    t1 = t0 + seconds
    lat = np.array([s.latency_s for s in session.runner.latency.stamps() if t0 <= s.delivered < t1])
    captured = end.captured - start.captured
    p50, p95, worst = (1e3 * np.percentile(lat, (50, 95, 100))) if lat.size else (0.0, 0.0, 0.0)
    return LiveBenchResult(editor, int(lat.size), float(p50), float(p95), float(worst), lat.size / seconds,
                           100.0 * (end.dropped - start.dropped) / captured if captured else 0.0)


def run_live_bench(*, seconds: float = 10.0, media: Path | None = None, cfg: Config | None = None,
                   runs=RUNS) -> list[LiveBenchResult]:
    with tempfile.TemporaryDirectory(prefix="reenact-bench-live-") as tmp:
        clip = make_bench_clip(Path(tmp) / "camera.mp4", media, 240, (640, 480))
        return [measure_live(clip, editor=e, target=t, seconds=seconds, cfg=cfg) for e, t in runs]
