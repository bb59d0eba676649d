"""The refiner: a network that corrects a base editor's output (the personal bank's, or the rig's)
towards the person's real frames, by an RGB residual and a soft mask (where to apply it). Motion is the
base editor's; the network learns appearance only (teeth, lips, creases the base got wrong or blurred).
Also the optional patch discriminator for the adversarial loss.

    out = base·(1 − mask) + fill·mask,   fill = base + residual

Zero edit is exact by construction, not learned: the mask is multiplied by a gate that is 0 when the
AU change is 0 (see GATE_AU), so out = base, and the base editor returns the crop itself for no change.
Inputs: base and crop (N, 3, S, S) RGB in 0..1, delta (N, 17) = target − source AUs, FACS 0–5.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...pipeline.types import AU_MAX, AU_NAMES
from . import GATE_AU

N_AU = len(AU_NAMES)
# initial mask logit: half open (see Refiner)
MASK_BIAS = 0.0


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


class Refiner(nn.Module):
    def __init__(self, arch: Arch = Arch()):
        super().__init__()
        if arch.size % 32:
            raise ValueError(f"crop size must be a multiple of 32, got {arch.size}")
        w = arch.width
        self.arch = arch
        self.register_buffer("coords", coords(arch.size), persistent=False)
        # base, crop and where each pixel is on the aligned face → residual RGB and the mask's logit
        self.net = UNet(3 + 3 + 2, 4, (w // 2, w, 2 * w, 4 * w, 4 * w))
        # the mask starts half open over a zero residual: the output starts as the base exactly, and
        # the residual gets gradient from the first step (a closed mask would starve it: see losses.py)
        nn.init.constant_(self.net.out.bias[3], MASK_BIAS)

    @staticmethod
    def gate(delta: torch.Tensor) -> torch.Tensor:
        """(N, 1, 1, 1): 0 for no AU change, rising linearly to 1 at GATE_AU."""
        return torch.clamp(delta.abs().sum(1) / GATE_AU, max=1.0)[:, None, None, None]

    def forward(self, base: torch.Tensor, crop: torch.Tensor, delta: torch.Tensor, gate: torch.Tensor | None = None):
        """→ (out, mask, fill). `gate` overrides the AU gate (training's ungated self-reconstruction)."""
        g = self.gate(delta) if gate is None else gate
        n = base.shape[0]
        t = self.net(torch.cat([base, crop, self.coords.expand(n, -1, -1, -1)], 1), delta / AU_MAX)
        fill = base + t[:, :3]
        mask = torch.sigmoid(t[:, 3:]) * g
        out = torch.clamp(base + mask * t[:, :3], 0.0, 1.0)
        return out, mask, fill


class PatchDiscriminator(nn.Module):
    """Real/fake logits per patch (PatchGAN), for the optional adversarial loss."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(_conv(3, w, 2), _conv(w, 2 * w, 2), _conv(2 * w, 4 * w, 2), nn.Conv2d(4 * w, 1, 3, 1, 1))

    def forward(self, crop: torch.Tensor) -> torch.Tensor:
        return self.net(crop)
