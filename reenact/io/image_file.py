"""The image file sink: one still, written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputNotWritable, PipelineError, ReenactError
from ..pipeline.types import Frame
from ..files import PartFile
from .sink import SinkBase



class ImageSink(SinkBase):
    """Writes one image; the format follows the extension (PNG is lossless, JPEG at quality 95)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not cv2.haveImageWriter(str(self.path)):
            raise OutputNotWritable(f"cannot write {self.path.suffix or 'extension-less'} images", str(self.path))
        self._file = PartFile(self.path)
        self._written = False
        self._done = False

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if self._written:
            raise PipelineError(f"an image output takes one frame, got frame {frame.index} too; use a video output")
        ok, data = cv2.imencode(
            self.path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
        )
        if not ok:
            raise OutputNotWritable("image encoder failed", str(self.path))
        data.tofile(self._file.tmp)
        self._written = True

    def close(self) -> None:
        if self._done:
            return
        if not self._written:
            self.abort()
            raise ReenactError("no image was written; nothing saved", str(self.path))
        self._file.commit()
        self._done = True

    def abort(self) -> None:
        self._done = True
        self._file.discard()
