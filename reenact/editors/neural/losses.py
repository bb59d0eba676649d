"""The neural editor's training losses: their weights, and the image terms they are built from.

Losses (weights in `Weights`):
  l1, ssim       reconstruction of the target (and of the frame after it)
  temporal       consecutive targets give consecutive outputs: (out[t+1] − out[t]) ≈ (y[t+1] − y[t])
  cycle          edit forward, then back with −delta: the source again
  self           zero edit with the gate forced open: the raw networks must also leave the crop alone,
                 so the edit grows smoothly from nothing as the gate opens (the gated zero edit is exact
                 by construction and needs no loss)
  mask, mask_tv  L1 and total variation of the texture mask: texture only where motion cannot explain
  flow_tv        smoothness of the flow
  flow_prior     L2 to the rig editor's flow for the same AU change: the motion branch starts from, and
                 stays near, a sensible warp
  au             AU consistency: an AU regressor (crop → 17 AUs), trained alongside on the real frames
                 against our estimator's readings, must read the target's AUs in the output. A regressor,
                 not a landmark head: the estimator's geometry needs landmarks, which only MediaPipe gives,
                 and it is not differentiable
  adversarial    optional hinge patch-GAN loss (off by default: weight 0; --adversarial W)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F



@dataclass(frozen=True)
class Weights:
    l1: float = 1.0
    ssim: float = 1.0
    temporal: float = 0.5
    cycle: float = 0.5
    self: float = 1.0
    mask: float = 0.02
    mask_tv: float = 0.05
    flow_tv: float = 0.05
    flow_prior: float = 0.05
    au: float = 0.1
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
