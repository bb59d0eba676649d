"""Still inputs: image files (`load_image`), one image as a Source, a folder of images as a Source.

Still images and folders get pts = index in 1/fps.
"""
from __future__ import annotations

import io
import os
import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import CorruptMedia, InputNotFound, UnsupportedInput
from ..pipeline.types import Frame
from .source import Source

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
# the bundled public-domain portrait: demo input and the engines' example face
ASTRONAUT = Path(__file__).resolve().parents[1] / "data" / "astronaut.png"


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    """OpenCV's gray/BGR/BGRA, 8- or 16-bit, to RGB uint8."""
    if img.dtype == np.uint16:
        # x * 255 / 65535 rounded; exact inverse of the usual 8→16-bit x * 257
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise UnsupportedInput(f"unsupported pixel depth {img.dtype}; use 8- or 16-bit images")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), upright per its EXIF orientation.

    Grayscale is expanded to three channels, palette images are expanded by the decoder, and 16-bit
    images are scaled to 8 bits. Alpha is dropped: every stage and sink works on RGB, and a cut-out's
    alpha says where the subject is, not what colour the face is.
    Raises InputNotFound for a missing file and CorruptMedia for one no decoder can read.
    """
    p = Path(path)
    try:
        # fromfile + imdecode instead of imread: non-ASCII paths work on Windows too
        data = np.fromfile(p, dtype=np.uint8)
    except FileNotFoundError:
        raise InputNotFound("no such file", str(p)) from None
    except OSError as e:
        raise CorruptMedia(f"cannot read image ({e.strerror})", str(p)) from None
    return decode_image(data, str(p))


def decode_image(data: bytes | np.ndarray, name: str | None = None, *, max_pixels: int | None = None) -> np.ndarray:
    """Encoded image bytes → RGB uint8, as `load_image` reads a file.

    max_pixels: refuse a bigger picture from its header, before decoding it; for untrusted uploads,
    where a small file can hold a huge image. Raises CorruptMedia or UnsupportedInput.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    if max_pixels is not None and buf.size:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                w, h = im.size
        except Exception:  # Pillow raises many kinds for hostile headers: a size it cannot read is refused
            raise CorruptMedia("not a readable image", name) from None
        if w * h > max_pixels:
            raise UnsupportedInput(f"image is {w}x{h}; at most {max_pixels / 1e6:g} megapixels", name)
    # ANYDEPTH keeps 16-bit data, ANYCOLOR keeps gray as gray; neither flag keeps alpha
    img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if buf.size else None
    if img is None:
        raise CorruptMedia("not a readable image", name)
    return _to_rgb8(img)


# ---------------------------------------------------------------------------------------------------


def astronaut() -> np.ndarray:
    return load_image(ASTRONAUT)


def open_image(path: Path) -> Source:
    frame = Frame(load_image(path), 0, 0, Fraction(1))
    return Source("image", iter([frame]), fps=None, time_base=Fraction(1), frame_count=1, path=path)


def _natural_key(p: Path) -> list:
    # frame2.png before frame10.png
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def open_folder(folder: Path, fps: Fraction) -> Source:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=_natural_key,
    )
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputNotFound(f"folder has no images ({exts})", str(folder))
    frames = (Frame(load_image(p), i, i, 1 / fps) for i, p in enumerate(files))
    return Source("folder", frames, fps=fps, time_base=1 / fps, frame_count=len(files), path=folder)
