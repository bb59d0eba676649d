"""The source file's audio carried into an encoded video: copied when it fits, else re-encoded."""
from __future__ import annotations

import logging
import re
from fractions import Fraction

import av

from .source import Source

log = logging.getLogger(__name__)


class AudioTrack:
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
