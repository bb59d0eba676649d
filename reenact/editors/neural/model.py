"""The generator, after DefGAN: motion (a dense flow from the crop and the AU change, applied with
grid_sample), then texture (an RGB residual and a soft mask for what motion cannot explain: teeth,
mouth interior, eyelids, wrinkles). Also the two helpers training needs: an AU regressor (the
AU-consistency critic) and an optional patch discriminator.

    out = warp(crop, flow)·(1 − mask) + fill·mask,   fill = warp(crop, flow) + residual

Zero edit is exact by construction, not learned: flow and mask are multiplied by a gate that is 0 when
the AU change is 0 (see GATE_AU), so out = warp(crop, 0) = crop, up to grid_sample's float rounding.
Inputs: crop (N, 3, S, S) RGB in 0..1 and delta (N, 17) = target − source AUs on the FACS 0–5 scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...engines.torch_ops import WarpBlendModule
from ...pipeline.types import AU_MAX, AU_NAMES
from . import GATE_AU

N_AU = len(AU_NAMES)
# initial soft-mask logit: the texture branch starts almost closed, so training begins as pure warping
MASK_BIAS = -4.0


@dataclass(frozen=True)
class Arch:
    """What fixes the weights' shapes; stored with every checkpoint and compared on --resume."""

    size: int = 256
    width: int = 32


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


def coords(size: int) -> torch.Tensor:
    """(1, 2, S, S) x and y in −1..1: the crop is aligned, so position says which part of the face it is."""
    g = torch.linspace(-1.0, 1.0, size)
    return torch.stack(torch.meshgrid(g, g, indexing="xy"))[None]


class UNet(nn.Module):
    """Encoder–decoder with skips; the AU change is added to every encoder level's features."""

    def __init__(self, cin: int, cout: int, widths: tuple[int, ...]):
        super().__init__()
        self.inp = _conv(cin, widths[0])
        self.down = nn.ModuleList(nn.Sequential(_conv(a, b, 2), _conv(b, b)) for a, b in zip(widths, widths[1:]))
        self.cond = nn.ModuleList(nn.Linear(N_AU, w) for w in widths)
        self.up = nn.ModuleList(_conv(b + a, a) for a, b in zip(widths, widths[1:]))
        self.out = nn.Conv2d(widths[0], cout, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, au: torch.Tensor) -> torch.Tensor:
        h = self.inp(x) + self.cond[0](au)[:, :, None, None]
        skips = []
        for down, cond in zip(self.down, self.cond[1:]):
            skips.append(h)
            h = down(h) + cond(au)[:, :, None, None]
        for up in reversed(self.up):
            h = up(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skips.pop()], 1))
        return self.out(h)


class Generator(nn.Module):
    def __init__(self, arch: Arch = Arch()):
        super().__init__()
        if arch.size % 32:
            raise ValueError(f"crop size must be a multiple of 32, got {arch.size}")
        w = arch.width
        self.arch = arch
        self.register_buffer("coords", coords(arch.size), persistent=False)
        self.register_buffer("coords_half", coords(arch.size // 2), persistent=False)
        # motion at half resolution, upsampled: flows are smooth, and this halves the cost
        self.motion = UNet(3 + 2, 2, (w, 2 * w, 4 * w, 4 * w))
        self.texture = UNet(3 + 3 + 2, 4, (w // 2, w, 2 * w, 4 * w, 4 * w))
        nn.init.constant_(self.texture.out.bias[3], MASK_BIAS)
        self.warp_blend = WarpBlendModule()
        # raw motion output 1 = this many pixels: a lip moves a few percent of the crop
        self.flow_scale = arch.size / 32

    @staticmethod
    def gate(delta: torch.Tensor) -> torch.Tensor:
        """(N, 1, 1, 1): 0 for no AU change, rising linearly to 1 at GATE_AU."""
        return torch.clamp(delta.abs().sum(1) / GATE_AU, max=1.0)[:, None, None, None]

    def forward(self, crop: torch.Tensor, delta: torch.Tensor, gate: torch.Tensor | None = None):
        """→ (out, flow, mask, fill). `gate` overrides the AU gate (training's ungated self-reconstruction)."""
        g = self.gate(delta) if gate is None else gate
        n = crop.shape[0]
        au = delta / AU_MAX
        half = F.avg_pool2d(crop, 2)
        raw = self.motion(torch.cat([half, self.coords_half.expand(n, -1, -1, -1)], 1), au)
        flow = F.interpolate(raw, scale_factor=2.0, mode="bilinear", align_corners=False) * (self.flow_scale * g)
        # warp_blend with mask 0 is the plain warp, in the same pixel convention as the editors' graph
        warped = self.warp_blend(crop, flow, torch.zeros_like(crop[:, :1]), crop)
        t = self.texture(torch.cat([warped, crop, self.coords.expand(n, -1, -1, -1)], 1), au)
        fill = warped + t[:, :3]
        mask = torch.sigmoid(t[:, 3:]) * g
        out = torch.clamp(warped + mask * (fill - warped), 0.0, 1.0)
        return out, flow, mask, fill


class AURegressor(nn.Module):
    """Crop → AU intensities (0–5): trained on real frames against our estimator's labels; its reading
    of generated frames is the AU-consistency loss."""

    SIDE = 64

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.features = nn.Sequential(_conv(3, w, 2), _conv(w, 2 * w, 2), _conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w, 2))
        self.head = nn.Linear(4 * w * (self.SIDE // 16) ** 2, N_AU)

    def forward(self, crop: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(crop, size=(self.SIDE, self.SIDE), mode="area")
        return AU_MAX * torch.sigmoid(self.head(self.features(x).flatten(1)))


class PatchDiscriminator(nn.Module):
    """Real/fake logits per patch (PatchGAN), for the optional adversarial loss."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(_conv(3, w, 2), _conv(w, 2 * w, 2), _conv(2 * w, 4 * w, 2), nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, crop: torch.Tensor) -> torch.Tensor:
        return self.net(crop)
