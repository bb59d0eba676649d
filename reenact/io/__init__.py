"""Inputs and outputs. Sources: a video file, an image, a folder of images or a webcam, read as `Frame`s.

`open_source(spec)` is the one front door. It opens the input and decodes the first frame before it
returns, so a bad input fails here, before any sink or model is set up. A Source is a context manager
and a single-pass iterable of RGB uint8 `Frame`s carrying their own pts and time base:

    with open_source("in.mp4") as src:
        for frame in src: ...

One module per kind: video.py (PyAV), image.py (images and folders), camera.py (webcams, and
`paced`/`looped` streams standing in for one). Sinks: sink.py and one module per kind.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

from ..config import LiveConfig
from ..errors import InputNotFound
from .camera import CameraBackend, open_webcam
from .image import IMAGE_EXTENSIONS, load_image, open_folder, open_image
from .source import Source, as_rate
from .video import open_video

__all__ = ["Source", "open_source", "load_image", "webcam_index"]

_WEBCAM = re.compile(r"webcam(?::(\d+))?", re.IGNORECASE)


def webcam_index(spec: str, default: int = 0) -> int | None:
    """The camera index 'webcam' or 'webcam:N' names, else None (the spec is a path)."""
    m = _WEBCAM.fullmatch(spec.strip())
    if m is None:
        return None
    return int(m.group(1)) if m.group(1) else default


def open_source(
    spec: str | os.PathLike | int,
    *,
    fps: float | Fraction | None = None,
    live_cfg: LiveConfig = LiveConfig(),
    camera_backend: CameraBackend | None = None,
    reconnect: bool = False,
) -> Source:
    """Open a video file, an image, a folder of images, or a webcam ("webcam", "webcam:N" or N).

    fps sets the rate of a folder of images (default 1); a video keeps its own timing. A webcam is
    opened at live_cfg's size and rate; camera_backend replaces OpenCV (a file played as a camera, a fake
    in tests); reconnect reopens a webcam that goes away instead of ending its stream.
    Raises InputNotFound, CorruptMedia or CameraUnavailable with a one-line message.
    """
    if isinstance(spec, int):
        return open_webcam(spec, live_cfg, camera_backend, reconnect=reconnect)
    text = os.fspath(spec)
    index = webcam_index(text, live_cfg.camera)
    if index is not None:
        return open_webcam(index, live_cfg, camera_backend, reconnect=reconnect)
    path = Path(text)
    if path.is_dir():
        return open_folder(path, as_rate(fps) if fps else Fraction(1))
    if not path.exists():
        raise InputNotFound("no such file or folder", text)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return open_image(path)
    return open_video(path)
