"""The rig's fast stand-ins for numpy and OpenCV routines give the same bits as what they replace."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from reenact.editors.rig.appearance import _blur_over
from reenact.editors.rig.deform import _nonzero, _touching
from reenact.editors.rig.fills import median, percentile


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 10, 57, 300])
def test_percentile_and_median_match_numpy(n):
    rng = np.random.default_rng(n)
    for x in (rng.random((n, 3)).astype(np.float32) * 255, rng.integers(0, 256, (n, 3)).astype(np.float32)):
        for q in (0, 10, 33.3, 50, 75, 100):
            want = np.percentile(x, q, axis=0)
            got = percentile(x, q)
            assert got.dtype == want.dtype and np.array_equal(got, want)
        want = np.median(x, 0)
        got = median(x)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_blur_over_a_part_matches_the_whole_blur(channels):
    rng = np.random.default_rng(channels)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(12, 120, 2))
        image = rng.standard_normal((h, w, channels) if channels > 1 else (h, w)).astype(np.float32)
        sigma = float(rng.choice([0.5, 1.0, 2.2, 5.3, 8.0]))
        (x0, x1), (y0, y1) = np.sort(rng.integers(0, w, 2)), np.sort(rng.integers(0, h, 2))
        part = (int(x0), int(y0), int(x1) + 1, int(y1) + 1)
        whole = cv2.GaussianBlur(image, (0, 0), sigma)
        assert np.array_equal(_blur_over(image, sigma, part), whole[part[1]:part[3], part[0]:part[2]])


def test_short_axis_helpers_match_numpy():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        v = rng.standard_normal((500, 3)).astype(dtype)
        v[::7] = 0
        assert np.array_equal(_nonzero(v[:, :2]), np.any(v[:, :2] != 0, axis=1))
        tris = rng.integers(0, 500, (800, 3))
        assert np.array_equal(_touching(tris, _nonzero(v[:, :2])), np.any(v[:, :2][tris] != 0, axis=(1, 2)))
