"""The compiled loops (reenact/jit.py): the rig's rasteriser against a per-pixel reference, the loops that stand
in for numpy steps against those steps (bit for bit), and compiling where no cache can be written."""
from __future__ import annotations

import numpy as np

from reenact.editors.rig.deform import KEEP_LIP, _close_pairs, _layer_lips, _shape_lids, chain_y
from reenact.editors.rig.mesh import CLOSING_PAIRS, HOLE_CHAINS, LOWER_LIP_ROWS, UPPER_LIP_ROWS
from reenact.stages.geometry import canonical_mesh
from reenact.editors.rig.editor import _paste
from reenact.editors.rig.flow import rasterize_flow
from reenact.jit import compiled


def _barycentric(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(N, 3) barycentric coordinates of points p (N, 2) in triangle tri (3, 2)."""
    a, b, c = tri
    m = np.array([b - a, c - a]).T
    uv = np.linalg.solve(m, (p - a).T).T
    return np.c_[1 - uv.sum(1), uv]


def test_rasterized_flow_is_each_triangles_affine_map():
    rng = np.random.default_rng(5)
    size = 48
    # a fan of triangles around a moved centre: neighbours share edges, none overlap
    ring = 20 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 9)[:-1]), np.sin(np.linspace(0, 2 * np.pi, 9)[:-1])], 1)
    dst = np.vstack([[0, 0], ring]).astype(np.float32) + 24
    src = dst + rng.uniform(-3, 3, dst.shape).astype(np.float32)
    tris = np.array([[0, 1 + i, 1 + (i + 1) % 8] for i in range(8)])
    for depth in (None, np.zeros((len(tris), 3))):
        flow = np.zeros((2, size, size), np.float32)
        rasterize_flow(flow, src, dst, tris, depth)
        ys, xs = np.mgrid[:size, :size]
        pix = np.c_[xs.ravel(), ys.ravel()].astype(np.float64)
        covered = np.zeros(size * size, bool)
        for t in tris:
            w = _barycentric(pix, dst[t].astype(np.float64))
            inside = (w > 1e-3).all(1)
            expected = w[inside] @ src[t].astype(np.float64) - pix[inside]
            got = np.stack([flow[0].ravel()[inside], flow[1].ravel()[inside]], 1)
            assert np.abs(got - expected).max() < 1e-3
            covered |= (w > -1e-3).all(1)
        # nothing drawn outside the triangles, and every pixel well inside one was drawn
        assert not np.any(flow[:, ~covered.reshape(size, size)])
        assert inside.sum() > 20


def test_nearest_triangle_wins_where_two_overlap():
    corners = np.array([[2, 2], [30, 2], [2, 30]], np.float32)
    # the same triangle twice, read from two places
    dst, src = np.vstack([corners, corners]), np.vstack([corners + 1, corners + 5])
    for near, shift in ((0, 1.0), (1, 5.0)):
        depth = np.full((2, 3), 10.0)
        depth[near] = 1.0
        flow = np.zeros((2, 32, 32), np.float32)
        rasterize_flow(flow, src, dst, np.array([[0, 1, 2], [3, 4, 5]]), depth)
        assert np.allclose(flow[:, 5:20, 5], shift)


def test_chain_y_is_np_interp_bit_for_bit():
    rng = np.random.default_rng(7)
    for _ in range(300):
        pts = rng.normal(0, 40, (30, 2)).astype(np.float32)
        chain = tuple(rng.choice(30, rng.integers(1, 10), replace=False).tolist())
        pts[chain[-1], 0] = pts[chain[0], 0]                       # a tie in x
        x = rng.normal(0, 50, (2, 17)).astype(np.float32)
        x[0, :len(chain)] = pts[list(chain), 0]                    # exact hits
        c = pts[list(chain)]
        c = c[np.argsort(c[:, 0], kind="stable")]
        want = np.interp(x, c[:, 0], c[:, 1])
        got = chain_y(pts, chain, x)
        assert got.shape == x.shape and got.tobytes() == want.tobytes()


def test_paste_is_numpys_blend_bit_for_bit():
    rng = np.random.default_rng(8)
    for patch_type, alpha_type in ((np.float32, np.float32), (np.float64, np.float32), (np.float32, np.float64)):
        fill = rng.uniform(0, 255, (20, 24, 3)).astype(np.float32)
        fill_mask = (rng.uniform(0, 1, (20, 24)) * (rng.uniform(size=(20, 24)) > 0.4)).astype(np.float32)
        patch = rng.uniform(0, 255, (9, 11, 3)).astype(patch_type)
        alpha = (rng.uniform(-0.2, 1.2, (9, 11)) * (rng.uniform(size=(9, 11)) > 0.3)).astype(alpha_type)
        want_fill, want_mask = fill.copy(), fill_mask.copy()
        f, fm = want_fill[5:14, 3:14], want_mask[5:14, 3:14]
        a = np.maximum(alpha, 0)
        keep = fm * (1 - a)
        f *= keep[..., None]
        f += patch * a[..., None]
        total = keep + a
        f /= np.where(total > 0, total, 1)[..., None]
        fm[:] = total
        _paste(fill, fill_mask, (3, 5, 14, 14), patch, alpha)
        assert fill.tobytes() == want_fill.tobytes() and fill_mask.tobytes() == want_mask.tobytes()


def _numpy_shape_lids(canon, moved):
    for name in ("right_eye", "left_eye"):
        _, upper, lower, _ = HOLE_CHAINS[name]
        u, low = list(upper), list(lower)
        gap = canon[low, 1] - canon[u, 1]
        mid = len(u) // 2
        now = moved[low[mid], 1] - moved[u[mid], 1]
        if gap[mid] > 0 and now < gap[mid] - 1e-9:
            moved[u, 1] = moved[low, 1] - max(now, 0.0) / gap[mid] * gap


def _numpy_close_pairs(pts, disp):
    for upper, lower in CLOSING_PAIRS:
        u, l = list(upper), list(lower)
        cross = pts[u, 1] > pts[l, 1]
        if cross.any():
            wu = np.abs(disp[u, 1]) + 1e-9
            wl = np.abs(disp[l, 1]) + 1e-9
            y = (pts[u, 1] * wl + pts[l, 1] * wu) / (wu + wl)
            pts[np.array(u)[cross], 1] = y[cross]
            pts[np.array(l)[cross], 1] = y[cross]


def _numpy_layer_lips(canon, moved):
    for rows, sign in ((UPPER_LIP_ROWS, -1.0), (LOWER_LIP_ROWS, 1.0)):
        for inner, outer in zip(rows, rows[1:]):
            a, b = list(inner[1:-1]), list(outer[1:-1])
            rest = sign * (canon[b, 1] - canon[a, 1])
            least = moved[a, 1] + sign * KEEP_LIP * np.maximum(rest, 0.0)
            moved[b, 1] = least + sign * np.maximum(sign * (moved[b, 1] - least), 0.0)


def test_lid_and_lip_steps_are_numpys_bit_for_bit():
    # the deformation's last steps on the canonical face: lids closing past each other, lips pushed into
    # their neighbouring rows, and points that do not move at all
    rng = np.random.default_rng(9)
    canon = canonical_mesh().copy()
    for trial in range(200):
        scale = (0.0, 0.01, 0.05, 0.2)[trial % 4]
        disp = (rng.normal(0, scale, canon.shape) * (rng.uniform(size=(len(canon), 1)) > 0.3)).astype(np.float32)
        moved = canon + disp
        for mine, theirs, args in ((_shape_lids, _numpy_shape_lids, (canon,)), (_close_pairs, _numpy_close_pairs, (disp,)),
                                   (_layer_lips, _numpy_layer_lips, (canon,))):
            want, got = moved.copy(), moved.copy()
            if mine is _close_pairs:
                theirs(want, *args)
                mine(got, *args)
            else:
                theirs(*args, want)
                mine(*args, got)
            assert got.tobytes() == want.tobytes(), mine.__name__


def test_compiles_without_a_cache():
    # a function with no source file gives numba nowhere to cache it: it still compiles and runs
    scope: dict = {}
    exec("def twice(x):\n    return 2 * x\n", scope)
    assert compiled(scope["twice"])(21) == 42
