"""The preview window sink (OpenCV highgui)."""
from __future__ import annotations

import os
import re
import sys
from typing import Callable

import cv2
import numpy as np

from ..errors import ReenactError
from ..pipeline.types import Frame
from .sink import SinkBase


class DisplayUnavailable(ReenactError, OSError):
    """No screen to show a preview window on."""


def _display_problem() -> str | None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to show a preview on (DISPLAY is not set); run without the preview"
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui and gui.group(1).upper() == "NONE":
        return "this OpenCV build has no GUI (opencv-python-headless?); run without the preview"
    return None


def display_available() -> bool:
    return _display_problem() is None


class PreviewSink(SinkBase):
    """Shows frames in an OpenCV window; q, Esc or closing the window sets `closed_by_user`.

    Any other key pressed in the window is handed to `on_key` as its character (live hotkeys).
    """

    def __init__(self, title: str = "reenact", *, on_key: Callable[[str], None] | None = None):
        problem = _display_problem()
        if problem:
            raise DisplayUnavailable(problem)
        self.title = title
        self.on_key = on_key
        self.closed_by_user = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed_by_user = True
        elif key != 0xFF and self.on_key is not None:
            self.on_key(chr(key))

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:  # the user already closed it
            pass

    abort = close
