"""Webcams and live stand-ins: the camera backend, webcam Sources stamped from the monotonic clock in
microseconds (the one place wall time enters the pipeline), and `paced`/`looped` streams that play a
file or a still as if from a camera.
"""
from __future__ import annotations

import itertools
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


def open_webcam(index: int, cfg: LiveConfig, backend: CameraBackend | None) -> Source:
    camera = backend if backend is not None else OpenCVCamera()
    if not camera.open(index, cfg.width, cfg.height, cfg.fps):
        raise CameraUnavailable(f"camera {index} could not be opened (not connected, or in use by another app?)")
    return Source(
        "webcam",
        _capture(camera, cfg.read_timeout_s),
        fps=as_rate(cfg.fps),
        time_base=MICROSECONDS,
        frame_count=None,
        path=None,
        on_close=camera.release,
    )


def _capture(camera: CameraBackend, timeout_s: float) -> Iterator[Frame]:
    """Camera frames stamped in microseconds from the first one; raises CameraUnavailable when reads
    keep failing for timeout_s."""
    t0 = None
    for index in itertools.count():
        asked = time.monotonic()  # not the last frame's time: the consumer may have been busy since
        while True:
            ok, img = camera.read()
            now = time.monotonic_ns()
            if ok and img is not None:
                break
            if time.monotonic() - asked > timeout_s:
                raise CameraUnavailable(f"{CAMERA_STOPPED} (none for {timeout_s:g} s)")
            time.sleep(_RETRY_S)
        t0 = now if t0 is None else t0
        yield Frame(_to_rgb8(img), index, (now - t0) // 1000, MICROSECONDS)


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
