"""The virtual camera sink (pyvirtualcam), letterboxing to the camera's size."""
from __future__ import annotations

import logging
import sys
from typing import Callable, Protocol

import cv2
import numpy as np

from ..errors import VirtualCameraUnavailable
from ..pipeline.types import Frame
from .sink import SinkBase

log = logging.getLogger(__name__)


class VirtualCamera(Protocol):
    """The part of pyvirtualcam.Camera this sink uses."""

    device: str

    def send(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


_SETUP_HINT = (
    "install OBS Studio and start its Virtual Camera once"
    if sys.platform in ("win32", "darwin")
    else "run `sudo modprobe v4l2loopback devices=1 exclusive_caps=1` (package v4l2loopback-dkms)"
)


def _pyvirtualcam(width: int, height: int, fps: float) -> VirtualCamera:
    try:
        import pyvirtualcam

        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB)
    except ImportError:
        raise VirtualCameraUnavailable("pyvirtualcam is not installed; pip install pyvirtualcam") from None
    except RuntimeError as e:
        # pyvirtualcam's first sentence names the backend and what it missed
        reason = str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__
        raise VirtualCameraUnavailable(f"no virtual camera ({reason}); to set one up, {_SETUP_HINT}") from None


def probe_virtual_camera() -> tuple[bool, str, str]:
    """For `reenact doctor`: (works, what was found, how to fix it)."""
    try:
        camera = _pyvirtualcam(64, 48, 30)
    except VirtualCameraUnavailable as e:
        detail, _, fix = e.args[0].partition("; ")
        return False, detail, fix
    camera.close()
    return True, f"device {camera.device}", ""


def letterbox(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to fit width × height keeping the aspect ratio, and pad the rest black."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


class VirtualCameraSink(SinkBase):
    """Sends frames to a virtual webcam that video-call apps can pick (pyvirtualcam).

    Frames of another size are letterboxed to the camera's, so faces are never stretched. No pacing
    is done here: live frames already arrive at the camera's rate, and waiting would add latency.
    `backend(width, height, fps)` opens the camera; pyvirtualcam's by default, a fake in tests.
    """

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        *,
        backend: Callable[[int, int, float], VirtualCamera] = _pyvirtualcam,
    ):
        self.size = (width, height)
        self._camera = backend(width, height, fps)
        self.device = self._camera.device
        log.info("virtual camera %s at %dx%d", self.device, width, height)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        self._camera.send(np.ascontiguousarray(letterbox(image, *self.size)))

    def close(self) -> None:
        self._camera.close()

    abort = close
