"""The Source contract: an opened input, a single-pass iterable of RGB uint8 `Frame`s with their own pts.

Open one with `reenact.io.open_source`; the kinds live in video.py, image.py and camera.py.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import CorruptMedia
from ..pipeline.types import Frame


def as_rate(fps: float | Fraction) -> Fraction:
    """A frame rate as a Fraction; 29.97, 23.976 and 59.94 mean the NTSC rates N × 1000/1001."""
    if isinstance(fps, Fraction) or float(fps).is_integer():
        return Fraction(fps)
    ntsc = round(fps * 1.001)
    if abs(fps * 1.001 - ntsc) < 0.002:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


class Source:
    """An opened input: a single-pass iterable of Frames, closed by `close()` or `with`.

    kind: "video" | "image" | "folder" | "webcam". fps is the nominal rate (None for a still image);
    frame_count is None when unknown (webcam, or a container that does not say); size is (w, h) of the
    first frame; path is the input file or folder (None for a webcam) so a sink can copy its audio.
    The first frame is decoded here, so an input that yields none fails before anything else starts.
    """

    def __init__(
        self,
        kind: str,
        frames: Iterator[Frame],
        *,
        fps: Fraction | None,
        time_base: Fraction,
        frame_count: int | None,
        path: Path | None,
        on_close: Callable[[], None] = lambda: None,
        original: np.ndarray | None = None,
    ):
        self.kind = kind
        self.fps = fps
        self.time_base = time_base
        self.frame_count = frame_count
        self.path = path
        # a still whose file holds more than RGB uint8 (16-bit, transparency): its pixels as decoded,
        # BGR(A) like OpenCV, so an image sink can keep them; None otherwise
        self.original = original
        self._on_close = on_close
        try:
            first = next(frames, None)
            if first is None:
                raise CorruptMedia("contains no frames", str(path) if path else None)
        except BaseException:
            self.close()
            raise
        self.size = first.size
        self._frames = itertools.chain([first], frames)

    def __repr__(self) -> str:
        return f"Source({self.kind}, {self.path or ''}, size={self.size}, fps={self.fps})"

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def close(self) -> None:
        on_close, self._on_close = self._on_close, lambda: None
        on_close()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
