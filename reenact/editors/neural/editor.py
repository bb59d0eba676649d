"""The neural editor: a personal model made by `reenact train`, run by ONNX Runtime (never torch).

    --editor neural:engines/NAME

The crop is resized to the model's side (INTER_AREA, as training saw it); the network answers with a
flow, a soft mask and a fill there; those are scaled back to the crop's side and applied to the crop
itself with the warp_blend op, so a 128² model edits a 256² crop without blurring what only moves. The
Edit carries them as a Warp too, so the compositor replays the warp at the frame's own resolution.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...engines import load
from ...engines.warp_blend import to_nchw, warp_blend_cv2
from ...errors import ConfigError
from . import ONNX_FILE, model_dir, model_entry
from ...pipeline.types import Edit, Warp
from ..base import EDITORS, EditRequest, unchanged
from ..rig.editor import MASK_FULL_PX


def _resized(planes: np.ndarray, size: int) -> np.ndarray:
    """(C, s, s) → (C, S, S), bilinear in the pixel-centre convention."""
    if planes.shape[-1] == size:
        return planes
    return np.stack([cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR) for p in planes])


@EDITORS.register("neural")
class NeuralEditor:
    needs_au = True

    def __init__(self, model: str = "", *, backend: str = "onnxruntime", device: str | None = None):
        if not model:
            raise ConfigError("the neural editor needs a model: --editor neural:engines/NAME "
                              "(make one with `reenact train --video YOURS.mp4 -o engines/NAME`)")
        directory = model_dir(model)
        self.size = int(model_entry(directory).made["size"])
        self.meta = {"editor": "neural", "model": directory.name}
        # the exported file carries the weights, so only backends that read ONNX can run it
        self.engine = load(directory / ONNX_FILE, backend, device=device)

    def edit(self, req: EditRequest) -> Edit:
        delta = (req.target - req.source).values
        if not np.any(delta):
            return unchanged(req.crop)
        side = req.crop.shape[0]
        small = req.crop if side == self.size else cv2.resize(req.crop, (self.size, self.size),
                                                               interpolation=cv2.INTER_AREA)
        res = self.engine.run({"crop": to_nchw(small)[None], "delta": delta[None]})
        flow = _resized(res["flow"][0], side) * np.float32(side / self.size)
        mask, fill = _resized(res["mask"][0], side), _resized(res["fill"][0], side)
        out = warp_blend_cv2({"crop": to_nchw(req.crop)[None], "flow": flow[None], "mask": mask[None],
                              "fill": fill[None]})["out"][0]
        change = np.maximum(np.minimum(np.hypot(flow[0], flow[1]) / MASK_FULL_PX, 1.0), mask[0])
        crop = np.clip(out.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
        still = change <= 0
        crop[still] = req.crop[still]
        return Edit(crop=crop, mask=change.astype(np.float32), meta=self.meta,
                    warp=Warp(flow, fill.transpose(1, 2, 0) * np.float32(255), mask[0]))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.engine.close()
