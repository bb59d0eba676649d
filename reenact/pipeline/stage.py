"""The Stage protocol and a Pipeline that checks its wiring when it is assembled.

A stage reads some Packet/FaceSample fields and fills others. Each declares both, so a pipeline that
asks for AUs before anything estimates them fails at assembly with a one-line error.
"""
from __future__ import annotations

from typing import ClassVar, Iterable, Protocol, runtime_checkable

from ..errors import PipelineError
from .types import Packet

# What a field holds, for error messages and docs.
FIELDS = {
    "frame": "Frame: the decoded RGB image and its pts",
    "faces": "FaceSample per tracked face, with landmarks, pose and track id",
    "aligned": "FaceSample.aligned: canonical crop, crop landmarks and transforms",
    "source_au": "FaceSample.source_au: the face's own AU intensities",
    "target_au": "FaceSample.target_au: the AU intensities the edit should reach",
    "occlusion": "FaceSample.occluded: crop mask of what hides the face (a hand, a microphone)",
    "edit": "FaceSample.edit: edited crop and soft change mask",
    "output": "Packet.output: the composited frame",
}


@runtime_checkable
class Stage(Protocol):
    requires: ClassVar[tuple[str, ...]]
    provides: ClassVar[tuple[str, ...]]

    def process(self, packet: Packet) -> Packet: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


class StageBase:
    """Default no-op reset/close for stages without state."""

    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ()
    # an offline run (pipeline/runner.py) starts a worker thread at each stage that says so, and the stages
    # after it run on that thread until the next one that does: every handoff between threads costs
    # wake-ups and GIL traffic, so only the heavy stages (the tracker, the editor) start one
    own_thread: ClassVar[bool] = False

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class Pipeline:
    """Stages run in order on each packet; wiring is validated here, once."""

    def __init__(self, stages: Iterable[Stage]):
        self.stages = list(stages)
        have = {"frame"}
        for st in self.stages:
            missing = [f for f in st.requires if f not in have]
            if missing:
                raise PipelineError(
                    f"{type(st).__name__} needs {', '.join(missing)} "
                    f"({'; '.join(FIELDS.get(m, m) for m in missing)}), which no earlier stage provides"
                )
            have.update(st.provides)
        self.provides = frozenset(have)

    def process(self, packet: Packet) -> Packet:
        for st in self.stages:
            packet = st.process(packet)
        return packet

    def reset(self) -> None:
        for st in self.stages:
            st.reset()

    def close(self) -> None:
        for st in self.stages:
            st.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
