"""The live runner: camera frames → pipeline → sink, with latency that never grows and a call that never
freezes.

    capture ─ one-slot mailbox (stale frames dropped, counted) ─→ front thread: stages[:split]
            ─ one packet at most ─→ output thread (the caller's): stages[split:], then the sink

Tracking frame n+1 on the front thread overlaps editing frame n on the output thread: one frame of
pipeline delay at most, never a growing queue. The front takes a new frame from the mailbox only when
the output thread has taken its last packet, so a busy output thread holds it back, the mailbox drops
what the camera delivers meanwhile, and what the front tracks next is the newest frame.

Control: `send(message, stage=s)` queues `message(pipeline)` for the thread that runs stage `s` (the
output thread when None) on a FIFO that never drops; that thread runs its queue before its next frame.
So each message runs once, on the thread that owns what it changes, in the order sent, and before the
next frame that thread handles (a bypass acts on the very next frame out); no stage is touched by two
threads.

Never freezes: a stage that raises lets that frame through unedited (counted; logged once per stage
and error type). With no frame for `lost_after_s` the sink keeps getting the last output, passed
through `hold` (which marks it "camera lost"), at the source's rate until frames come back.
Every frame is stamped when captured and again when the sink has it (`latency`).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable, Iterable, Iterator

import numpy as np

from .latency import LatencyLog, LatencySummary
from .mailbox import LatestFrameReader
from .runner import RunStats, _Thread, output_of
from .stage import Pipeline, Stage
from .types import Frame, Packet

log = logging.getLogger("reenact")

Message = Callable[[Pipeline], None]
_END = object()
# how often the output thread publishes `status`, and the window of its recent figures
_STATUS_EVERY_S = 0.1
# packets tracked but not yet taken by the output thread; one keeps both threads busy and the frames fresh
_WAITING = 1
_RECENT_S = 5.0


@dataclass(frozen=True)
class FaceStatus:
    track_id: int
    bbox: tuple[float, float, float, float]
    source_au: tuple[float, ...] | None     # AU_NAMES order; None without an AU estimator


@dataclass(frozen=True)
class LiveStatus:
    """What a live run is doing now, published by its output thread as one immutable snapshot."""

    frames: int = 0           # camera frames delivered to the sink
    captured: int = 0         # camera frames read
    dropped: int = 0          # read but replaced by a newer one before the pipeline took them
    held: int = 0             # marked copies sent while the camera was lost
    errors: int = 0           # frames a stage failed on (they went out unedited)
    last_error: str = ""
    fps: float = 0.0          # delivered in the last second
    cpu_percent: float = 0.0  # this process, over the last second (100 = one core)
    latency: LatencySummary = LatencySummary()   # over the last few seconds
    camera_lost: bool = False
    bypass: bool = False
    size: tuple[int, int] = (0, 0)
    faces: tuple[FaceStatus, ...] = ()
    running: bool = True

    @property
    def dropped_percent(self) -> float:
        return 100.0 * self.dropped / self.captured if self.captured else 0.0


@dataclass(frozen=True)
class _Item:
    """Front → output: a processed packet, or a hold tick while the camera is lost."""

    packet: Packet | None = None
    captured: float = 0.0     # perf_counter s: when the frame came off the camera, or the hold was decided
    ok: bool = True           # False: a stage failed on it, so it goes out unedited


class _Meter:
    """Delivered fps and this process's CPU share, both over about the last second."""

    def __init__(self) -> None:
        self.delivered: deque[float] = deque(maxlen=256)
        self._cpu: deque[tuple[float, float]] = deque([(time.perf_counter(), time.process_time())], maxlen=32)

    def fps(self, now: float) -> float:
        return float(sum(1 for t in self.delivered if t > now - 1.0))

    def cpu_percent(self, now: float) -> float:
        cpu = time.process_time()
        while len(self._cpu) > 1 and self._cpu[1][0] <= now - 1.0:
            self._cpu.popleft()
        wall0, cpu0 = self._cpu[0]
        self._cpu.append((now, cpu))
        return 100.0 * (cpu - cpu0) / (now - wall0) if now > wall0 else 0.0


def _drain(control: queue.Queue, pipeline: Pipeline) -> None:
    while True:
        try:
            message = control.get_nowait()
        except queue.Empty:
            return
        message(pipeline)


