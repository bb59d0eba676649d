"""Editor stage: runs the chosen editor on each aligned face, on the part of it nothing hides."""
from __future__ import annotations

from . import Editor, EditRequest
from ..pipeline.stage import StageBase
from ..pipeline.types import AUVector, Packet
from ..stages.occlusion import hide_occluded


class EditorStage(StageBase):
    provides = ("edit",)
    own_thread = True

    def __init__(self, editor: Editor, *, occlusion: bool = False):
        """`occlusion`: an occlusion stage runs before this one, and its occluders are left untouched."""
        self.editor = editor
        needs = ("aligned", "source_au", "target_au") if editor.needs_au else ("aligned",)
        self.requires = needs + (("occlusion",) if occlusion else ())

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time

        def run(s):
            zero = AUVector.zeros()
            src = s.source_au or zero
            req = EditRequest(crop=s.aligned.crop, landmarks=s.aligned.landmarks, source=src,
                              target=s.target_au or src, side=s.target_side, track_id=s.face.track_id, time=t,
                              occluded=s.occluded, rest=s.target_rest)
            return s.with_(edit=hide_occluded(self.editor.edit(req), s.aligned.crop, s.occluded))

        return packet.map_faces(run)

    def reset(self) -> None:
        self.editor.reset()

    def close(self) -> None:
        self.editor.close()
