"""Webcams and live stand-ins: the camera backend (OpenCV's, or a video file played as a camera), webcam
Sources stamped from the monotonic clock in microseconds (the one place wall time enters the pipeline)
that can reopen a camera which went away, and `paced`/`looped` streams that play a file or a still as if
from a camera.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Protocol

import cv2
import numpy as np

from ..config import LiveConfig
from ..errors import CAMERA_STOPPED, CameraUnavailable
from ..pipeline.types import Frame
from ..quiet import native_logs_quieted
from .image import _to_rgb8
from .source import Source, as_rate

log = logging.getLogger("reenact")

MICROSECONDS = Fraction(1, 1_000_000)
_RETRY_S = 0.005  # pause between failed camera reads


class CameraBackend(Protocol):
    """What a webcam source needs from a capture API; OpenCV's by default, a fake in tests."""

    def open(self, index: int, width: int, height: int, fps: float) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


class OpenCVCamera:
    """CameraBackend on cv2.VideoCapture; `read` gives BGR (or gray) like OpenCV does."""

    def __init__(self) -> None:
        self._cap: cv2.VideoCapture | None = None

    def open(self, index: int, width: int, height: int, fps: float) -> bool:
        with native_logs_quieted():  # a missing camera makes OpenCV log from C++; our error says it once
            cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            return False
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        # a driver-side queue would hand us stale frames; keep it to one
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self._cap.read()

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_cameras(max_index: int = 4, *, backend: Callable[[], CameraBackend] = OpenCVCamera) -> list[int]:
    """The camera indices below max_index that open, for `reenact doctor`."""
    found = []
    for index in range(max_index):
        camera = backend()
        if camera.open(index, 640, 480, 30):
            found.append(index)
        camera.release()
    return found


class FileCamera:
    """CameraBackend playing a video file as a camera: its own size, paced at its own rate, looped.

    Benchmarks, soak runs and tests feed the live pipeline through the camera interface with it. Like a
    camera, a late reader gets no burst of old frames: the schedule restarts from now.
    """

    def __init__(self, path: str | os.PathLike, *, loop: bool = True):
        self.path, self.loop = os.fspath(path), loop
        self._cap: cv2.VideoCapture | None = None
        self._period = 0.0
        self._due = 0.0

    def open(self, index: int, width: int, height: int, fps: float) -> bool:
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            cap.release()
            return False
        self._cap = cap
        self._period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or fps)
        self._due = time.monotonic()
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self._cap is None:
            return False, None
        ok, img = self._cap.read()
        if not ok and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = self._cap.read()
        now = time.monotonic()
        if self._due > now:
            time.sleep(self._due - now)
        self._due = max(self._due, now) + self._period
        return ok, img

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_webcam(index: int, cfg: LiveConfig, backend: CameraBackend | None, *, reconnect: bool = False) -> Source:
    """reconnect: once it has delivered, a camera that stops is reopened every cfg.reconnect_s and the
    stream goes on when it is back (the live runner covers the gap); without it the stream raises."""
    camera = backend if backend is not None else OpenCVCamera()
    if not camera.open(index, cfg.width, cfg.height, cfg.fps):
        raise CameraUnavailable(f"camera {index} could not be opened (not connected, or in use by another app?)")
    if reconnect:
        redial = _Reconnecting(camera, index, cfg)
        reads, close = redial.reads(), redial.close
    else:
        reads, close = _reads(camera, cfg.read_timeout_s), camera.release
    return Source(
        "webcam",
        _stamp(reads),
        fps=as_rate(cfg.fps),
        time_base=MICROSECONDS,
        frame_count=None,
        path=None,
        on_close=close,
    )


def _reads(camera: CameraBackend, timeout_s: float) -> Iterator[tuple[np.ndarray, int]]:
    """Camera images with the monotonic ns they arrived at; raises CameraUnavailable when reads keep
    failing for timeout_s."""
    while True:
        asked = time.monotonic()  # not the last frame's time: the consumer may have been busy since
        while True:
            ok, img = camera.read()
            now = time.monotonic_ns()
            if ok and img is not None:
                break
            if time.monotonic() - asked > timeout_s:
                raise CameraUnavailable(f"{CAMERA_STOPPED} (none for {timeout_s:g} s)")
            time.sleep(_RETRY_S)
        yield img, now


def _stamp(reads: Iterable[tuple[np.ndarray, int]]) -> Iterator[Frame]:
    """Frames stamped in microseconds from the first one."""
    t0 = None
    for index, (img, now) in enumerate(reads):
        t0 = now if t0 is None else t0
        yield Frame(_to_rgb8(img), index, (now - t0) // 1000, MICROSECONDS)


class _Reconnecting:
    """Reads that survive the camera going away: it is reopened every cfg.reconnect_s until it is back.

    One line is logged when it is lost and one when it is back. `close` (from any thread) stops the
    retries; the lock keeps a reopen from racing the release.
    """

    def __init__(self, camera: CameraBackend, index: int, cfg: LiveConfig):
        self._camera, self._index, self._cfg = camera, index, cfg
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def reads(self) -> Iterator[tuple[np.ndarray, int]]:
        delivered = False
        while True:
            try:
                for read in _reads(self._camera, self._cfg.read_timeout_s):
                    delivered = True
                    yield read
            except CameraUnavailable as e:
                if not delivered:  # it never worked: fail at once, as without reconnection
                    raise
                since = time.monotonic()
                log.warning("camera %d lost (%s); reopening it every %g s", self._index, e, self._cfg.reconnect_s)
                if not self._reopen():
                    return
                log.warning("camera %d is back after %.1f s", self._index, time.monotonic() - since)

    def _reopen(self) -> bool:
        cfg = self._cfg
        while not self._closed.wait(cfg.reconnect_s):
            with self._lock:
                if self._closed.is_set():
                    return False
                self._camera.release()
                if self._camera.open(self._index, cfg.width, cfg.height, cfg.fps):
                    return True
        return False

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._camera.release()


def mark_camera_lost(image: np.ndarray) -> np.ndarray:
    """The last good frame, dimmed and labelled, for the virtual camera while the real one is gone."""
    out = (image.astype(np.uint16) * 3 // 5).astype(np.uint8)
    h, w = out.shape[:2]
    scale = max(0.5, w / 900)
    text = "camera lost - reconnecting"
    thick = max(1, round(2 * scale))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    org = ((w - tw) // 2, (h + th) // 2)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3 * thick, cv2.LINE_AA)
    cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out


def paced(
    frames: Iterable[Frame],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """Yield frames no sooner than their timestamps say: a video file played as if from a camera."""
    start = None
    for frame in frames:
        now = clock()
        if start is None:
            start = now - frame.time
        delay = start + frame.time - now
        if delay > 0:
            sleep(delay)
        yield frame


def looped(still: Frame, fps: float | Fraction) -> Iterator[Frame]:
    """One image as an endless stream at `fps` (avatar mode: a portrait animated by a driver)."""
    step = Fraction(1) / as_rate(fps)
    for i in itertools.count():
        yield Frame(still.image, i, int(i * step / MICROSECONDS), MICROSECONDS)
