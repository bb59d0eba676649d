"""The live pipeline's flow limiter: a one-slot mailbox filled by a capture thread."""
from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

from ..config import LiveConfig
from ..errors import CAMERA_STOPPED, CameraUnavailable
from .types import Frame


class LatestFrameReader:
    """Reads frames on a capture thread and keeps only the newest one, so live latency never grows.

    This is the live pipeline's flow limiter: one slot, overwritten by each new frame. `dropped`
    counts frames overwritten before `get()` took them; `captured` counts all frames read. The
    capture thread stops at the end of the frames or when `stop` is set; an error it hits is re-raised
    by `get()` on the consumer's thread. Close the reader before the source it reads.
    """

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        timeout_s: float = LiveConfig.read_timeout_s,
        stop: threading.Event | None = None,
    ):
        self.stop = stop if stop is not None else threading.Event()
        self.captured = 0
        self.dropped = 0
        self._frames = frames
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reenact-capture", daemon=True)

    def start(self) -> "LatestFrameReader":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for frame in self._frames:
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self.captured += 1
                    self._slot = frame
                    self._cond.notify_all()
                if self.stop.is_set():
                    break
        except BaseException as e:  # handed to the consumer, see get()
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def get(self) -> Frame | None:
        """The newest frame not yet returned, waiting for one if needed.

        Returns None once the frames have ended or `stop` is set. Raises the capture thread's error,
        or CameraUnavailable when no new frame arrives within timeout_s.
        """
        frame = self.poll(self._timeout_s)
        if frame is None and not self.done:
            raise CameraUnavailable(f"{CAMERA_STOPPED} (none for {self._timeout_s:g} s)")
        return frame

    def poll(self, timeout_s: float) -> Frame | None:
        """The newest frame not yet returned, or None when none arrives within timeout_s or the reader
        is `done`. Raises the capture thread's error once its frames have been taken."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._slot is None and not self._ended and not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                # short waits: `stop` may be set by another thread without notifying us
                self._cond.wait(min(left, 0.1))
            if self.stop.is_set():
                return None
            frame, self._slot = self._slot, None
            if frame is None and self._error is not None:
                raise self._error
            return frame

    @property
    def done(self) -> bool:
        """The frames have ended and the last one was taken, or `stop` is set."""
        with self._cond:
            return self.stop.is_set() or (self._ended and self._slot is None)

    @property
    def running(self) -> bool:
        """Whether the capture thread is still reading."""
        return self._thread.is_alive()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.get()) is not None:
            yield frame

    def close(self) -> None:
        self.stop.set()
        with self._cond:
            self._cond.notify_all()
        if self.running:
            self._thread.join(self._timeout_s)

    def __enter__(self) -> "LatestFrameReader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
