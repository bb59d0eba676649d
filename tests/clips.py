"""Small synthetic media files for source/sink tests, encoded with PyAV.

Frame i is grey at `level(i)` under a white bar along its top edge, so a decoded frame can be matched
to its index through lossy compression and its orientation checked; the audio is a sine tone, so a
copied or re-encoded track can be checked by its pitch.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 16000


def level(i: int) -> int:
    """Grey level of frame i: nine levels 24 apart, which compression cannot blur into each other."""
    return 20 + (i * 24) % 216


def frame_image(i: int, w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), level(i), np.uint8)
    img[: h // 8] = 255
    return img


def grey_of(img: np.ndarray) -> float:
    """The grey level of a frame_image, read away from its bar and edges."""
    h, w = img.shape[:2]
    return float(img[h // 2 - 4 : h // 2 + 4, w // 2 - 4 : w // 2 + 4].mean())


def make_clip(
    path: Path,
    *,
    frames: int = 8,
    size: tuple[int, int] = (64, 48),
    fps: Fraction = Fraction(25),
    audio: str | None = "aac",
    audio_only: bool = False,
    tone_hz: float = 440.0,
    audio_s: float | None = None,
    rotation: int = 0,
    options: dict | None = None,
) -> Path:
    """Encode `frames` grey frames (H.264) and, when `audio` names a codec, a tone of `audio_s`
    seconds (default: as long as the video)."""
    w, h = size
    with av.open(str(path), "w", options=options or {}) as out:
        video = None
        if not audio_only:
            video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
            video.width, video.height = w, h
            video.codec_context.time_base = video.time_base = 1 / fps
            if rotation:
                video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=AUDIO_RATE, layout="mono") if audio or audio_only else None
        for i in range(frames):
            if video is not None:
                img = frame_image(i, w, h)
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = i
                out.mux(video.encode(vf))
        if video is not None:
            out.mux(video.encode(None))
        if sound is not None:
            n = round((frames / fps if audio_s is None else audio_s) * AUDIO_RATE)
            t = np.arange(n) / AUDIO_RATE
            pcm = (0.5 * 32767 * np.sin(2 * np.pi * tone_hz * t)).astype(np.int16)
            for start in range(0, n, 1024):
                af = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], format="s16", layout="mono")
                af.sample_rate = AUDIO_RATE
                af.pts = start
                af.time_base = Fraction(1, AUDIO_RATE)
                out.mux(sound.encode(af))
            out.mux(sound.encode(None))
    return path


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    """The strongest frequency in a mono signal."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio track mixed down to mono float samples, and its sample rate."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        mono = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        chunks = [r.to_ndarray()[0] for f in c.decode(stream) for r in mono.resample(f)]
        return np.concatenate(chunks), stream.rate


def cut_clip(src: Path, dst: Path, *, first_keyframe: int, frames: int) -> Path:
    """Copy `frames` video packets from the n-th keyframe on, and the audio beside them, without
    re-encoding: a real clip whose timestamps do not start at zero."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        v_in, a_in = inp.streams.video[0], inp.streams.audio[0]
        v_out, a_out = out.add_stream_from_template(v_in), out.add_stream_from_template(a_in)
        keys = [p for p in inp.demux(v_in) if p.is_keyframe and p.dts is not None]
        inp.seek(0)
        start = keys[first_keyframe].pts * v_in.time_base
        video = [p for p in inp.demux(v_in) if p.dts is not None and p.pts * v_in.time_base >= start]
        video = video[:frames]
        end = max(p.pts for p in video) * v_in.time_base
        inp.seek(0)
        audio = [p for p in inp.demux(a_in) if p.dts is not None and start <= p.pts * a_in.time_base < end]
        for p in video:
            p.stream = v_out
        for p in audio:
            p.stream = a_out
        for p in sorted(video + audio, key=lambda p: p.dts * p.time_base):
            out.mux(p)
    return dst
