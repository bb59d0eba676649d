"""Runners drive packets through a Pipeline from a source to a sink.

Offline (here): lossless and ordered. Decoding and encoding run on their own threads (PyAV releases
the GIL), joined by bounded queues, so tracking overlaps with I/O without ever dropping a frame.
Live (live.py): latency never grows. Capture keeps only the newest frame; stale ones are dropped and
counted. Control messages (a new target, say) travel on a separate queue that never drops.
"""
from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import cv2
from tqdm import tqdm

from .latency import LatencySummary
from .stage import Pipeline
from .types import Frame, Packet

_END = object()

# A thread coming back from C code that released the GIL (PyAV's decode and encode, OpenCV) waits for it
# until the holder's switch interval runs out, 5 ms by default. The stage threads run Python for
# milliseconds at a time, so decoding and encoding, which take the GIL back several times a frame, would
# stall on every return; a short interval during a run keeps them flowing.
SWITCH_INTERVAL_S = 0.0005
# OpenCV's own pool splits each call across the cores: an offline run's threads already keep both busy,
# and the split only adds wake-ups and spinning (the compositor alone, 720p bench clip: 6.9-7.5 ms of CPU
# a frame on one thread, 7.7-8.3 on two; `reenact bench` CPU ratio median 0.44 against 0.42, 5 runs each)
RUN_CV_THREADS = 1


@dataclass
class RunStats:
    frames: int = 0
    frames_with_face: int = 0
    frames_edited: int = 0       # frames whose output differs from the input
    dropped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    no_edit_reason: str = ""     # why a run edited nothing (set by the api; "" when it edited)
    stage_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # offline runs only: CPU time of each stage on its own thread; what a stage hands to threads of its own
    # (MediaPipe's graph runs on two) is not in it
    stage_cpu_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    # live runs only: frames read from the camera, marked copies sent while it was lost, frames a
    # stage failed on (passed through unedited), capture-to-output latency over the whole run
    captured: int = 0
    held: int = 0
    errors: int = 0
    latency: LatencySummary | None = None

    def count(self, packet: Packet) -> None:
        self.frames += 1
        self.frames_with_face += bool(packet.faces)
        # the compositor hands the input frame itself back when no edit touched it
        self.frames_edited += output_of(packet) is not packet.frame.image

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def dropped_percent(self) -> float:
        return 100.0 * self.dropped / self.captured if self.captured else 0.0

    def stage_ms(self, cpu: bool = False) -> dict[str, float]:
        n = max(self.frames, 1)
        return {k: 1000.0 * v / n for k, v in (self.stage_cpu_seconds if cpu else self.stage_seconds).items()}


