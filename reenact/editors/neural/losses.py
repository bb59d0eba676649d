"""The refiner's training losses: their weights, and the image terms they are built from.

Losses (weights in `Weights`):
  l1, ssim       reconstruction of the target frame from the base editor's answer, face-weighted
  self           zero edit with the gate forced open: the raw network must leave a crop it is handed as
                 its own base alone, so the edit grows smoothly from nothing as the gate opens (the
                 gated zero edit is exact by construction and needs no loss)
  change         L1 of what the refiner adds (mask · residual): it changes only what it must
  mask_tv        total variation of the mask: one smooth region, not speckle
  adversarial    optional hinge patch-GAN loss (off by default: weight 0; --adversarial W)

How the mask is kept from collapsing. The previous (v1) model put an L1 penalty on the mask itself,
and started the mask almost closed (sigmoid(−4)): the residual then got almost no gradient, was
never worth opening the mask for, and the mask went to 0 within 300 steps (a warp-only model). Here
nothing pays for the mask being open; only what it lets through (`change`) costs, and it starts half
open over a zero residual, so the output starts as the base exactly while the residual learns from
step one. The mask's mean, its open share and the mean change are logged with the losses
(`mask_mean`, `mask_open`, `change`) so a collapse would show.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Weights:
    l1: float = 1.0
    ssim: float = 1.0
    self: float = 1.0
    change: float = 0.01
    mask_tv: float = 0.01
    adversarial: float = 0.0


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """SSIM per pixel and channel (uniform window) of images in 0..1."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pool = lambda t: F.avg_pool2d(t, window, 1, window // 2, count_include_pad=False)
    mx, my = pool(x), pool(y)
    vx, vy, cov = pool(x * x) - mx * mx, pool(y * y) - my * my, pool(x * y) - mx * my
    return (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def wmean(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean of t (N, C, H, W) weighted per pixel by w (N, 1, H, W)."""
    return (t * w).sum() / (w.sum() * t.shape[1])


def tv(t: torch.Tensor) -> torch.Tensor:
    return (t[..., 1:, :] - t[..., :-1, :]).abs().mean() + (t[..., :, 1:] - t[..., :, :-1]).abs().mean()
