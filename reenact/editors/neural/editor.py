"""The neural editor: the personal refiner made by `reenact train`, run by ONNX Runtime (never torch).

    --editor neural:engines/NAME

The base editor the refiner was trained on (the personal bank in the same folder, or the rig) makes the
edit; the network, at its own side (the crop resized with INTER_AREA, as training saw it), answers with
a residual and a soft mask, which are scaled back to the crop's side and added to the base's full
resolution output. The Edit layers the refinement over the base's warp, so the compositor still replays
the motion at the frame's own resolution.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ...engines import load
from ...engines.manifest import Entry
from ...engines.warp_blend import to_nchw
from ...errors import ConfigError, IntegrityError
from ...pipeline.types import Edit, Warp
from ..base import EDITORS, EditRequest, unchanged
from . import ONNX_FILE, model_dir, model_entry

# what the refiner adds below this (grey levels) leaves a pixel as the base made it
MIN_CHANGE = 0.5


def _resized(planes: np.ndarray, size: int) -> np.ndarray:
    """(C, s, s) → (C, S, S), bilinear in the pixel-centre convention."""
    if planes.shape[-1] == size:
        return planes
    return np.stack([cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR) for p in planes])


def _base(directory: Path, entry: Entry):
    """The editor this refiner was trained on, checked to be the same enrolment."""
    if entry.made["base"] == "rig":
        from ..rig.editor import RigEditor

        return RigEditor()
    from ..personal.editor import PersonalEditor

    bank = PersonalEditor(str(directory))
    if bank.sha256 != entry.made.get("bank_sha256"):
        raise IntegrityError("the refiner was trained on another enrolment than the one beside it; train it "
                             "again with `reenact train`", str(directory / ONNX_FILE))
    return bank


@EDITORS.register("neural")
class NeuralEditor:
    needs_au = True

    def __init__(self, model: str = "", *, backend: str = "onnxruntime", device: str | None = None):
        if not model:
            raise ConfigError("the neural editor needs a model: --editor neural:engines/NAME (make one with "
                              "`reenact enroll --video YOURS.mp4 -o engines/NAME`, then `reenact train -o engines/NAME`)")
        directory = model_dir(model)
        entry = model_entry(directory)
        self.size = int(entry.made["size"])
        self.base = _base(directory, entry)
        self.meta = {"editor": "neural", "model": directory.name, "base": entry.made["base"]}
        # the exported file carries the weights, so only backends that read ONNX can run it
        self.engine = load(directory / ONNX_FILE, backend, device=device)

    def edit(self, req: EditRequest) -> Edit:
        delta = (req.target - req.source).values
        if not np.any(delta):
            return unchanged(req.crop)
        first = self.base.edit(req)
        side = req.crop.shape[0]
        small = (lambda img: img) if side == self.size else \
            (lambda img: cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA))
        base_small = to_nchw(small(first.crop))
        res = self.engine.run({"base": base_small[None], "crop": to_nchw(small(req.crop))[None], "delta": delta[None]})
        mask = _resized(res["mask"][0], side)[0]
        residual = _resized(res["fill"][0] - base_small, side).transpose(1, 2, 0) * np.float32(255)
        base = first.crop.astype(np.float32)
        added = mask[..., None] * residual
        mask = np.where(np.abs(added).max(2) >= MIN_CHANGE, mask, np.float32(0))
        crop = np.clip(base + mask[..., None] * residual + 0.5, 0, 255).astype(np.uint8)
        change = np.maximum(first.mask, mask)
        crop[change <= 0] = req.crop[change <= 0]
        meta = {**first.meta, **self.meta}
        return Edit(crop=crop, mask=change, meta=meta, warp=_layered(first.warp, base + residual, mask, side))

    def reset(self) -> None:
        self.base.reset()

    def close(self) -> None:
        self.base.close()
        self.engine.close()


def _layered(warp: Warp | None, fill: np.ndarray, alpha: np.ndarray, side: int) -> Warp:
    """The base's warp with `fill` laid over its result by `alpha`: one Warp that gives the same crop."""
    if warp is None:
        warp = Warp(np.zeros((2, side, side), np.float32), np.zeros((side, side, 3), np.float32),
                    np.zeros((side, side), np.float32))
    under = warp.fill_mask * (1 - alpha)
    total = under + alpha
    blended = warp.fill * under[..., None] + fill * alpha[..., None]
    np.divide(blended, total[..., None], out=blended, where=total[..., None] > 0)
    return Warp(warp.flow, blended.astype(np.float32), total.astype(np.float32))
