"""Sinks: where processed frames go — a video file, an image, a virtual camera or a preview window.

Every sink takes `write(frame, image)`: `frame` is the source Frame (its pts and time base), `image`
the processed RGB uint8 picture. `close()` finalises, `abort()` discards. Used with `with`, a sink
closes when the block succeeds and aborts when it raises:

    with open_source("in.mp4") as src, VideoFileSink("out.mp4", source=src, cfg=cfg.video) as sink:
        for frame in src:
            sink.write(frame, process(frame))

File sinks write to a hidden temporary file beside the destination and rename it into place on
close, so a failed or interrupted run leaves no partial file. Every sink checks that it can work
when it is constructed, before any frame is processed.
"""
from __future__ import annotations

import logging
import math
import os
import re
import secrets
import sys
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Protocol, runtime_checkable

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from .config import VideoConfig
from .errors import (
    OutputNotWritable,
    PipelineError,
    ReenactError,
    UnsupportedInput,
    VirtualCameraUnavailable,
)
from .sources import Source, as_rate
from .types import Frame

log = logging.getLogger(__name__)


class DisplayUnavailable(ReenactError, OSError):
    """No screen to show a preview window on."""


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


class _PartFile:
    """A hidden temporary file beside `path`: `commit()` renames it onto path, `discard()` deletes it.

    The name keeps the extension last so FFmpeg and OpenCV pick the format from it.
    """

    def __init__(self, path: Path):
        if path.is_dir():
            raise OutputNotWritable("is a folder, not a file name", str(path))
        self.tmp = path.with_name(f".{path.name}.part-{secrets.token_hex(4)}{path.suffix}")
        self.path = path
        try:
            # O_EXCL: never clobber; 0o666 lets the umask decide the final file's permissions
            os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileNotFoundError:
            raise OutputNotWritable("output folder does not exist", str(path)) from None
        except NotADirectoryError:
            raise OutputNotWritable("output folder is not a folder", str(path)) from None
        except OSError as e:
            raise OutputNotWritable(f"cannot write to the output folder ({e.strerror})", str(path)) from None

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------
# Video file

# FFmpeg's muxers for the QuickTime family, which store a start time in an edit list
_MOV_MUXERS = frozenset({"mov", "mp4", "ipod", "3gp", "3g2", "psp", "ismv", "f4v"})


def _seconds(frame: Frame) -> Fraction:
    # the same rule as Frame.time, kept exact
    return Fraction(frame.pts if frame.pts is not None else frame.index) * frame.time_base


class _AudioTrack:
    """The source file's audio, muxed beside the new video.

    Copied packet for packet when the output container accepts its codec, else re-encoded to AAC.
    Packets are muxed as the video reaches their time, so the file stays interleaved.
    """

    def __init__(self, inp: av.container.InputContainer, out: av.container.OutputContainer):
        self._in, self._out = inp, out
        self._src = inp.streams.audio[0]
        try:
            self._dst = out.add_stream_from_template(self._src)
            self.copied = True
        except ValueError:  # the output container does not take this codec
            self._dst = out.add_stream("aac", rate=self._src.rate)
            self._dst.codec_context.layout = self._src.layout
            self.copied = False
            log.info("%s audio does not fit this container; re-encoding it to AAC", self._src.codec_context.name)
        self._packets = inp.demux(self._src)
        self._pending: av.Packet | None = None

    @staticmethod
    def of(source: Source | None, out: av.container.OutputContainer) -> "_AudioTrack | None":
        """The source's first audio stream, or None when it has none."""
        if source is None or source.kind != "video":
            return None
        inp = av.open(str(source.path))
        if not inp.streams.audio:
            inp.close()
            return None
        try:
            return _AudioTrack(inp, out)
        except BaseException:
            inp.close()
            raise

    @property
    def time_base(self) -> Fraction:
        return self._src.time_base if self.copied else Fraction(1, self._src.rate)

    def mux_until(self, t: Fraction) -> None:
        """Mux the source packets that start before t seconds."""
        while True:
            p, self._pending = self._pending, None
            if p is None and (p := next(self._packets, None)) is None:
                return
            ts = p.pts if p.pts is not None else p.dts
            if ts is not None and ts * p.time_base >= t:
                self._pending = p
                return
            if not self.copied:
                for f in p.decode():
                    self._out.mux(self._dst.encode(f))
            elif ts is not None:  # demux's closing empty packet is for decoders only
                p.stream = self._dst
                self._out.mux(p)

    def finish(self, end: Fraction) -> None:
        """Mux what starts before `end` (the video's end) and flush the encoder."""
        self.mux_until(end)
        if not self.copied:
            self._out.mux(self._dst.encode(None))
        self.close()

    def close(self) -> None:
        self._in.close()


