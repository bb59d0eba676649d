"""Torch modules behind the graphs. Imported only by export and the torch backend, never at run time
on the onnxruntime or tensorrt paths."""
from __future__ import annotations

import torch
import torch.nn.functional as F


class WarpBlendModule(torch.nn.Module):
    """See reenact.engines.warp_blend for the op and its conventions."""

    def forward(self, crop: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor,
                fill: torch.Tensor) -> torch.Tensor:
        h, w = crop.shape[-2:]
        ys = torch.arange(h, dtype=torch.float32, device=flow.device).view(1, h, 1)
        xs = torch.arange(w, dtype=torch.float32, device=flow.device).view(1, 1, w)
        # align_corners=False puts pixel i's centre at (2i+1)/w − 1: OpenCV's centre-at-integer convention
        gx = (2 * (xs + flow[:, 0].float()) + 1) / w - 1
        gy = (2 * (ys + flow[:, 1].float()) + 1) / h - 1
        # coordinates stay fp32 even in an fp16 graph: near ±1 fp16 is off by up to S/4096 pixels
        warped = F.grid_sample(crop.float(), torch.stack((gx, gy), dim=-1), mode="bilinear",
                               padding_mode="border", align_corners=False).to(crop.dtype)
        return warped + mask * (fill - warped)


class Half(torch.nn.Module):
    """fp16 inside, fp32 arrays in and out (AutoCast's keep_io_types), so every backend takes the same feeds."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner.half()

    def forward(self, *args: torch.Tensor):
        out = self.inner(*(a.half() for a in args))
        return out.float() if isinstance(out, torch.Tensor) else tuple(o.float() for o in out)


def with_precision(module: torch.nn.Module, precision: str) -> torch.nn.Module:
    return Half(module) if precision == "fp16" else module
