"""Sources: a video file, an image, a folder of images or a webcam, read as `Frame`s.

`open_source(spec)` is the one front door. It opens the input and decodes the first frame before it
returns, so a bad input fails here, before any sink or model is set up. A Source is a context manager
and a single-pass iterable of RGB uint8 `Frame`s carrying their own pts and time base:

    with open_source("in.mp4") as src:
        for frame in src: ...

Video frames keep the stream's own pts and time base; still images and folders get pts = index in
1/fps; webcam frames are stamped from the monotonic clock in microseconds, the one place wall time
enters the pipeline.

Live helpers: `LatestFrameReader` runs any frame iterator on a capture thread and keeps only the
newest frame (a one-slot flow limiter that counts what it drops), and `paced` plays a file at its
own speed so it can stand in for a camera.
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation

from .config import LiveConfig
from .errors import CameraUnavailable, CorruptMedia, InputNotFound, UnsupportedInput
from .types import Frame

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
MICROSECONDS = Fraction(1, 1_000_000)
CAMERA_STOPPED = "camera stopped delivering frames"
_RETRY_S = 0.005  # pause between failed camera reads
# swscale's default YUV→RGB path darkens every channel by about 1.3 levels; these flags make it exact
# (about 3 ms more per 720p frame)
_EXACT_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def as_rate(fps: float | Fraction) -> Fraction:
    """A frame rate as a Fraction; 29.97, 23.976 and 59.94 mean the NTSC rates N × 1000/1001."""
    if isinstance(fps, Fraction) or float(fps).is_integer():
        return Fraction(fps)
    ntsc = round(fps * 1.001)
    if abs(fps * 1.001 - ntsc) < 0.002:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


# ---------------------------------------------------------------------------------------------------
# Images


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
    # ANYDEPTH keeps 16-bit data, ANYCOLOR keeps gray as gray; neither flag keeps alpha
    img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if data.size else None
    if img is None:
        raise CorruptMedia("not a readable image", str(p))
    return _to_rgb8(img)


# ---------------------------------------------------------------------------------------------------
# Source


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
    ):
        self.kind = kind
        self.fps = fps
        self.time_base = time_base
        self.frame_count = frame_count
        self.path = path
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


def open_source(
    spec: str | os.PathLike | int,
    *,
    fps: float | Fraction | None = None,
    live_cfg: LiveConfig = LiveConfig(),
    camera_backend: CameraBackend | None = None,
) -> Source:
    """Open a video file, an image, a folder of images, or a webcam ("webcam", "webcam:N" or N).

    fps sets the rate of a folder of images (default 1); a video keeps its own timing. A webcam is
    opened at live_cfg's size and rate; camera_backend replaces OpenCV (tests use a fake).
    Raises InputNotFound, CorruptMedia or CameraUnavailable with a one-line message.
    """
    if isinstance(spec, int):
        return _open_webcam(spec, live_cfg, camera_backend)
    text = os.fspath(spec)
    m = re.fullmatch(r"webcam(?::(\d+))?", text.strip(), re.IGNORECASE)
    if m:
        index = int(m.group(1)) if m.group(1) else live_cfg.camera
        return _open_webcam(index, live_cfg, camera_backend)
    path = Path(text)
    if path.is_dir():
        return _open_folder(path, as_rate(fps) if fps else Fraction(1))
    if not path.exists():
        raise InputNotFound("no such file or folder", text)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return _open_image(path)
    return _open_video(path)


# ---------------------------------------------------------------------------------------------------
# Still images


def _open_image(path: Path) -> Source:
    frame = Frame(load_image(path), 0, 0, Fraction(1))
    return Source("image", iter([frame]), fps=None, time_base=Fraction(1), frame_count=1, path=path)


def _natural_key(p: Path) -> list:
    # frame2.png before frame10.png
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def _open_folder(folder: Path, fps: Fraction) -> Source:
    files = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=_natural_key,
    )
    if not files:
        exts = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise InputNotFound(f"folder has no images ({exts})", str(folder))
    frames = (Frame(load_image(p), i, i, 1 / fps) for i, p in enumerate(files))
    return Source("folder", frames, fps=fps, time_base=1 / fps, frame_count=len(files), path=folder)


# ---------------------------------------------------------------------------------------------------
# Video files


def _open_video(path: Path) -> Source:
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise InputNotFound("no such file", str(path)) from None
    except (av.FFmpegError, OSError) as e:
        raise CorruptMedia(f"not a readable video ({e.strerror or e})", str(path)) from None
    if not container.streams.video:
        container.close()
        raise CorruptMedia("no video stream", str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    fps = stream.average_rate or stream.guessed_rate or None
    return Source(
        "video",
        _decode(container, stream, path, fps),
        fps=fps,
        time_base=stream.time_base,
        frame_count=stream.frames or None,
        path=path,
        on_close=container.close,
    )


def _decode(container, stream, path: Path, fps: Fraction | None) -> Iterator[Frame]:
    """Frames in presentation order with the stream's pts; a damaged tail ends the stream early.

    A packet the decoder rejects is skipped (FFmpeg conceals it in later frames); a read error or a
    truncated file stops decoding, and what decoded so far is kept. Both are logged.
    """
    tb = stream.time_base
    # ticks of tb per frame, for the rare frame without a pts
    step = 1 / (fps * tb) if fps else Fraction(1)
    index = skipped = 0
    try:
        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                skipped += 1
                continue
            for f in decoded:
                pts = f.pts if f.pts is not None else round(index * step)
                rgb = f.to_ndarray(format="rgb24", interpolation=_EXACT_RGB)
                if f.rotation:
                    # the display matrix turns the picture counter-clockwise, as rot90 does
                    rgb = np.ascontiguousarray(np.rot90(rgb, f.rotation // 90))
                yield Frame(rgb, index, pts, tb)
                index += 1
    except av.FFmpegError as e:
        log.warning("%s: stopped reading after frame %d: %s", path, index, e.strerror or e)
    if skipped:
        log.warning("%s: skipped %d undecodable packets", path, skipped)
    if stream.frames and index < stream.frames:
        log.warning("%s: decoded %d of %d frames (truncated?)", path, index, stream.frames)


# ---------------------------------------------------------------------------------------------------
# Webcam


class CameraBackend(Protocol):
    """What a webcam source needs from a capture API; OpenCV's by default, a fake in tests."""

    def open(self, index: int, width: int, height: int, fps: float) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