class VideoFileSink(SinkBase):
    """Encodes frames to a video file with PyAV (H.264 by default), keeping the source's timing.

    Each frame keeps its pts (rescaled exactly into the stream time base, which is the source's) and
    the stream's average rate is the source's, so frame count, fps and timestamps survive. The source
    file's audio is copied without re-encoding when the container accepts its codec, else re-encoded
    to AAC; audio past the last written frame is left out. Chroma-subsampled formats (yuv420p) need
    even sizes, so an odd width or height is padded by repeating the last column or row.
    Frames are tagged BT.601 limited range, which is what the RGB→YUV conversion uses.

    fps and time_base default to the source's; without a source, fps is required and the time base
    is the first frame's.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        source: Source | None = None,
        fps: float | Fraction | None = None,
        time_base: Fraction | None = None,
        cfg: VideoConfig = VideoConfig(),
    ):
        rate = as_rate(fps) if fps else (source.fps if source is not None else None)
        if not rate:
            raise ValueError("VideoFileSink needs fps, or a source that has one")
        self.path = Path(path)
        self.frames_written = 0
        self._rate = rate
        self._tb = time_base or (source.time_base if source is not None else None)
        self._pix_fmt = av.VideoFormat(cfg.pix_fmt)
        self._done = False
        self._end = Fraction(0)
        self._last_pts: int | None = None
        self._file = _PartFile(self.path)
        self._audio: _AudioTrack | None = None
        try:
            try:
                self._out = av.open(str(self._file.tmp), "w")
                self._video = self._out.add_stream(
                    cfg.codec, rate=rate, options={"crf": str(cfg.crf), "preset": cfg.preset}
                )
            except ValueError as e:  # unknown extension, or a codec the container does not take
                raise OutputNotWritable(
                    f"cannot write this video format ({e}); use .mp4, .mov or .mkv", str(self.path)
                ) from None
            self._video.codec_context.pix_fmt = cfg.pix_fmt
            self._audio = _AudioTrack.of(source, self._out)
        except BaseException:
            self._discard()
            raise

    def _start(self, frame: Frame, image: np.ndarray) -> None:
        """Size and time base come from the first frame; FFmpeg needs them before the header."""
        h, w = image.shape[:2]
        # width/height multiple of the chroma subsampling factor (2 for yuv420p)
        sx, sy = 64 // self._pix_fmt.chroma_width(64), 64 // self._pix_fmt.chroma_height(64)
        self._pad = (-h % sy, -w % sx)
        self._tb = self._tb or frame.time_base
        ctx = self._video.codec_context
        ctx.width, ctx.height = w + self._pad[1], h + self._pad[0]
        ctx.time_base = self._video.time_base = self._tb
        ctx.colorspace, ctx.color_range = Colorspace.ITU601, ColorRange.MPEG
        if self._out.format.name in _MOV_MUXERS:
            # the edit list holding a non-zero start time counts in the movie timescale (default
            # 1/1000 s), which would shift such streams by up to 1 ms; make it exact for every track
            ticks = math.lcm(self._tb.denominator, *([self._audio.time_base.denominator] if self._audio else []))
            if ticks < 2**31:
                self._out.options["movie_timescale"] = str(ticks)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        if self.frames_written == 0:
            self._start(frame, image)
            self._shape = image.shape
        elif image.shape != self._shape:
            h, w = self._shape[:2]
            raise UnsupportedInput(
                f"frame {frame.index} is {image.shape[1]}x{image.shape[0]}, but the video is {w}x{h}",
                str(self.path),
            )
        if any(self._pad):
            image = np.pad(image, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        t = _seconds(frame)
        pts = round(t / self._tb)
        if self._last_pts is not None and pts <= self._last_pts:
            # FFmpeg would fail later with a muxer message about dts
            raise UnsupportedInput(f"frame {frame.index} at {float(t):.6f} s is not after the frame before it", str(self.path))
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            format=self._pix_fmt, dst_colorspace=Colorspace.ITU601, dst_color_range=ColorRange.MPEG
        )
        vf.pts = self._last_pts = pts
        vf.time_base = self._tb
        self._out.mux(self._video.encode(vf))
        self.frames_written += 1
        self._end = t + 1 / self._rate
        if self._audio is not None:
            self._audio.mux_until(t)

    def close(self) -> None:
        if self._done:
            return
        try:
            if self.frames_written == 0:
                raise ReenactError("no frames were written; nothing saved", str(self.path))
            self._out.mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.finish(self._end)
            self._out.close()
            self._file.commit()
        except BaseException:
            self.abort()
            raise
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self._out.close()
        except av.FFmpegError as e:  # a broken file is being thrown away anyway
            log.debug("closing discarded %s: %s", self._file.tmp, e)
        self._discard()

    def _discard(self) -> None:
        if self._audio is not None:
            self._audio.close()
        self._file.discard()


# ---------------------------------------------------------------------------------------------------
# Image file


class ImageSink(SinkBase):
    """Writes one image; the format follows the extension (PNG is lossless, JPEG at quality 95)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not cv2.haveImageWriter(str(self.path)):
            raise OutputNotWritable(f"cannot write {self.path.suffix or 'extension-less'} images", str(self.path))
        self._file = _PartFile(self.path)
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


# ---------------------------------------------------------------------------------------------------
# Virtual camera


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


# ---------------------------------------------------------------------------------------------------
# Preview window


def _display_problem() -> str | None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display to show a preview on (DISPLAY is not set); run without the preview"
    gui = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    if gui and gui.group(1).upper() == "NONE":
        return "this OpenCV build has no GUI (opencv-python-headless?); run without the preview"
    return None


class PreviewSink(SinkBase):
    """Shows frames in an OpenCV window; q, Esc or closing the window sets `closed_by_user`."""

    def __init__(self, title: str = "reenact"):
        problem = _display_problem()
        if problem:
            raise DisplayUnavailable(problem)
        self.title = title
        self.closed_by_user = False
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed_by_user = True

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:  # the user already closed it
            pass

    abort = close


# ---------------------------------------------------------------------------------------------------
# Fan-out


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
