"""The rig's fast stand-ins for numpy and OpenCV routines give the same bits as what they replace."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from reenact.editors.rig.appearance import _blur_over
from reenact.editors.rig.deform import _fixed_point, _nonzero, _touching, _uncovered, points_box
from reenact.editors.rig.fills import EDGE_SHARE, MIN_EDGE, median, percentile, quantile, skin
from reenact.imaging import _edge_ratio


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
        assert np.array_equal(_touching(tris, v[:, :2]), np.any(v[:, :2][tris] != 0, axis=(1, 2)))


@pytest.mark.parametrize("turn", [0.0, 0.3, 1.0])
def test_uncovered_is_numpys_steps_bit_for_bit(turn):
    rng = np.random.default_rng(5)
    n = rng.standard_normal((36, 2)).astype(np.float32)
    step = rng.standard_normal((36, 2)).astype(np.float32)
    step[::5] = 0
    out = step[:, 0] * n[:, 0] + step[:, 1] * n[:, 1]
    front = np.where((out < 0)[:, None], step, 0.0)
    want = front if turn <= 0 else (1 - turn) * front + turn * np.minimum(out, 0.0)[:, None] * n
    got = _uncovered(n, step, turn)
    assert got.dtype == want.dtype == np.float32 and got.tobytes() == want.tobytes()


def test_edge_ratio_is_softness_numpy_steps_bit_for_bit():
    rng = np.random.default_rng(8)
    read = few = 0
    for trial in range(400):
        h, w = (int(v) for v in rng.integers(8, 60, 2))
        # gradient magnitudes as Sobel gives them: many small, some strong, ties (integers), some zeros
        m0 = (rng.exponential(rng.choice([5.0, 20.0, 60.0]), (h, w)) * (rng.random((h, w)) > 0.1)).astype(np.float32)
        if trial % 3 == 0:
            m0 = np.round(m0)
        m1 = (m0 * rng.uniform(0.3, 1.0, (h, w)) * (rng.random((h, w)) > 0.05)).astype(np.float32)
        edges = m0 >= max(quantile(m0, 1 - EDGE_SHARE), MIN_EDGE)
        want = -1.0 if edges.sum() < 8 else quantile(m0[edges] / np.maximum(m1[edges], 1e-3), 0.5)
        got = _edge_ratio(m0, m1, 1 - EDGE_SHARE, MIN_EDGE)
        assert got == want, (trial, got, want)
        read += want >= 0
        few += want < 0
    assert read > 100 and few > 10    # both outcomes were exercised


def test_points_box_is_numpys_min_and_max():
    rng = np.random.default_rng(4)
    for trial in range(300):
        n, cols = int(rng.integers(1, 60)), int(rng.choice([2, 3]))
        pts = (rng.uniform(-20, 280, (n, cols)) * rng.choice([1, 0.01])).astype(rng.choice([np.float32, np.float64]))
        if trial % 4 == 0:
            pts = np.round(pts)   # on whole pixels, where floor and ceil meet
        if trial % 5 == 0:
            pts = np.repeat(pts, 2, axis=1)[:, ::2]   # a strided view, as a slice of landmarks is
        pad, size = int(rng.integers(0, 6)), int(rng.choice([64, 256]))
        (lx, ly), (hx, hy) = pts[:, :2].min(0).tolist(), pts[:, :2].max(0).tolist()
        want = (max(math.floor(lx) - pad, 0), max(math.floor(ly) - pad, 0),
                min(math.ceil(hx) + pad + 1, size), min(math.ceil(hy) + pad + 1, size))
        assert points_box(pts, size, pad) == want


def test_skin_is_numpys_median_of_the_cheeks_bit_for_bit():
    rng = np.random.default_rng(6)
    for trial in range(300):
        size = int(rng.choice([32, 256]))
        crop = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        if trial % 3 == 0:
            crop //= 32   # few levels: ties in the sort
        # landmarks on and off the crop, on half pixels (rounded to even) and between
        lm = rng.uniform(-10, size + 10, (478, 3)).astype(rng.choice([np.float32, np.float64]))
        if trial % 2 == 0:
            lm = np.round(lm * 2) / 2
        pts = np.clip(np.round(lm[[117, 346, 50, 280, 101, 330], :2]).astype(int), 0, size - 1)
        middle = np.sort(crop[pts[:, 1], pts[:, 0]].astype(np.float32), axis=0)
        want = (middle[2] + middle[3]) / 2
        got = skin(crop, lm)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_fixed_point_polygon_is_numpys_bit_for_bit():
    rng = np.random.default_rng(9)
    halves = 0
    for trial in range(300):
        poly = rng.uniform(-5, 260, (int(rng.integers(3, 40)), 2)).astype(rng.choice([np.float32, np.float64]))
        if trial % 2 == 0:
            poly = np.round(poly * 32) / 32   # on 1/32 px: half a fixed-point step, where rounding goes to even
        x0, y0 = (int(v) for v in rng.integers(0, 200, 2))
        want = np.round((poly - (x0, y0)) * 16).astype(np.int32)
        assert np.array_equal(_fixed_point(poly, x0, y0), want)
        halves += int((((poly - (x0, y0)) * 16) % 1 == 0.5).sum())
    assert halves > 100


def test_eye_pixels_are_numpys_boolean_indexing_bit_for_bit():
    from reenact.editors.rig.eyes import _eye_pixels
    rng = np.random.default_rng(12)
    for trial in range(300):
        crop = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        x0, y0 = (int(v) for v in rng.integers(0, 64 - 30, 2))
        inside, missing = rng.random((h, w)) < 0.7, rng.random((h, w)) < 0.2
        c = rng.uniform(-2, 32, 2) + (x0, y0)
        r = float(rng.uniform(0.5, 12))
        if trial % 3 == 0:   # on whole and half pixels: distances that equal the radius
            c, r = np.round(c * 2) / 2, float(rng.integers(1, 10))
        # the steps eye_fill took before
        gx = np.arange(x0, x0 + w, dtype=np.float32)[None, :]
        gy = np.arange(y0, y0 + h, dtype=np.float32)[:, None]
        dx, dy = gx - np.float32(c[0]), gy - np.float32(c[1])
        dist = np.sqrt(dx * dx + dy * dy)
        region = crop[y0:y0 + h, x0:x0 + w].astype(np.float32)
        seen = ~missing & inside
        want = (region[seen & ~(dist <= r)], region[seen & (dist <= 0.8 * r)], region[~inside])
        got = _eye_pixels(crop, x0, y0, inside, missing, np.float32(c[0]), np.float32(c[1]), np.float32(r),
                          np.float32(0.8 * r))
        for g, v in zip(got, want):
            assert g.dtype == v.dtype and g.shape == v.shape and np.array_equal(g, v)


def test_curtain_columns_are_numpys_steps_bit_for_bit():
    from reenact.editors.rig.fills import row_gradient, smoothstep
    from reenact.editors.rig.mouth import LAYER_FADE_IOD, LIP_EDGE_IOD, LOWER_LAYER_IOD, LOWER_LAYER_SHARE, _columns
    rng = np.random.default_rng(12)
    for trial in range(300):
        w = int(rng.integers(2, 80))
        u = np.clip(np.linspace(-1.3, 1.3, w) + rng.normal(0, 0.05, w), -1, 1).astype(np.float32)[None, :]
        top = rng.uniform(100, 140, (1, w)).astype(np.float32)
        bottom = np.maximum(top + rng.uniform(-2, 30, (1, w)).astype(np.float32), top)
        h_s = np.maximum(rng.uniform(-3, 25, (1, w)), 0)
        iod, scale, covered = float(rng.uniform(60, 120)), float(rng.choice([1.0, rng.uniform(0.6, 1.6)])), float(rng.random())
        depth = rng.uniform(0, 20, (1, w)).astype(np.float32) if trial % 2 else None
        # curtains' numpy steps
        steep = np.abs(row_gradient(bottom[0]))[None, :]
        hl = np.minimum(LOWER_LAYER_SHARE * h_s, LOWER_LAYER_IOD * iod * scale) \
            * smoothstep((0.8 - np.abs(u)) / 0.4) * smoothstep(1.5 - steep)
        hu = h_s - hl
        h_d = (bottom - top) * scale
        if depth is not None:
            hu = np.minimum(depth, hu) * (1 - covered)
        else:
            grow = smoothstep((h_d / np.maximum(h_s, 1.0) - 1.2) / 0.8)
            hu = hu + (np.minimum(hu, LIP_EDGE_IOD * iod * scale) - hu) * grow
        total = hu + hl
        r = np.where(h_d >= total, 0.5, hu / np.maximum(total, 1e-6))
        fade = np.clip(np.minimum(h_d - total, LAYER_FADE_IOD * iod * scale), 1e-3, None)
        want = (hu + (h_d - total) * r, hu, hl, np.maximum(np.minimum(fade, 2 * hl), 1e-3),
                np.maximum(np.minimum(fade, 2 * hu), 1e-3))
        got = _columns(u[0], top[0], bottom[0], h_s[0], np.empty(0, np.float32) if depth is None else depth[0], covered,
                       iod, scale)
        for g, x in zip(got, want):
            assert g.dtype == x.dtype and np.array_equal(g, x), trial


def test_disc_scores_are_numpys_sums_bit_for_bit():
    from reenact.editors.rig.eyes import _disc_scores
    rng = np.random.default_rng(5)
    for trial in range(100):
        n, r = int(rng.integers(1, 400)), float(rng.uniform(2, 12))
        xs, ys = rng.integers(80, 140, n), rng.integers(90, 120, n)
        weight = np.maximum(rng.normal(0, 30, n), 0).astype(np.float32)
        offs = np.arange(-r, r + 1e-6, max(0.5, r / 8))
        cx, cy = rng.uniform(100, 120) + offs, rng.uniform(100, 110) + offs
        want = [np.where((xs - x) ** 2 + (ys - y) ** 2 <= r * r, weight, 0).sum() for y in cy for x in cx]
        assert np.array_equal(_disc_scores(xs, ys, weight, cx, cy, r * r), np.array(want, np.float32)), trial


def test_seam_columns_are_numpys_steps_bit_for_bit():
    from reenact.editors.rig.deform import chain_y, index
    from reenact.editors.rig.lips import OUTER_LOWER, OUTER_UPPER, SEAM_FULL_PX, _seam_columns
    from reenact.editors.rig.mesh import rest_points
    from reenact.editors.rig.mouth import MOUTH_LOWER, MOUTH_UPPER
    rng = np.random.default_rng(3)
    rest = rest_points(256)
    seamed = []
    for trial in range(100):
        src, before, after = ((rest + rng.normal(0, 1.5, rest.shape)).astype(np.float32) for _ in range(3))
        gx = np.arange(int(rng.integers(90, 110)), int(rng.integers(150, 170)), dtype=np.float32)[None, :]
        a, b = sorted(float(after[i, 0]) for i in (61, 291))
        # seam's numpy steps
        gaps = [chain_y(m, MOUTH_LOWER, gx) - chain_y(m, MOUTH_UPPER, gx) for m in (src, before)]
        top, bottom = chain_y(after, MOUTH_UPPER, gx), chain_y(after, MOUTH_LOWER, gx)
        closed = np.clip((np.maximum(*gaps) - (bottom - top)) / SEAM_FULL_PX, 0, 1)
        closed *= np.clip(1 - (bottom - top), 0, 1) * np.clip(np.minimum(gx - a, b - gx), 0, 1)
        mid = 0.5 * (top + bottom)
        want = (closed, mid, np.maximum(mid - chain_y(after, OUTER_UPPER, gx), 0),
                np.maximum(chain_y(after, OUTER_LOWER, gx) - mid, 0))
        got = _seam_columns(src, before, after, gx[0], a, b, index(MOUTH_UPPER), index(MOUTH_LOWER), index(OUTER_UPPER),
                            index(OUTER_LOWER))
        assert all(np.array_equal(g, x) for g, x in zip(got, want)), trial
        seamed.append((got[0] > 0).mean())
    assert 0.05 < np.mean(seamed) < 0.95    # columns where the lips meet and where they part were both exercised


def test_opening_rows_are_numpys_steps_bit_for_bit():
    from reenact.editors.rig.deform import chain_y, index
    from reenact.editors.rig.mesh import rest_points
    from reenact.editors.rig.mouth import MOUTH_LOWER, MOUTH_UPPER, _opening_rows
    rng = np.random.default_rng(6)
    rest = rest_points(256)
    for trial in range(100):
        pts = (rest + rng.normal(0, 2, rest.shape)).astype(rng.choice([np.float32, np.float64]))
        x0, y0 = int(rng.integers(80, 110)), int(rng.integers(150, 170))
        gx = np.arange(x0, x0 + int(rng.integers(1, 80)), dtype=np.float32)[None, :]
        gy = np.arange(y0, y0 + int(rng.integers(1, 40)), dtype=np.float32)[:, None]
        a, b = sorted((float(pts[78, 0]), float(pts[308, 0])))
        # mouth_geometry's numpy steps
        top = chain_y(pts, MOUTH_UPPER, gx).astype(np.float32)
        bottom = np.maximum(chain_y(pts, MOUTH_LOWER, gx), top).astype(np.float32)
        u = np.clip((gx - 0.5 * (a + b)) / max(0.5 * (b - a), 1.0), -1, 1)
        got = _opening_rows(pts, index(MOUTH_UPPER), index(MOUTH_LOWER), gx[0], gy[:, 0], a, b)
        for g, x in zip(got, (u, top, bottom, gy - top, bottom - gy)):
            assert g.dtype == x.dtype and np.array_equal(g, x), trial


def test_opening_flow_is_numpys_steps_bit_for_bit():
    from reenact.editors.rig.mouth import opening_flow, rim_flow
    rng = np.random.default_rng(9)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for trial in range(100):
        h, n = (int(v) for v in rng.integers(2, 30, 2))
        cover, outline = (np.clip(rng.uniform(-0.5, 1.5, (h, n)), 0, 1).astype(np.float32) for _ in range(2))
        w = (rng.random((h, n)) * (rng.random((h, n)) > 0.5)).astype(np.float32)
        xs, ys = (rng.uniform(0, 50, (h, n)).astype(np.float32) for _ in range(2))
        gx, gy = np.arange(n, dtype=np.float32)[None, :] + 7, np.arange(h, dtype=np.float32)[:, None] + 3
        took = rng.random((h, n)) > 0.7
        flow = rng.normal(0, 2, (2, h + 2, n + 2)).astype(np.float32)
        want = flow.copy()
        # _fill_mouth's numpy steps
        fx, fy = want[0, 1:-1, 1:-1], want[1, 1:-1, 1:-1]
        real = (cover > 0) & (w > 0)
        fx[real] = (xs - gx)[real]
        fy[real] = (ys - gy)[real]
        inner = np.where(real, 0, np.minimum(cover, outline))
        band = (inner >= 1) & cv2.dilate(((inner < 1) & ~real).astype(np.uint8), cross).astype(bool)
        rim_flow(fx, fy, np.where(band, np.float32(0.999), inner), (took & ~real) | band)
        opening_flow(flow[0, 1:-1, 1:-1], flow[1, 1:-1, 1:-1], cover, outline, w, xs, ys, gx[0], gy[:, 0], took)
        assert np.array_equal(flow, want), trial