def _next(handoff: queue.Queue, front: _Thread, control: queue.Queue, pipeline: Pipeline):
    """The front thread's next item, with the output thread's messages run first (also while none
    comes); the front's error re-raised; _END once it has ended (stopping, its _END may not get through)."""
    while True:
        _drain(control, pipeline)
        try:
            item = handoff.get(timeout=0.05)
        except queue.Empty:
            front.check()
            if not front.is_alive():
                return _END
            continue
        _drain(control, pipeline)
        return item


def _stamped(frames: Iterable[Frame]) -> Iterator[tuple[Frame, float]]:
    """Each frame with the moment it came off the camera (runs on the capture thread)."""
    for f in frames:
        yield f, time.perf_counter()


class LiveRunner:
    def __init__(self, pipeline: Pipeline, frames: Iterable[Frame], sink, *, split: int | None = None,
                 fps: float | Fraction = 30, lost_after_s: float = 2.0,
                 hold: Callable[[np.ndarray], np.ndarray] = lambda image: image):
        self.pipeline, self.frames, self.sink = pipeline, frames, sink
        self.split = len(pipeline.stages) if split is None else split
        self.period_s = 1.0 / float(fps)
        self.lost_after_s, self.hold = lost_after_s, hold
        self._front_control: queue.Queue[Message] = queue.Queue()
        self._output_control: queue.Queue[Message] = queue.Queue()
        self.stop = threading.Event()
        self.latency = LatencyLog()
        self.status = LiveStatus(running=False)
        self._bypass = False           # owned by the output thread
        self._errors = 0
        self._last_error = ""
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # the error count, shared by both threads

    def send(self, message: Message, *, stage: Stage | None = None) -> None:
        """Apply `message(pipeline)` before the next frame, on the thread that runs `stage` (the output
        thread when None). Messages are never dropped and run in the order sent."""
        front = stage is not None and any(stage is s for s in self.pipeline.stages[: self.split])
        (self._front_control if front else self._output_control).put(message)

    def bypass(self, on: bool | None = True) -> None:
        """From the next frame on, send the camera's frames out untouched (bit-exact), or stop doing so;
        None toggles."""
        self.send(lambda _: setattr(self, "_bypass", not self._bypass if on is None else on))

    # --- both threads ------------------------------------------------------------------------------

    def _run_stages(self, stages, packet: Packet, stats: RunStats) -> tuple[Packet, bool]:
        for st in stages:
            name = type(st).__name__
            t0 = time.perf_counter()
            try:
                packet = st.process(packet)
            except Exception as e:  # the frame goes out unedited; the call goes on
                self._failed(name, packet.frame.index, e)
                return packet, False
            finally:
                stats.stage_seconds[name] += time.perf_counter() - t0
        return packet, True

    def _failed(self, stage: str, index: int, e: Exception) -> None:
        text = f"{type(e).__name__}: {e}"
        with self._lock:
            self._errors += 1
            self._last_error = f"{stage}: {text}"
            first = (stage, type(e).__name__) not in self._logged
            self._logged.add((stage, type(e).__name__))
        if first:
            log.warning("%s failed on frame %d (%s); such frames go out unedited", stage, index, text)

    # --- front thread ------------------------------------------------------------------------------

    def _front(self, reader: LatestFrameReader, handoff: queue.Queue, free: threading.Semaphore,
               stats: RunStats) -> None:
        stages = self.pipeline.stages[: self.split]
        last_seen = time.perf_counter()
        try:
            while True:
                # take a frame only once the output thread has taken the last packet, so the newest
                # frame is the one tracked and at most one packet ever waits for the output thread
                while not free.acquire(timeout=0.1):
                    if self.stop.is_set():
                        return
                # wait at most a frame period, so messages and hold ticks go out without frames too;
                # once the frames have ended this raises the capture thread's error, if it had one
                got = reader.poll(self.period_s)
                if got is None and reader.done:
                    return
                lost = time.perf_counter() - last_seen >= self.lost_after_s
                _drain(self._front_control, self.pipeline)
                if got is not None:
                    frame, captured = got
                    last_seen = time.perf_counter()
                    packet, ok = self._run_stages(stages, Packet(frame=frame), stats)
                    handoff.put(_Item(packet, captured, ok))
                elif lost:  # stamped now: frames captured later get later pts than this hold
                    handoff.put(_Item(captured=time.perf_counter()))
                else:
                    free.release()
        finally:
            handoff.put(_END)

    # --- output thread -----------------------------------------------------------------------------

    def run(self, max_frames: int | None = None) -> RunStats:
        stats = RunStats()
        handoff: queue.Queue = queue.Queue()
        free = threading.Semaphore(_WAITING)  # places for packets: taken by the front, given back here
        back = self.pipeline.stages[self.split:]
        last: tuple[Frame, np.ndarray, float] | None = None   # the last frame out, its output, capture time
        marked: tuple[int, np.ndarray] | None = None           # `hold` of that output, made once
        held_pts: int | None = None
        meter = _Meter()
        published = 0.0
        faces: tuple = ()                                      # the last frame's FaceSamples
        camera_lost = False
        t0 = time.perf_counter()
        with LatestFrameReader(_stamped(self.frames), stop=self.stop) as reader:
            front = _Thread(lambda: self._front(reader, handoff, free, stats), "reenact-live-front")
            front.start()
            self.status = LiveStatus()
            try:
                while (item := _next(handoff, front, self._output_control, self.pipeline)) is not _END:
                    free.release()
                    if item.packet is not None:
                        packet, ok = item.packet, item.ok
                        if ok and not self._bypass:
                            packet, ok = self._run_stages(back, packet, stats)
                        frame = packet.frame
                        if held_pts is not None and frame.pts is not None and frame.pts <= held_pts:
                            # captured as the last hold went out: keep the clock strictly increasing
                            frame = replace(frame, pts=held_pts + 1)
                        image = output_of(packet) if ok and not self._bypass else frame.image
                        self.sink.write(frame, image)
                        now = time.perf_counter()
                        self.latency.record(frame.index, item.captured, now)
                        meter.delivered.append(now)
                        stats.frames += 1
                        stats.frames_with_face += bool(item.packet.faces)
                        stats.frames_edited += image is not packet.frame.image
                        last, held_pts, camera_lost = (frame, image, item.captured), None, False
                        faces = item.packet.faces
                    elif last is not None:  # a hold tick
                        frame, image, captured = last
                        if marked is None or marked[0] != id(image):
                            marked = (id(image), self.hold(image))
                        # the hold keeps the stream's clock running, so a recording stays valid
                        pts = (frame.pts if frame.pts is not None else frame.index) + round(
                            Fraction(item.captured - captured) / frame.time_base)
                        held_pts = pts if held_pts is None else max(pts, held_pts + 1)
                        self.sink.write(replace(frame, pts=held_pts), marked[1])
                        stats.held += 1
                        camera_lost = True
                    if time.perf_counter() - published >= _STATUS_EVERY_S:
                        published = time.perf_counter()
                        self._publish(reader, stats, meter, faces, camera_lost, last)
                    if getattr(self.sink, "closed_by_user", False) or (max_frames and stats.frames >= max_frames):
                        break
                else:  # the front thread ended: by the frames' end, or by an error that is the run's
                    front.join()
                    front.check()
            except KeyboardInterrupt:
                stats.interrupted = True
            finally:
                self.stop.set()
                front.join(timeout=5)
                stats.dropped, stats.captured = reader.dropped, reader.captured
                stats.seconds = time.perf_counter() - t0
                stats.errors = self._errors
                stats.latency = self.latency.summary()
                self._publish(reader, stats, meter, faces, camera_lost, last, running=False)
        return stats

    def _publish(self, reader: LatestFrameReader, stats: RunStats, meter: _Meter, faces, camera_lost: bool,
                 last, *, running: bool = True) -> None:
        now = time.perf_counter()
        with self._lock:
            errors, last_error = self._errors, self._last_error
        self.status = LiveStatus(
            frames=stats.frames, captured=reader.captured, dropped=reader.dropped, held=stats.held,
            errors=errors, last_error=last_error, fps=meter.fps(now), cpu_percent=meter.cpu_percent(now),
            latency=self.latency.summary(since=now - _RECENT_S), camera_lost=camera_lost, bypass=self._bypass,
            size=last[0].size if last is not None else (0, 0), running=running,
            faces=tuple(FaceStatus(s.face.track_id, s.face.bbox,
                                   None if s.source_au is None else tuple(s.source_au.values.tolist()))
                        for s in faces))
