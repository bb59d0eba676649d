"""A per-person memory of real texture: the clearest frame seen of each mouth and eye state.

Examples are aligned crops (the canonical similarity frame) with their meshes, so recalling one is a
mesh warp onto the moved mesh. The editor uses them to close a laughing mouth with the person's own lips,
to open a closed one onto the person's own teeth, and to open an eye onto the person's own eyeball.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from ...stages.landmarks import interocular
from .deform import index
from .flow import rasterize_flow
from .mesh import LIPS_INNER_LOWER, LIPS_INNER_UPPER, crop_mesh
from .fills import light
from .mouth import palette, teeth_visible

# mouth states by inner-lip gap (IOD): lips together, and open far enough to show teeth
MOUTH_CLOSED_IOD = 0.015
MOUTH_OPEN_IOD = 0.08
# eye states by mean aperture (IOD)
EYE_OPEN_IOD = 0.2
EYE_CLOSED_IOD = 0.05


@dataclass(frozen=True)
class Example:
    """One remembered frame of one region: the aligned crop, its landmarks and how clear the state was."""

    crop: np.ndarray
    landmarks: np.ndarray
    score: float

    # what recalling the example reads of it, every frame it is recalled: read once (about 0.4 ms a frame)
    @cached_property
    def teeth(self) -> np.ndarray:
        """Its teeth's colour (mouth.palette)."""
        return palette(self.crop, self.landmarks).teeth

    @cached_property
    def light(self) -> np.ndarray:
        """Its light's per-channel gain (fills.light)."""
        return light(self.crop, self.landmarks)

    @cached_property
    def mesh(self) -> np.ndarray:
        """Its crop-mesh vertices (landmarks, then the background ring), what `recall` carries from."""
        return np.concatenate([self.landmarks[:, :2].astype(np.float32), crop_mesh(self.crop.shape[0]).ring])

    @cached_property
    def openness(self) -> tuple[float, float]:
        """Its inner-lip gap and eye aperture (`openness`)."""
        return openness(self.landmarks)


@dataclass
class TextureMemory:
    """Per-track real texture: the clearest example seen of each region state.

    States: mouth 'closed' (lips together) and 'open' (teeth showing); eyes 'open' and 'closed'.
    Watching costs two landmark distances a frame; the pixels are looked at (are teeth showing?) only for
    an open mouth that would beat the stored example, over the mouth's own box.
    """

    slots: dict[tuple[str, str], Example] = field(default_factory=dict)

    def get(self, region: str, state: str) -> Example | None:
        return self.slots.get((region, state))

    def observe(self, crop: np.ndarray, landmarks: np.ndarray, opened: tuple[float, float]) -> None:
        """Keep this frame for every region whose state it shows more clearly than the stored example
        (`opened`: its landmarks' `openness`)."""
        gap, eye = opened
        mouth = "closed" if gap < MOUTH_CLOSED_IOD else "open" if gap > MOUTH_OPEN_IOD else None
        eyes = "open" if eye > EYE_OPEN_IOD else "closed" if eye < EYE_CLOSED_IOD else None
        self._see("mouth", mouth, gap if mouth == "open" else -gap, crop, landmarks)
        self._see("eyes", eyes, eye if eyes == "open" else -eye, crop, landmarks)

    def _see(self, region: str, state: str | None, score: float, crop: np.ndarray, landmarks: np.ndarray) -> None:
        if state is None:
            return
        old = self.slots.get((region, state))
        if old is not None and score <= old.score:
            return
        if (region, state) == ("mouth", "open") and not teeth_visible(crop, landmarks):
            return
        self.slots[(region, state)] = Example(crop, landmarks, score)


def openness(landmarks: np.ndarray) -> tuple[float, float]:
    """Inner-lip gap and mean eye aperture, in IOD."""
    iod = interocular(landmarks)
    gap = float(np.mean(landmarks[index(LIPS_INNER_LOWER), 1] - landmarks[index(LIPS_INNER_UPPER), 1])) / iod
    # the mean of two as np.mean takes it (their sum, halved), without making an array of them
    eye = float((landmarks[145, 1] - landmarks[159, 1] + (landmarks[374, 1] - landmarks[386, 1])) / 2) / iod
    return gap, eye


def recall(example: Example, dst: np.ndarray, tris: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The example's pixels carried by `tris` (crop-mesh triangles, hole strips allowed) onto `dst`, cut to box."""
    src = example.mesh
    x0, y0, x1, y1 = box
    flow = np.zeros((2, y1 - y0, x1 - x0), np.float32)
    shift = np.array([x0, y0], np.float32)
    rasterize_flow(flow, src - shift, dst - shift, tris)
    gx = np.arange(x0, x1, dtype=np.float32)[None, :] + flow[0]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None] + flow[1]
    return cv2.remap(example.crop, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
