"""The source file's audio carried into an encoded video: copied when it fits, else re-encoded."""
from __future__ import annotations

import logging
from fractions import Fraction

import av

from .source import Source

log = logging.getLogger(__name__)

ENCODER = "aac"  # for audio the output container does not take as it is
# the usual layout for a channel count, for sources whose layout has no name ("1 channels")
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 8: "7.1"}


def nearest_rate(rate: int, supported) -> int:
    """The supported sample rate closest to `rate`, the higher one on a tie (no detail is lost going up)."""
    return min(supported, key=lambda r: (abs(r - rate), -r))


def _named_layout(layout: av.AudioLayout) -> str:
    if not layout.name.endswith("channels"):
        return layout.name
    return _LAYOUTS.get(layout.nb_channels, "stereo")


class AudioTrack:
    """The source file's audio, muxed beside the new video.

    Copied packet for packet when the output container accepts its codec, else re-encoded to AAC,
    resampled to a rate, sample format and channel layout AAC takes (an old camera's 8-bit 11,025 Hz
    PCM has a layout with no name, which AAC refuses). Packets are muxed as the video reaches their
    time, so the file stays interleaved.
    """

    def __init__(self, inp: av.container.InputContainer, out: av.container.OutputContainer):
        self._in, self._out = inp, out
        self._src = inp.streams.audio[0]
        self._resampler: av.AudioResampler | None = None
        try:
            self._dst = out.add_stream_from_template(self._src)
            self.copied = True
        except ValueError:  # the output container does not take this codec
            codec = av.codec.Codec(ENCODER, "w")
            rate = nearest_rate(self._src.rate, codec.audio_rates or (self._src.rate,))
            layout = _named_layout(self._src.layout)
            self._dst = out.add_stream(ENCODER, rate=rate)
            self._dst.codec_context.layout = layout
            self._resampler = av.AudioResampler(format=self._dst.codec_context.format, layout=layout, rate=rate)
            self.copied = False
            log.info("%s audio (%d Hz) does not fit this container; re-encoding it to AAC at %d Hz",
                     self._src.codec_context.name, self._src.rate, rate)
        self._packets = inp.demux(self._src)
        self._pending: av.Packet | None = None

    @staticmethod
    def of(source: Source | None, out: av.container.OutputContainer) -> "AudioTrack | None":
        """The source's first audio stream, or None when it has none."""
        if source is None or source.kind != "video":
            return None
        inp = av.open(str(source.path))
        if not inp.streams.audio:
            inp.close()
            return None
        try:
            return AudioTrack(inp, out)
        except BaseException:
            inp.close()
            raise

    @property
    def time_base(self) -> Fraction:
        return self._src.time_base if self.copied else Fraction(1, self._dst.rate)

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
                    self._encode(f)
            elif ts is not None:  # demux's closing empty packet is for decoders only
                p.stream = self._dst
                self._out.mux(p)

    def finish(self, end: Fraction) -> None:
        """Mux what starts before `end` (the video's end) and flush the encoder."""
        self.mux_until(end)
        if not self.copied:
            self._encode(None)
            self._out.mux(self._dst.encode(None))
        self.close()

    def _encode(self, frame: av.AudioFrame | None) -> None:
        """Resample (None: flush the resampler) and encode."""
        for f in self._resampler.resample(frame):
            self._out.mux(self._dst.encode(f))

    def close(self) -> None:
        self._in.close()
