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


def test_match_color_reads_only_weighted_pixels_bit_for_bit():
    """The colour match takes its statistics over the weighted pixels alone (only those of the reference are
    converted to Lab): the same bits as the whole images' weighted sums, zero products and all."""
    import cv2

    from reenact.imaging import MIN_WEIGHT, _lab

    def whole(lab, w):   # the statistics over the whole image, as the match took them before
        w = w[..., None]
        total = float(w.sum())
        mean = (lab * w).sum((0, 1)) / total
        return mean, np.sqrt(((lab - mean) ** 2 * w).sum((0, 1)) / total)

    rng = np.random.default_rng(3)
    for h, w in ((37, 61), (120, 90), (211, 173)):
        img = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        ref = rng.integers(0, 256, (h + 9, w - 5, 3), dtype=np.uint8)
        rings = []
        for hh, ww in ((h, w), (h + 9, w - 5)):
            m = np.zeros((hh, ww), np.uint8)
            cv2.ellipse(m, (ww // 2, hh // 2), (ww // 3, hh // 3), 0, 0, 360, 1, -1)
            ring = (m - cv2.erode(m, np.ones((3, 3), np.uint8), iterations=2)).astype(np.float32)
            rings.append(cv2.GaussianBlur(ring, (0, 0), 1.5) * m)
        assert min(float(r.sum()) for r in rings) >= MIN_WEIGHT
        a, b = _lab(img), _lab(ref)
        ma, sa = whole(a, rings[0])
        mb, sb = whole(b, rings[1])
        gain = np.clip((sb + 0.5) / (sa + 0.5), 1 / MAX_SPREAD_GAIN, MAX_SPREAD_GAIN).astype(np.float32)
        want = np.clip(cv2.cvtColor((a - ma.astype(np.float32)) * gain + mb.astype(np.float32), cv2.COLOR_LAB2RGB)
                       * 255, 0, 255)
        assert np.array_equal(match_color(img, ref, rings[0], rings[1]), want)
