"""The editor protocol and registry. Editors are plug-ins: `@EDITORS.register("name")`.

An editor gets the aligned crop, its landmarks and the source and target AUs of one face, and returns
the edited crop with a soft mask of what changed. A zero edit (target == source) must return the crop
unchanged with an empty mask, so pixels are left alone wherever nothing is asked; only a whole-face target
(`rest` > 0) asks more than its AUs: what it leaves at 0 at rest, as far as an editor sees it unread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ..registry import Registry
from ..pipeline.types import AUVector, Edit


@dataclass(frozen=True)
class EditRequest:
    crop: np.ndarray           # (S, S, 3) uint8 RGB, canonical alignment
    landmarks: np.ndarray      # (478, 3) crop pixels
    source: AUVector           # the face's own AUs (zeros when no estimator ran)
    target: AUVector           # the AUs to reach
    side: str = "both"         # both | right | left (subject's own): a unilateral target moves one half
    track_id: int = 0          # lets an editor keep per-person memory across frames
    time: float = 0.0          # seconds, from the frame's pts
    occluded: np.ndarray | None = None  # (S, S) float32, 1 where something hides the face (not to learn from)
    rest: float = 0.0          # FaceSample.target_rest: a whole-face target's pull to rest where the reading saw nothing


@runtime_checkable
class Editor(Protocol):
    name: ClassVar[str]
    # whether edit() needs the source AUs from the estimator stage
    needs_au: ClassVar[bool]

    def edit(self, req: EditRequest) -> Edit: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


EDITORS: Registry[Editor] = Registry("editor")


def unchanged(crop: np.ndarray) -> Edit:
    return Edit(crop=crop, mask=np.zeros(crop.shape[:2], np.float32))
