"""The browser preview sink: the newest input/output pair, served as Motion JPEG by the live panel.

`write` only swaps one reference under a lock, so the pipeline never waits for a browser; each viewer's
thread encodes what it shows (after, before, or a split of the two) from the newest pair, at most
max_fps a second, skipping the frames in between.
"""
from __future__ import annotations

import threading
from typing import Iterator

import cv2
import numpy as np

from ..pipeline.types import Frame
from .sink import SinkBase

VIEWS = ("after", "before", "split")
BOUNDARY = "reenact-frame"


def compose(view: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """What a viewer sees: the output, the input, or the input's left half beside the output's right."""
    if view == "before":
        return before
    if view == "split" and before.shape == after.shape:
        out = after.copy()
        mid = out.shape[1] // 2
        out[:, :mid] = before[:, :mid]
        out[:, mid - 1 : mid + 1] = 255
        return out
    return after


class MJPEGSink(SinkBase):
    def __init__(self, *, quality: int = 80, max_side: int = 960, max_fps: float = 15.0):
        # a preview needs no more; every JPEG is CPU taken from the pipeline on a small machine
        self.quality, self.max_side, self.max_fps = quality, max_side, max_fps
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, np.ndarray] | None = None
        self._seq = 0
        self._closed = False

    def write(self, frame: Frame, image: np.ndarray) -> None:
        with self._cond:
            self._latest = (frame.image, image)
            self._seq += 1
            self._cond.notify_all()

    def latest(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The newest (input, output) pair, or None before the first frame."""
        with self._cond:
            return self._latest

    def jpegs(self, view: str, stop: threading.Event, keepalive_s: float = 1.0) -> Iterator[bytes]:
        """JPEGs of `view` as new frames arrive, at most max_fps a second (the last one again every
        keepalive_s while none do), until the sink closes or `stop` is set."""
        seen = 0
        while not stop.wait(1.0 / self.max_fps):
            with self._cond:
                self._cond.wait_for(lambda: self._seq != seen or self._closed, keepalive_s)
                if self._closed:
                    return
                pair, seen = self._latest, self._seq
            if pair is not None:
                yield self.encode(compose(view, *pair))

    def encode(self, image: np.ndarray) -> bytes:
        h, w = image.shape[:2]
        s = self.max_side / max(h, w)
        if s < 1:
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return data.tobytes()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    abort = close
