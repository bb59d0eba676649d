"""The sink contract, and fan-out to several. Sinks: where processed frames go — a video file, an image, a virtual camera or a preview window.

Every sink takes `write(frame, image)`: `frame` is the source Frame (its pts and time base), `image`
the processed RGB uint8 picture. `close()` finalises, `abort()` discards. Used with `with`, a sink
closes when the block succeeds and aborts when it raises:

    with open_source("in.mp4") as src, VideoFileSink("out.mp4", source=src, cfg=cfg.video) as sink:
        for frame in src:
            sink.write(frame, process(frame))

File sinks write through `files.PartFile`, so a failed or interrupted run leaves no partial file.
Every sink checks that it can work when it is constructed, before any frame is processed. One
module per kind: video_file.py, image_file.py, virtual_camera.py, preview.py.
"""
from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

import numpy as np

from ..pipeline.types import Frame



@runtime_checkable
class Sink(Protocol):
    # True once a user closed this output (a preview window); the runner stops on it
    closed_by_user: bool

    def write(self, frame: Frame, image: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class SinkBase:
    """A sink as a context manager: close on success, abort on an exception."""

    closed_by_user = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class MultiSink(SinkBase):
    """Writes every frame to several sinks; closes or aborts them all."""

    def __init__(self, sinks: Iterable[Sink]):
        self.sinks = list(sinks)

    @property
    def closed_by_user(self) -> bool:
        return any(s.closed_by_user for s in self.sinks)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        for s in self.sinks:
            s.write(frame, image)

    def close(self) -> None:
        """Close every sink even if one fails; the first failure is re-raised."""
        errors = []
        for s in self.sinks:
            try:
                s.close()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def abort(self) -> None:
        for s in self.sinks:
            s.abort()
