"""Pipeline benchmark: fps of the whole pipeline over fps of a bare decode+encode, in the same run.

Both runs use the same source, sink, encoder settings and threaded runner; the bare one has no stages.
So the ratio isolates what tracking, editing and compositing cost. Machines here are noisy: compare
ratios, not absolute fps across runs. Each run's CPU time (all of the process's threads) per frame is
reported too: a busy machine's waiting does not inflate it, and once other work takes the spare core the
fps ratio tends to the CPU ratio.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ..config import Config, load_config
from ..io.image import astronaut
from .demo import camera_motion, write_clip
from ..pipeline.stage import Pipeline


@dataclass
class BenchResult:
    editor: str
    frames: int
    size: tuple[int, int]
    bare_fps: float
    pipeline_fps: float
    stage_ms: dict[str, float]
    stage_cpu_ms: dict[str, float]  # on the stage's own thread
    bare_cpu_ms: float          # process CPU time per frame, all threads
    pipeline_cpu_ms: float
    # MediaPipe's graph threads in the pipeline run (part of the CPU outside the stages); None where the
    # system does not list a process's threads
    graph_cpu_ms: float | None = None

    @property
    def ratio(self) -> float:
        return self.pipeline_fps / self.bare_fps if self.bare_fps else 0.0

    @property
    def cpu_ratio(self) -> float:
        """bare / pipeline CPU per frame: the fps ratio tends to it once other work takes the spare core."""
        return self.bare_cpu_ms / self.pipeline_cpu_ms if self.pipeline_cpu_ms else 0.0

    def lines(self) -> list[str]:
        w, h = self.size
        out = [f"clip: {self.frames} frames at {w}x{h}",
               f"bare decode+encode: {self.bare_fps:7.1f} fps",
               f"pipeline ({self.editor}): {self.pipeline_fps:7.1f} fps",
               f"ratio pipeline/bare: {self.ratio:.2f}",
               f"CPU ms/frame (all threads): bare {self.bare_cpu_ms:.1f}, pipeline {self.pipeline_cpu_ms:.1f} "
               f"(ratio {self.cpu_ratio:.2f})",
               # wall time on the stage threads: waits for the GIL and for a core count too
               "per-stage wall ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in self.stage_ms.items()),
               "per-stage CPU ms/frame: " + ", ".join(f"{k} {v:.2f}" for k, v in self.stage_cpu_ms.items()),
               # decoding, encoding (and the codec's threads) and the native threads a stage starts
               # (MediaPipe's graph): the stage figures above miss these
               f"CPU ms/frame outside the stages: bare {self.bare_cpu_ms:.1f}, "
               f"pipeline {self.pipeline_cpu_ms - sum(self.stage_cpu_ms.values()):.1f}"
               + (f" (MediaPipe's graph threads {self.graph_cpu_ms:.1f})" if self.graph_cpu_ms is not None else "")]
        return out


def thread_cpu(prefix: str) -> float | None:
    """CPU seconds so far of this process's threads whose name starts with `prefix` (MediaPipe names its
    graph's threads mediapipe/N); None where /proc does not list threads."""
    task = Path("/proc/self/task")
    if not task.is_dir():
        return None
    ticks = 0
    for t in task.iterdir():
        try:
            stat = (t / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        # the name is in parentheses and may hold spaces; utime and stime are the 12th and 13th fields after it
        fields = stat[stat.rindex(")") + 2:].split()
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith(prefix):
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def make_bench_clip(path: Path, media: Path | None, frames: int, size: tuple[int, int] = (1280, 720)) -> Path:
    """talking_man.mp4 scaled to the height of `size` and padded to its width when the shared media is
    there, else the astronaut under a drifting camera; 30 fps."""
    w, h = size
    clip = media / "talking_man.mp4" if media else None
    if clip is not None and clip.exists():
        imgs = []
        with av.open(str(clip)) as c:
            for f in c.decode(video=0):
                img = f.to_ndarray(format="rgb24")
                img = cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h), interpolation=cv2.INTER_CUBIC)
                pad = max(w - img.shape[1], 0)
                imgs.append(np.pad(img, ((0, 0), (pad // 2, pad - pad // 2), (0, 0)), mode="edge")[:, :w])
                if len(imgs) == frames:
                    break
    else:
        imgs = list(camera_motion(astronaut(), frames, size, 30.0))
    return write_clip(path, imgs, fps=30)


def run_bench(*, editor: str = "identity", target: str = "", frames: int = 150,
              media: Path | None = None, cfg: Config | None = None) -> BenchResult:
    from ..api import build_pipeline, transcode, with_edit

    cfg = with_edit(cfg or load_config(), editor=editor, target=target or None)
    with tempfile.TemporaryDirectory(prefix="reenact-bench-") as tmp:
        tmp = Path(tmp)
        clip = make_bench_clip(tmp / "in.mp4", media, frames)
        with build_pipeline(cfg) as pipe:
            transcode(clip, tmp / "warm.mp4", pipe, cfg=cfg, progress=False)  # loads models and warms caches
            pipe.reset()
            c0 = time.process_time()
            bare = transcode(clip, tmp / "bare.mp4", Pipeline([]), cfg=cfg, progress=False)
            c1, g1 = time.process_time(), thread_cpu("mediapipe")
            full = transcode(clip, tmp / "full.mp4", pipe, cfg=cfg, progress=False)
            c2, g2 = time.process_time(), thread_cpu("mediapipe")
        with av.open(str(clip)) as c:
            st = c.streams.video[0]
            size = (st.codec_context.width, st.codec_context.height)
    return BenchResult(editor=editor, frames=full.frames, size=size, bare_fps=bare.fps,
                       pipeline_fps=full.fps, stage_ms=full.stage_ms(),
                       stage_cpu_ms=full.stage_ms(cpu=True), bare_cpu_ms=1000 * (c1 - c0) / max(bare.frames, 1),
                       pipeline_cpu_ms=1000 * (c2 - c1) / max(full.frames, 1),
                       graph_cpu_ms=None if g1 is None else 1000 * (g2 - g1) / max(full.frames, 1))
