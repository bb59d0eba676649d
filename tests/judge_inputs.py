"""Deterministic judge inputs shared by tests/test_judge.py and tools/judge_node_parity.py, which
measured node's reference outputs on exactly these."""
from __future__ import annotations

import numpy as np


def synthetic_tensor() -> np.ndarray:
    """112×112×3 float32 in 0..255: smooth waves plus a hard-edged square."""
    i, j = np.mgrid[0:112, 0:112].astype(np.float64)
    chans = [127.5 + 120 * np.sin(0.11 * i + 0.07 * (c + 1) * j + c) * np.cos(0.05 * (i - j)) for c in range(3)]
    x = np.stack(chans, -1)
    x[30:60, 40:80] = (200.0, 40.0, 90.0)
    return x.astype(np.float32)


def synthetic_image() -> np.ndarray:
    """97×150 uint8 RGB (an odd size difference, so the square padding is uneven)."""
    i, j = np.mgrid[0:97, 0:150]
    return np.stack([(3 * i + j) % 256, (i * j // 7) % 256, (255 - 2 * j + i) % 256], -1).astype(np.uint8)


def synthetic_grey() -> np.ndarray:
    """64×64×1 float32 in −1..1 (the fer judge's input): smooth waves and a hard-edged square."""
    i, j = np.mgrid[0:64, 0:64].astype(np.float64)
    x = 0.9 * np.sin(0.21 * i + 0.13 * j) * np.cos(0.09 * (i - j))
    x[20:40, 10:30] = -0.8
    return x[..., None].astype(np.float32)
