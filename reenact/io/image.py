"""Still inputs: image files (`load_image`), one image as a Source, a folder of images as a Source.

Still images and folders get pts = their place in the folder, in 1/fps. A folder's unreadable files
are skipped, each named in a warning.
"""
from __future__ import annotations

import io
import logging
import os
import re
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import CorruptMedia, InputNotFound, UnsupportedInput
from ..quiet import native_logs_quieted
from ..pipeline.types import Frame
from .source import Source

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
# the bundled public-domain portrait: demo input and the engines' example face
ASTRONAUT = Path(__file__).resolve().parents[1] / "data" / "astronaut.png"


def to_8bit(img: np.ndarray) -> np.ndarray:
    """16-bit values as 8-bit: x * 255 / 65535 rounded, the exact inverse of the usual 8→16-bit x * 257."""
    return ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    """OpenCV's gray/BGR/BGRA, 8- or 16-bit, to RGB uint8."""
    if img.dtype == np.uint16:
        img = to_8bit(img)
    elif img.dtype != np.uint8:
        raise UnsupportedInput(f"unsupported pixel depth {img.dtype}; use 8- or 16-bit images")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def read_image(path: str | os.PathLike, *, alpha: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """An image file as OpenCV decodes it, upright per its EXIF orientation: (pixels, alpha).

    pixels: gray or BGR, 8- or 16-bit, palette images expanded. With `alpha`, the second item is the
    file's alpha channel when it has one that is not fully opaque; else None.
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
    return _decode(data, str(p), alpha=alpha)


def _decode(buf: np.ndarray, name: str | None, *, alpha: bool = False,
            max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Encoded bytes → (pixels, alpha) as `read_image` describes them.

    max_pixels: refuse a bigger picture from its header, before decoding it; for untrusted uploads,
    where a small file can hold a huge image.
    """
    if max_pixels is not None and buf.size:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                w, h = im.size
        except Exception:  # Pillow raises many kinds for hostile headers: a size it cannot read is refused
            raise CorruptMedia("not a readable image", name) from None
        if w * h > max_pixels:
            raise UnsupportedInput(f"image is {w}x{h}; at most {max_pixels / 1e6:g} megapixels", name)
    # ANYDEPTH keeps 16-bit data, ANYCOLOR keeps gray as gray; neither flag keeps alpha. The decoders
    # print warnings on a truncated file or an odd colour profile to fd 2: the error below says it once
    with native_logs_quieted():
        img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if buf.size else None
    if img is None:
        raise CorruptMedia("not a readable image", name)
    transparency = None
    if alpha and _may_have_alpha(buf[:12].tobytes()):
        with native_logs_quieted():
            full = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if full is not None and full.ndim == 3 and full.shape[2] == 4 and full.shape[:2] == img.shape[:2]:
            a = full[..., 3]
            transparency = a if a.min() < np.iinfo(a.dtype).max else None
    return img, transparency


def _may_have_alpha(head: bytes) -> bool:
    """PNG, TIFF and WebP files can carry alpha: only they are decoded a second time to look for it."""
    return head.startswith(b"\x89PNG\r\n\x1a\n") or head[:4] in (b"II*\x00", b"MM\x00*") or head[8:12] == b"WEBP"


def decode_image(data: bytes | np.ndarray, name: str | None = None, *, max_pixels: int | None = None) -> np.ndarray:
    """Encoded image bytes → RGB uint8, as `load_image` reads a file (max_pixels: see `_decode`).

    Raises CorruptMedia or UnsupportedInput.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    return _to_rgb8(_decode(buf, name, max_pixels=max_pixels)[0])


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), upright per its EXIF orientation.

    Grayscale is expanded to three channels, palette images are expanded by the decoder, and 16-bit
    images are scaled to 8 bits. Alpha is dropped: every stage works on RGB, and a cut-out's alpha says
    where the subject is, not what colour the face is (an image output keeps it, see open_image).
    Raises InputNotFound for a missing file and CorruptMedia for one no decoder can read.
    """
    return _to_rgb8(read_image(path)[0])


# ---------------------------------------------------------------------------------------------------


def astronaut() -> np.ndarray:
    return load_image(ASTRONAUT)


def open_image(path: Path) -> Source:
    """One image as a one-frame Source; `original` keeps what RGB uint8 cannot hold (16 bits, alpha)."""
    pixels, alpha = read_image(path, alpha=True)
    frame = Frame(_to_rgb8(pixels), 0, 0, Fraction(1))
    original = None
    if pixels.dtype != np.uint8 or alpha is not None:
        original = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else pixels[..., :3]
        if alpha is not None:
            original = np.dstack([original, alpha])
    return Source("image", iter([frame]), fps=None, time_base=Fraction(1), frame_count=1, path=path,
                  original=original)


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
    return Source("folder", _readable(files, fps), fps=fps, time_base=1 / fps, frame_count=len(files), path=folder)


def _readable(files: list[Path], fps: Fraction):
    """The folder's images in order, each at its place in time; an unreadable one is named and skipped."""
    index = 0
    for i, p in enumerate(files):
        try:
            image = load_image(p)
        except CorruptMedia as e:
            log.warning("skipped %s", e)
            continue
        yield Frame(image, index, i, 1 / fps)
        index += 1