class OpenCVCamera:
    """CameraBackend on cv2.VideoCapture; `read` gives BGR (or gray) like OpenCV does."""

    def __init__(self) -> None:
        self._cap: cv2.VideoCapture | None = None

    def open(self, index: int, width: int, height: int, fps: float) -> bool:
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            return False
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_FPS, fps)
        # a driver-side queue would hand us stale frames; keep it to one
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self._cap.read()

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_cameras(max_index: int = 4, *, backend: Callable[[], CameraBackend] = OpenCVCamera) -> list[int]:
    """The camera indices below max_index that open, for `reenact doctor`."""
    found = []
    for index in range(max_index):
        camera = backend()
        if camera.open(index, 640, 480, 30):
            found.append(index)
        camera.release()
    return found


def _open_webcam(index: int, cfg: LiveConfig, backend: CameraBackend | None) -> Source:
    camera = backend if backend is not None else OpenCVCamera()
    if not camera.open(index, cfg.width, cfg.height, cfg.fps):
        raise CameraUnavailable(f"camera {index} could not be opened (not connected, or in use by another app?)")
    return Source(
        "webcam",
        _capture(camera, cfg.read_timeout_s),
        fps=as_rate(cfg.fps),
        time_base=MICROSECONDS,
        frame_count=None,
        path=None,
        on_close=camera.release,
    )


def _capture(camera: CameraBackend, timeout_s: float) -> Iterator[Frame]:
    """Camera frames stamped in microseconds from the first one; raises CameraUnavailable when reads
    keep failing for timeout_s."""
    t0 = None
    for index in itertools.count():
        asked = time.monotonic()  # not the last frame's time: the consumer may have been busy since
        while True:
            ok, img = camera.read()
            now = time.monotonic_ns()
            if ok and img is not None:
                break
            if time.monotonic() - asked > timeout_s:
                raise CameraUnavailable(f"{CAMERA_STOPPED} (none for {timeout_s:g} s)")
            time.sleep(_RETRY_S)
        t0 = now if t0 is None else t0
        yield Frame(_to_rgb8(img), index, (now - t0) // 1000, MICROSECONDS)


# ---------------------------------------------------------------------------------------------------
# Live helpers


def paced(
    frames: Iterable[Frame],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame]:
    """Yield frames no sooner than their timestamps say: a video file played as if from a camera."""
    start = None
    for frame in frames:
        now = clock()
        if start is None:
            start = now - frame.time
        delay = start + frame.time - now
        if delay > 0:
            sleep(delay)
        yield frame


def looped(still: Frame, fps: float | Fraction) -> Iterator[Frame]:
    """One image as an endless stream at `fps` (avatar mode: a portrait animated by a driver)."""
    step = Fraction(1) / as_rate(fps)
    for i in itertools.count():
        yield Frame(still.image, i, int(i * step / MICROSECONDS), MICROSECONDS)


class LatestFrameReader:
    """Reads frames on a capture thread and keeps only the newest one, so live latency never grows.

    This is the live pipeline's flow limiter: one slot, overwritten by each new frame. `dropped`
    counts frames overwritten before `get()` took them; `captured` counts all frames read. The
    capture thread stops at the end of the frames or when `stop` is set; an error it hits is re-raised
    by `get()` on the consumer's thread. Close the reader before the source it reads.
    """

    def __init__(
        self,
        frames: Iterable[Frame],
        *,
        timeout_s: float = LiveConfig.read_timeout_s,
        stop: threading.Event | None = None,
    ):
        self.stop = stop if stop is not None else threading.Event()
        self.captured = 0
        self.dropped = 0
        self._frames = frames
        self._timeout_s = timeout_s
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reenact-capture", daemon=True)

    def start(self) -> "LatestFrameReader":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for frame in self._frames:
                with self._cond:
                    if self._slot is not None:
                        self.dropped += 1
                    self.captured += 1
                    self._slot = frame
                    self._cond.notify_all()
                if self.stop.is_set():
                    break
        except BaseException as e:  # handed to the consumer, see get()
            self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def get(self) -> Frame | None:
        """The newest frame not yet returned, waiting for one if needed.

        Returns None once the frames have ended or `stop` is set. Raises the capture thread's error,
        or CameraUnavailable when no new frame arrives within timeout_s.
        """
        deadline = time.monotonic() + self._timeout_s
        with self._cond:
            while self._slot is None and not self._ended and not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraUnavailable(f"{CAMERA_STOPPED} (none for {self._timeout_s:g} s)")
                # short waits: `stop` may be set by another thread without notifying us
                self._cond.wait(min(left, 0.1))
            if self.stop.is_set():
                return None
            frame, self._slot = self._slot, None
            if frame is None and self._error is not None:
                raise self._error
            return frame

    @property
    def running(self) -> bool:
        """Whether the capture thread is still reading."""
        return self._thread.is_alive()

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.get()) is not None:
            yield frame

    def close(self) -> None:
        self.stop.set()
        with self._cond:
            self._cond.notify_all()
        if self.running:
            self._thread.join(self._timeout_s)

    def __enter__(self) -> "LatestFrameReader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
