"""The rig's fast stand-ins for numpy and OpenCV routines give the same bits as what they replace."""
from __future__ import annotations

import numpy as np
import pytest

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
