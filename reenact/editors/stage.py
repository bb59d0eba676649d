"""Editor stage: runs the chosen editor on each aligned face."""
from __future__ import annotations

from . import Editor, EditRequest
from ..pipeline.stage import StageBase
from ..pipeline.types import AUVector, Packet


class EditorStage(StageBase):
    provides = ("edit",)

    def __init__(self, editor: Editor):
        self.editor = editor
        self.requires = ("aligned", "source_au", "target_au") if editor.needs_au else ("aligned",)

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time

        def run(s):
            zero = AUVector.zeros()
            src = s.source_au or zero
            req = EditRequest(crop=s.aligned.crop, landmarks=s.aligned.landmarks, source=src,
                              target=s.target_au or src, side=s.target_side, track_id=s.face.track_id, time=t)
            return s.with_(edit=self.editor.edit(req))

        return packet.map_faces(run)

    def reset(self) -> None:
        self.editor.reset()

    def close(self) -> None:
        self.editor.close()
