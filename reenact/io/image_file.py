"""The image file sink: one still, written atomically."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputNotWritable, PipelineError, ReenactError
from ..pipeline.types import Frame
from ..files import PartFile
from .image import to_8bit
from .sink import SinkBase

log = logging.getLogger(__name__)

# what OpenCV's writers hold beyond 8-bit BGR, by extension
DEEP_FORMATS = frozenset({".png", ".tif", ".tiff", ".ppm", ".pnm"})
ALPHA_FORMATS = frozenset({".png", ".tif", ".tiff", ".webp"})


class ImageSink(SinkBase):
    """Writes one image; the format follows the extension (PNG is lossless, JPEG at quality 95).

    `original`: the input's own pixels when they hold more than RGB uint8 (Source.original: 16-bit
    and/or alpha, BGR(A)). Where the format can hold it, the output keeps the input's alpha, and its
    16-bit values wherever the edit left a pixel alone; otherwise a warning says what was dropped.
    """

    def __init__(self, path: str | os.PathLike, *, original: np.ndarray | None = None):
        self.path = Path(path)
        if not cv2.haveImageWriter(str(self.path)):
            raise OutputNotWritable(f"cannot write {self.path.suffix or 'extension-less'} images", str(self.path))
        self._original = original
        self._file = PartFile(self.path)
        self._written = False
        self._done = False

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if self._written:
            raise PipelineError(f"an image output takes one frame, got frame {frame.index} too; use a video output")
        ok, data = cv2.imencode(self.path.suffix, self._pixels(frame.image, image), [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise OutputNotWritable("image encoder failed", str(self.path))
        data.tofile(self._file.tmp)
        self._written = True

    def _pixels(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The BGR(A) array to encode: `after`, carrying the original's depth and alpha where they fit."""
        out = cv2.cvtColor(after, cv2.COLOR_RGB2BGR)
        orig = self._original
        if orig is None:
            return out
        ext = self.path.suffix.lower()
        if orig.dtype == np.uint16:
            if ext in DEEP_FORMATS:
                deep = orig[..., :3].copy()
                edited = np.any(after != before, axis=2)
                deep[edited] = out[edited].astype(np.uint16) * 257  # the edit is 8-bit; 257 maps 255 to 65535
                out = deep
            else:
                log.warning("%s: the input is 16-bit and %s holds 8 bits; written as 8-bit", self.path, ext)
        if orig.shape[2] == 4:
            if ext in ALPHA_FORMATS:
                alpha = orig[..., 3]
                out = np.dstack([out, alpha if out.dtype == alpha.dtype else to_8bit(alpha)])
            else:
                log.warning("%s: %s has no alpha channel; the input's transparency is dropped", self.path, ext)
        return out

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