class _Thread(threading.Thread):
    """A worker whose exception is kept and re-raised on the caller's thread."""

    def __init__(self, target: Callable[[], None], name: str):
        super().__init__(name=name, daemon=True)
        self._fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._fn()
        except BaseException as e:  # re-raised by check()
            self.error = e

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _put(q: queue.Queue, item, stop: threading.Event, workers: Iterable[_Thread] = ()) -> bool:
    """Blocking put that gives up when the run is stopping and re-raises a dead consumer's error."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            for w in workers:
                w.check()
    return False


def _get(q: queue.Queue, workers: Iterable[_Thread]):
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            for w in workers:
                w.check()


class StopPoint:
    """Where a stop (Ctrl-C, SIGTERM) may land in a run that writes a file: between frames. A signal
    handler that finds a frame being written and counted defers the stop to the end of that frame, so the
    result line counts exactly the frames the shortened file holds."""

    busy = False
    pending = False

    @classmethod
    def defer(cls) -> bool:
        """Called by a signal handler: True when it must not raise now (the frame's end will)."""
        cls.pending = cls.busy
        return cls.busy

    @classmethod
    @contextlib.contextmanager
    def frame(cls) -> Iterator[None]:
        cls.busy = True
        try:
            yield
        finally:
            cls.busy = False
            if cls.pending:
                cls.pending = False
                raise KeyboardInterrupt


class _RunSettings:
    """SWITCH_INTERVAL_S and RUN_CV_THREADS while any run is going (runs may overlap on threads); the first
    run in saves the process's own settings and the last one out puts them back."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs = 0
        self._before = (0.0, 0)

    def __enter__(self) -> None:
        with self._lock:
            if self._runs == 0:
                self._before = (sys.getswitchinterval(), cv2.getNumThreads())
                sys.setswitchinterval(min(self._before[0], SWITCH_INTERVAL_S))
                cv2.setNumThreads(min(self._before[1], RUN_CV_THREADS))
            self._runs += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0:
                sys.setswitchinterval(self._before[0])
                cv2.setNumThreads(self._before[1])


_run_settings = _RunSettings()


def output_of(packet: Packet):
    return packet.output if packet.output is not None else packet.frame.image


def thread_groups(stages: list) -> list[list]:
    """Consecutive runs of stages that share a worker thread: a new one starts at each stage whose
    `own_thread` is true (a stage that does not say starts one too) and at the first stage."""
    groups: list[list] = []
    for st in stages:
        if not groups or getattr(st, "own_thread", True):
            groups.append([])
        groups[-1].append(st)
    return groups


class OfflineRunner:
    """Worker threads joined by bounded FIFO queues: lossless and in order, and the tracker works on
    frame n+1 while the editor and compositor finish frame n. Cheap stages run on the thread of the
    stage before them (`thread_groups`): on 2 shared cores a thread per stage cost about 1.3 ms of CPU
    per 720p frame more, in wake-ups and GIL handoffs. Encoding runs on the calling thread, so Ctrl-C
    lands there and closes the file with what was written."""

    def __init__(self, pipeline: Pipeline, frames: Iterable[Frame], sink, *, total: int | None = None,
                 progress: bool = True, queue_size: int = 4):
        self.pipeline, self.frames, self.sink = pipeline, frames, sink
        self.total, self.progress, self.queue_size = total, progress, queue_size

    def run(self) -> RunStats:
        with _run_settings:
            return self._run()

    def _run(self) -> RunStats:
        stats = RunStats()
        stop = threading.Event()
        groups = thread_groups(self.pipeline.stages)
        queues = [queue.Queue(self.queue_size) for _ in range(len(groups) + 1)]

        def read() -> None:
            try:
                for f in self.frames:
                    if not _put(queues[0], Packet(frame=f), stop):
                        return
            finally:
                _put(queues[0], _END, stop)

        def work(i: int) -> None:
            named = [(st, type(st).__name__) for st in groups[i]]
            while not stop.is_set():
                try:
                    item = queues[i].get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is not _END:
                    for stage, name in named:
                        t0, c0 = time.perf_counter(), time.thread_time()
                        item = stage.process(item)
                        stats.stage_seconds[name] += time.perf_counter() - t0
                        stats.stage_cpu_seconds[name] += time.thread_time() - c0
                if not _put(queues[i + 1], item, stop) or item is _END:
                    return

        threads = [_Thread(read, "reenact-decode")]
        threads += [_Thread(lambda i=i: work(i), f"reenact-{type(g[0]).__name__}") for i, g in enumerate(groups)]
        for t in threads:
            t.start()
        bar = tqdm(total=self.total, unit="frame", disable=not self.progress, dynamic_ncols=True,
                   desc="reenact")
        t0 = time.perf_counter()
        try:
            while (packet := _get(queues[-1], threads)) is not _END:
                with StopPoint.frame():
                    self.sink.write(packet.frame, output_of(packet))
                    stats.count(packet)
                bar.update(1)
        except KeyboardInterrupt:
            # keep what was written: the sink still closes into a valid, shorter file
            stats.interrupted = True
        finally:
            stop.set()
            bar.close()
            for t in threads:
                t.join(timeout=5)
        stats.seconds = time.perf_counter() - t0
        return stats
