"""The project's one luma and one colour match (reenact/imaging.py)."""
from __future__ import annotations

import numpy as np

from reenact.imaging import MAX_SPREAD_GAIN, luma, match_color

from conftest import load_rgb


def test_luma_is_bt601_and_keeps_float_precision():
    px = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    y = luma(px)
    assert y.dtype == np.float64
    assert np.allclose(y, [0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30])
    assert luma(px.astype(np.float32)).dtype == np.float32
    assert luma(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5)


def test_match_color_moves_a_float_patch_to_a_reference_of_another_size():
    img = load_rgb("astronaut.png").astype(np.float32)
    patch, ref = img[200:240, 200:260] * 0.7 + 30, img[100:180, 150:220]
    out = match_color(patch, ref, np.ones(patch.shape[:2], np.float32), np.ones(ref.shape[:2], np.float32))
    assert out.dtype == np.float32 and out.shape == patch.shape
    # matched in Lab: the luma means agree up to the transform's curvature
    assert np.abs(luma(out).mean() - luma(ref).mean()) < np.abs(luma(patch).mean() - luma(ref).mean()) / 3


def test_match_color_never_blows_up_a_flat_patch():
    rng = np.random.default_rng(0)
    flat = np.full((20, 20, 3), 120, np.uint8) + rng.integers(0, 2, (20, 20, 3), dtype=np.uint8)
    busy = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    w = np.ones((20, 20), np.float32)
    out = match_color(flat, busy, w)
    assert out.dtype == np.uint8
    assert luma(out).std() <= MAX_SPREAD_GAIN * luma(flat).std() + 2
    assert match_color(flat, busy, np.zeros_like(w)) is flat
