"""The bundled default input: a short clip made from the public-domain astronaut.png.

A gentle synthetic camera (slow pan, zoom and roll) keeps the tracker honest, and a quiet tone gives the
file an audio track to carry through.
"""
from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import cv2
import numpy as np

from ..io.image import astronaut
from ..io.video_file import rgb_frame

def camera_motion(image: np.ndarray, n: int, size: tuple[int, int], fps: float) -> Iterable[np.ndarray]:
    """`n` frames of `image` seen by a slowly drifting camera, `size` = (w, h)."""
    h, w = image.shape[:2]
    out_w, out_h = size
    base = min(out_w / w, out_h / h) * 1.1
    for i in range(n):
        t = i / fps
        zoom = base * (1.0 + 0.05 * math.sin(2 * math.pi * t / 4.0))
        angle = 3.0 * math.sin(2 * math.pi * t / 5.0)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
        m[:, 2] += (out_w / 2 - w / 2 + 12 * math.sin(2 * math.pi * t / 3.0), out_h / 2 - h / 2)
        yield cv2.warpAffine(image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def write_clip(path: str | Path, frames: Iterable[np.ndarray], *, fps: int = 30, tone_hz: float | None = 440.0,
               crf: int = 18) -> Path:
    """Encode RGB frames as H.264 (+ an AAC sine tone lasting as long as the video) into `path`."""
    path = Path(path)
    frames = list(frames)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"})
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        # every stream must exist before the first packet is muxed
        aus = out.add_stream("aac", rate=48000, layout="mono") if tone_hz else None
        for img in frames:
            for pkt in vs.encode(rgb_frame(img)):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            rate = aus.rate
            total = int(rate * len(frames) / fps)
            t = np.arange(total) / rate
            wave = (0.2 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = wave[start:start + 1024][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for pkt in aus.encode():
                out.mux(pkt)
    return path


def make_demo_clip(path: str | Path, *, seconds: float = 4.0, fps: int = 30,
                   size: tuple[int, int] = (640, 480)) -> Path:
    n = int(round(seconds * fps))
    return write_clip(path, camera_motion(astronaut(), n, size, fps), fps=fps)
