"""Easing stages for live control: nothing an operator does, and no face that comes or goes, pops.

    ... → target → EaseIn → editor → FadeOut → compositor

EaseIn works on each face's edit in AU space (target − source): after a change of target, strength or
selection (`restart`), the edit moves from what it was to the new one over `seconds` (smoothstep on pts
time); a face that appears starts from no edit; faces left out of `faces` go to no edit the same way.
FadeOut works on pixels, because a lost face has no landmarks to edit: its last edit is pasted again
where it was, with a weight falling to zero over the same time, so the frame fades back to the input.
A face that returns before it has faded out eases in from where the fade had got to.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import numpy as np

from ..pipeline.stage import StageBase
from ..pipeline.types import AUVector, FaceSample, Packet


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _progress(elapsed: float, seconds: float) -> float:
    return 1.0 if seconds <= 0 else smoothstep(elapsed / seconds)


@dataclass
class _Ease:
    start: np.ndarray      # the edit the ease starts from
    t0: float              # when it starts
    edit: np.ndarray       # the edit last given out
    t: float               # at this time
    lost_at: float | None = None


class EaseIn(StageBase):
    requires = ("source_au", "target_au")
    provides = ("target_au",)

    def __init__(self, seconds: float = 0.2):
        self.seconds = seconds
        self.faces: frozenset[int] | None = None   # track ids to edit; None: all
        self._tracks: dict[int, _Ease] = {}
        self._restart = False

    def restart(self) -> None:
        """The target changed: every face eases from its current edit to the new one, from its next frame."""
        self._restart = True

    def select(self, faces: Iterable[int] | None) -> None:
        """Edit only these track ids (None: every face); the others ease back to no edit."""
        self.faces = None if faces is None else frozenset(faces)
        self.restart()

    def reset(self) -> None:
        self._tracks.clear()

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time
        seen = {s.face.track_id for s in packet.faces}
        for tid, st in list(self._tracks.items()):
            if tid not in seen:
                st.lost_at = st.t if st.lost_at is None else st.lost_at
                if t - st.lost_at >= self.seconds:
                    del self._tracks[tid]
        restart, self._restart = self._restart, False

        def run(s: FaceSample) -> FaceSample:
            source = s.source_au or AUVector.zeros()
            selected = self.faces is None or s.face.track_id in self.faces
            want = (s.target_au - source).values if selected and s.target_au is not None else 0 * source.values
            st = self._tracks.get(s.face.track_id)
            if st is None:  # a new face: its edit fades in
                st = self._tracks[s.face.track_id] = _Ease(0 * want, t, 0 * want, t)
            elif st.lost_at is not None:  # back before it faded out: start from what was left
                left = 1.0 - _progress(t - st.lost_at, self.seconds)
                st.start, st.t0, st.lost_at = st.edit * left, st.t, None
            elif restart:
                # from the last frame's time, so the first frame after the change already moves
                st.start, st.t0 = st.edit, st.t
            a = _progress(t - st.t0, self.seconds)
            st.edit, st.t = st.start + a * (want - st.start), t
            return s.with_(target_au=AUVector(source.values + st.edit))

        return packet.map_faces(run)


class FadeOut(StageBase):
    requires = ("edit",)
    provides = ("edit",)

    def __init__(self, seconds: float = 0.2):
        self.seconds = seconds
        self._last: dict[int, tuple[FaceSample, float]] = {}

    def reset(self) -> None:
        self._last.clear()

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time
        seen = set()
        for s in packet.faces:
            seen.add(s.face.track_id)
            if s.edit is not None and s.aligned is not None:
                self._last[s.face.track_id] = (s, t)
        ghosts = []
        for tid, (s, last_t) in list(self._last.items()):
            if tid in seen:
                continue
            weight = 1.0 - _progress(t - last_t, self.seconds)
            if weight <= 0.0:
                del self._last[tid]
                continue
            ghosts.append(s.with_(edit=replace(s.edit, mask=s.edit.mask * np.float32(weight))))
        return packet.with_(faces=packet.faces + tuple(ghosts)) if ghosts else packet
