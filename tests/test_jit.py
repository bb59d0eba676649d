"""The compiled loops (reenact/jit.py): the rig's rasteriser against a per-pixel reference, the loops that stand
in for numpy steps against those steps (bit for bit: each reference is the numpy the loop replaced), and compiling
where no cache can be written."""
from __future__ import annotations

import cv2
import numpy as np

from reenact.editors.rig.deform import KEEP_LIP, _close_pairs, _layer_lips, _shape_lids, chain_y, deform, dense_flow
from reenact.editors.rig.mesh import (CLOSING_PAIRS, HOLE_CHAINS, HOLES, LIPS_INNER_LOWER, LIPS_INNER_UPPER,
                                      LOWER_LIP_ROWS, UPPER_LIP_ROWS, crop_mesh)
from reenact.stages.landmarks import interocular
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


def _faces(n: int, seed: int):
    """Deformations of the average face by random AU changes (either sign, one side or both), the jaw and lids
    among them, as the rig makes them."""
    from reenact.editors.rig.basis import load_basis
    from reenact.editors.rig.mesh import rest_points

    rng = np.random.default_rng(seed)
    basis = load_basis()
    rest = rest_points(256)
    pts = np.c_[rest, np.zeros(len(rest), np.float32)]
    for _ in range(n):
        change = (rng.uniform(-3, 3, len(basis.gain)) * (rng.uniform(size=len(basis.gain)) < 0.4)).astype(np.float32)
        other = change if rng.uniform() < 0.7 else np.zeros_like(change)
        yield deform(pts + rng.normal(0, 0.3, pts.shape).astype(np.float32), change, other, basis, 256)


def _numpy_dense_flow(d, size):
    """dense_flow as numpy wrote it before its loops were compiled."""
    from reenact.editors.rig import deform as D

    flow = np.zeros((2, size, size), np.float32)
    mesh = crop_mesh(size)
    tris = mesh.triangles
    step = d.dst - d.src
    moving = D._touching(tris, step)
    box = D.points_box(d.dst[tris[moving]].reshape(-1, 2), size)
    drawn, z = D._drawn(tris, d.src, d.dst, d.depth, moving, mesh.n_face, np.array(box, np.float32))
    rasterize_flow(flow, d.src, d.dst, tris[drawn], z[drawn])
    holes = []
    for name, contour in HOLES.items():
        c = list(contour)
        if not np.any(step[c]):
            continue
        poly_dst, poly_src = d.dst[c], d.src[c]
        hbox = D.points_box(np.concatenate([poly_dst, poly_src]), size)
        x0, y0, x1, y1 = hbox
        inside = D._poly_mask(poly_dst, hbox)
        if not inside.any():
            holes.append((hbox, inside, inside))
            continue
        box = D.union(box, hbox)
        had = D._poly_mask(poly_src, hbox)
        fx, fy = flow[0, y0:y1, x0:x1], flow[1, y0:y1, x0:x1]
        if name == "mouth":
            gx = np.arange(x0, x1, dtype=np.float32)[None, :]
            gy = np.arange(y0, y1, dtype=np.float32)[:, None]
            up_src, up_dst = chain_y(d.src, LIPS_INNER_UPPER, gx), chain_y(d.dst, LIPS_INNER_UPPER, gx)
            gap_src = chain_y(d.src, LIPS_INNER_LOWER, gx) - up_src
            gap_dst = chain_y(d.dst, LIPS_INNER_LOWER, gx) - up_dst
            band = np.minimum(D.UPPER_TEETH_SHARE * gap_src, D.UPPER_TEETH_IOD * interocular(d.src))
            mid_src = up_src + band
            mid_dst = up_dst + np.minimum(band, 0.5 * gap_dst)
            lower = gy > mid_dst
            chain = list(LIPS_INNER_LOWER)
            reach = np.linalg.norm(d.dst[chain] - d.src[chain], axis=1)
            by_x = np.argsort(d.dst[chain, 0], kind="stable")
            taper = np.interp(gx[0], d.dst[chain, 0][by_x], (reach / max(reach.max(), 1e-6))[by_x])
            fx[inside] = np.where(lower, -d.jaw[0] * taper[None, :], 0.0)[inside]
            fy[inside] = np.where(lower, -d.jaw[1] * taper[None, :], 0.0)[inside]
            sx = np.clip(np.round(gx + fx - x0), 0, x1 - x0 - 1).astype(int)
            sy = np.clip(np.round(gy + fy - y0), 0, y1 - y0 - 1).astype(int)
            src_lower = (gy + fy) > np.interp(gx + fx, gx[0], mid_src[0])
            ok = had[sy, sx] & (src_lower == lower)
        else:
            fx[inside] = 0.0
            fy[inside] = 0.0
            eroded = [cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) for m in (had, inside)]
            ok = had & (eroded[0] | ~eroded[1])
        holes.append((hbox, inside, inside & ~ok))
    return flow, holes, box


def test_dense_flow_holes_are_numpys_bit_for_bit():
    moved = 0
    for d in _faces(40, 10):
        flow, holes, box = dense_flow(d, 256)
        want_flow, want_holes, want_box = _numpy_dense_flow(d, 256)
        assert box == want_box and flow.tobytes() == want_flow.tobytes()
        assert [(h.box, h.inside.tobytes(), h.missing.tobytes()) for h in holes] == \
            [(b, i.tobytes(), m.tobytes()) for b, i, m in want_holes]
        moved += sum(bool(h.missing.any()) for h in holes)
    assert moved > 10      # layers with something to fill, in the mouth and the eyes


def _numpy_settle(src, dst, seal, keep, iod):
    """lips.settle as numpy wrote it before it was compiled."""
    from reenact.editors.rig import lips as L

    up, low, _ = L.lip_vertices()
    ids = np.concatenate([up, low])
    x = dst[ids, 0]
    a, b = sorted((float(dst[78, 0]), float(dst[308, 0])))
    sa, sb = sorted((float(src[78, 0]), float(src[308, 0])))
    xs = 0.5 * (sa + sb) + (x - 0.5 * (a + b)) * (sb - sa) / max(b - a, 1.0)
    chains = (L.OUTER_UPPER, L.MOUTH_UPPER, L.MOUTH_LOWER, L.OUTER_LOWER)
    ou, iu, il, ol = [chain_y(dst, c, x) for c in chains]
    s = [chain_y(src, c, xs) for c in chains]
    tu_s, gap_s, tl_s = s[1] - s[0], np.maximum(s[2] - s[1], 0), s[3] - s[2]
    tu, tl = np.maximum(iu - ou, 1e-3), np.maximum(ol - il, 1e-3)
    gap = np.maximum(il - iu, 0)
    least_u, least_l, u_of_l = L.rest_thickness(src, dst, seal)
    want_u = np.maximum(least_u * tu_s - tu, 0)
    want_l = np.maximum(least_l * tl_s - tl, 0)
    fit = np.minimum(gap / np.maximum(want_u + want_l, 1e-6), 1.0)
    need_u, need_l = want_u * fit, want_l * fit
    out_u = np.maximum(want_u - np.maximum(np.maximum(L.KEEP_THICKNESS * tu_s - tu, 0), need_u), 0)
    out_l = np.maximum(want_l - np.maximum(np.maximum(L.KEEP_THICKNESS * tl_s - tl, 0), need_l), 0)
    close = np.maximum(gap - need_u - need_l - np.maximum((1 - seal) * gap, keep * gap_s), 0)
    tu2, tl2 = tu + need_u, tl + need_l
    u = np.abs(x.astype(np.float64) - np.float64(np.float32(0.5 * (a + b)))) / max(0.5 * np.float64(np.float32(max(b - a, 1.0))), 1e-6)
    fade = np.clip((L.UPPER_SPAN[1] - u) / (L.UPPER_SPAN[1] - L.UPPER_SPAN[0]), 0, 1)
    out_u = out_u + np.maximum(fade * u_of_l * tl_s - tu2 - close * tu2 / (tu2 + tl2) - out_u, 0)
    move_u = need_u + close * tu2 / (tu2 + tl2)
    move_l = need_l + close * tl2 / (tu2 + tl2)
    n = len(up)
    share = np.clip(np.concatenate([(dst[up, 1] - ou[:n]) / tu[:n], (ol[n:] - dst[low, 1]) / tl[n:]]), 0, 1)
    step = np.concatenate([-out_u[:n] + share[:n] * (move_u[:n] + out_u[:n]),
                           out_l[n:] - share[n:] * (move_l[n:] + out_l[n:])])
    out = dst.copy()
    out[ids, 1] += step
    src_out = src.copy()
    thick = np.concatenate([tu_s[:n], tl_s[n:]])
    pull = np.minimum(L.LIP_EDGE_SHARE * thick, L.LIP_EDGE_IOD * iod) * np.clip(close / L.SEAM_FULL_PX, 0, 1) * share ** 4
    src_out[ids, 1] += np.concatenate([-pull[:n], pull[n:]])
    return out, src_out


def test_settled_lips_are_numpys_bit_for_bit():
    from reenact.editors.rig.lips import settle

    rng = np.random.default_rng(11)
    pulled = 0
    for d in _faces(40, 12):
        seal, keep = float(rng.choice([0.0, 0.5, 1.0])), float(rng.choice([0.0, 0.3, 1.0]))
        iod = interocular(d.src)
        got, want = settle(d.src, d.dst, seal, keep, iod), _numpy_settle(d.src, d.dst, seal, keep, iod)
        assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
        pulled += bool(np.any(got[1] != d.src)) and bool(np.any(got[0] != d.dst))
    assert pulled > 5      # lips that settled over a closing gap, their texture pulled from inside


def _numpy_edges(flow, box, own, wbox):
    """silhouette's surface-edge mask and its bounding rect as numpy and OpenCV made them before _edges."""
    from reenact.editors.rig.silhouette import EDGE_JUMP_PX, HOLE_MARGIN_PX

    x0, y0, x1, y1 = box
    wx0, wy0, wx1, wy1 = wbox
    fx, fy = flow[0, y0:y1, x0:x1], flow[1, y0:y1, x0:x1]
    step_x = cv2.max(cv2.absdiff(fx[:, 1:], fx[:, :-1]), cv2.absdiff(fy[:, 1:], fy[:, :-1])) > EDGE_JUMP_PX
    step_y = cv2.max(cv2.absdiff(fx[1:], fx[:-1]), cv2.absdiff(fy[1:], fy[:-1])) > EDGE_JUMP_PX
    edge = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    inner = edge[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    inner[:, 1:] |= step_x
    inner[:, :-1] |= step_x
    inner[1:] |= step_y
    inner[:-1] |= step_y
    edge &= 1 - cv2.dilate(own, np.ones((2 * HOLE_MARGIN_PX + 1,) * 2, np.uint8))
    return edge, cv2.boundingRect(edge)


def test_surface_edges_are_the_vectorised_steps_bit_for_bit():
    from reenact.editors.rig.silhouette import EDGE_JUMP_PX, HOLE_MARGIN_PX, _edges, owned
    from reenact.stages.landmarks import LIPS_OUTER

    rng = np.random.default_rng(13)
    found = 0
    for d in _faces(30, 14):
        flow, holes, box = dense_flow(d, 256)
        if box is None:
            continue
        # jumps between surfaces, as a depth test makes them where a chin covers a collar
        flow[:, 150:, 100:140] += np.float32(rng.uniform(0.5, 3))
        x0, y0, x1, y1 = box
        wbox = (max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, 256), min(y1 + 2, 256))
        own = owned(d.dst[list(LIPS_OUTER)], holes, wbox)
        near = cv2.dilate(own, np.ones((2 * HOLE_MARGIN_PX + 1,) * 2, np.uint8))
        edge, rect = _edges(flow, *box, *wbox[:2], near, np.float32(EDGE_JUMP_PX))
        want_edge, want_rect = _numpy_edges(flow, box, own, wbox)
        assert edge.tobytes() == want_edge.tobytes() and rect == want_rect
        found += rect[2] > 0
    assert found > 10


def _numpy_rim_flow(fx, fy, cover, took):
    """mouth.rim_flow in numpy: rounds in which each waiting rim pixel takes from its first least-covered
    neighbour that is neither waiting nor fully covered; when a round gives none, from any neighbour."""
    waiting = ((cover >= 0.5) | np.asarray(took, bool)) & (cover < 1)
    h, w = cover.shape
    near = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    lip_only = True
    while waiting.any():
        ys, xs = np.nonzero(waiting)
        ny = np.clip(ys[:, None] + near[:, 0], 0, h - 1)
        nx = np.clip(xs[:, None] + near[:, 1], 0, w - 1)
        key = cover[ny, nx].astype(np.float64)
        if lip_only:
            key[waiting[ny, nx] | (cover[ny, nx] >= 1)] = np.inf
        k = np.argmin(key, axis=1)
        ok = np.isfinite(key[np.arange(len(ys)), k])
        ys, xs, k = ys[ok], xs[ok], k[ok]
        by, bx = ny[ok][np.arange(len(ys)), k], nx[ok][np.arange(len(ys)), k]
        fx[ys, xs] = fx[by, bx] + (bx - xs)
        fy[ys, xs] = fy[by, bx] + (by - ys)
        waiting[ys, xs] = False
        lip_only = bool(ok.any())


def test_rim_flow_is_numpys_bit_for_bit():
    from reenact.editors.rig.mouth import rim_flow

    rng = np.random.default_rng(15)
    for trial in range(100):
        h, w = rng.integers(1, 30, 2)
        # coverage of a blob, with ties (0 and 1 plateaus) and a mask of pixels the hole took
        cover = np.clip(rng.normal(0.6, 0.5, (h, w)), 0, 1).astype(np.float32)
        cover[rng.uniform(size=(h, w)) < 0.2] = 0.5
        took = rng.uniform(size=(h, w)) < 0.2 if trial % 3 else 0
        flow = rng.normal(0, 3, (2, h + 4, w + 4)).astype(np.float32)
        want = flow.copy()
        _numpy_rim_flow(want[0, 2:-2, 2:-2], want[1, 2:-2, 2:-2], cover, took)
        rim_flow(flow[0, 2:-2, 2:-2], flow[1, 2:-2, 2:-2], cover, took)
        assert flow.tobytes() == want.tobytes()


def _numpy_couple_close(src, step, edges, reach_px, rounds, own):
    """deform._couple_close as numpy wrote it before its edges and weights were compiled (the rounds were)."""
    from reenact.editors.rig.deform import _nonzero, _pull

    moving = _nonzero(step)
    e = edges[moving[edges[:, 0]] | moving[edges[:, 1]]]
    d2 = (src[e[:, 0]] - src[e[:, 1]]) ** 2
    w = np.exp(-0.5 * (d2[:, 0] + d2[:, 1]) / reach_px ** 2)
    e, w = e[w > 0.05], w[w > 0.05]
    if not len(e):
        return step
    n = len(step)
    a, b = e[:, 0], e[:, 1]
    keep = moving / (1 + np.bincount(a, w, n) + np.bincount(b, w, n))
    v = _pull(np.ascontiguousarray(step.T, np.float32), a, b, w.astype(np.float32), keep, np.asarray(own, np.int64),
              rounds)
    return np.ascontiguousarray(v.T).astype(step.dtype)


def test_coupled_motion_is_numpys_bit_for_bit():
    from reenact.editors.rig.deform import KEEP_OWN_MOTION, _couple_close, _edges

    rng = np.random.default_rng(16)
    edges = _edges(256)
    coupled = 0
    for d in _faces(20, 17):
        step = (d.dst - d.src).astype(np.float32)
        step[rng.uniform(size=len(step)) < 0.5] = 0
        for reach in (0.5, 6.0, 40.0):
            got = _couple_close(d.src, step, edges, reach, own=KEEP_OWN_MOTION)
            want = _numpy_couple_close(d.src, step, edges, reach, 4, KEEP_OWN_MOTION)
            assert got.tobytes() == want.tobytes()
            coupled += bool(np.any(got != step))
    assert coupled > 20


def _numpy_displacement(basis, right, left, gates=None):
    """Basis.displacement as numpy wrote it before its sums were compiled."""
    out = np.zeros(basis.right.shape[1:], np.float32)
    sets = [(basis.right, right, 1.0), (basis.left, left, 1.0)]
    for gate, (r, l) in basis.gated.items():
        share = (gates or {}).get(gate, 0.0)
        if share > 0:
            has = basis._gated_aus[gate]
            sets += [(r, right * has, share), (l, left * has, share)]
    for fields, coeff, share in sets:
        for k in np.flatnonzero(coeff):
            out += np.float32(share * coeff[k] * basis.gain[k]) * fields[k]
    return out


def test_basis_displacement_is_numpys_bit_for_bit():
    from reenact.editors.rig.basis import load_basis

    rng = np.random.default_rng(21)
    basis = load_basis()
    n = len(basis.gain)
    for dtype in (np.float32, np.float64):
        for _ in range(30):
            right, left = ((rng.uniform(-3, 3, n) * (rng.uniform(size=n) < 0.4)).astype(dtype) for _ in range(2))
            gates = {g: float(rng.choice([0.0, 0.3, 1.0])) for g in basis.gated}
            for g in (None, gates):
                got = basis.displacement(right, left, g)
                assert got.tobytes() == _numpy_displacement(basis, right, left, g).tobytes()
    assert np.any(basis.displacement(right, left, gates))


def _numpy_removal(to_rest, disp):
    """deform._removal as numpy wrote it before it was compiled."""
    length = np.linalg.norm(disp[:, :2], axis=1)
    moving = length > 1e-9
    u = np.where(moving[:, None], disp[:, :2] / np.where(moving, length, 1)[:, None], 0)
    along = to_rest * u
    reach = np.maximum(along[:, 0] + along[:, 1], 0)
    keep = np.where(moving, np.minimum(length, reach) / np.where(moving, length, 1), 1)
    return disp * keep[:, None].astype(disp.dtype)


def test_removal_is_numpys_bit_for_bit():
    from reenact.editors.rig.deform import _removal

    rng = np.random.default_rng(22)
    stopped = 0
    for _ in range(50):
        disp = rng.normal(0, 0.05, (478, 3)).astype(np.float32)
        disp[rng.uniform(size=478) < 0.3] = 0
        disp[rng.uniform(size=478) < 0.05] = -0.0
        to_rest = rng.normal(0, 0.05, (478, 2)).astype(np.float32)
        got, want = _removal(to_rest, disp), _numpy_removal(to_rest, disp)
        assert got.tobytes() == want.tobytes()
        stopped += int(np.sum(got != disp))
    assert stopped > 1000


def _numpy_closing_budget(canon, right, left, basis):
    """deform._closing_budget as numpy wrote it before it was compiled."""
    for _, upper, lower, _ in HOLE_CHAINS.values():
        u, low = upper[len(upper) // 2], lower[len(lower) // 2]
        gap = canon[low, 1] - canon[u, 1]
        per_unit = [(f[:, u, 1] - f[:, low, 1]) * basis.gain for f in (basis.right, basis.left)]
        closing = [per_unit[0] * right, per_unit[1] * left]
        push = sum(float(c[c > 0].sum()) for c in closing)
        pull = sum(float(c[c < 0].sum()) for c in closing)
        if push > 0 and push + pull > gap:
            keep = max(gap - pull, 0.0) / push
            right = np.where(closing[0] > 0, right * keep, right)
            left = np.where(closing[1] > 0, left * keep, left)
    return right, left


def test_closing_budget_is_numpys_bit_for_bit():
    from reenact.editors.rig.basis import load_basis
    from reenact.editors.rig.deform import _closing_budget
    from reenact.editors.rig.mesh import rest_points

    rng = np.random.default_rng(23)
    basis = load_basis()
    n = len(basis.gain)
    canon = np.c_[rest_points(256), np.zeros(478, np.float32)] / 60
    scaled = 0
    for dtype in (np.float32, np.float64):
        for _ in range(200):
            right, left = ((rng.normal(0, 3, n) * (rng.uniform(size=n) < 0.5)).astype(dtype) for _ in range(2))
            got, want = _closing_budget(canon, right, left, basis), _numpy_closing_budget(canon, right, left, basis)
            assert got[0].dtype == want[0].dtype
            assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
            scaled += bool(np.any(got[0] != right) or np.any(got[1] != left))
    assert scaled > 40


def test_compiled_sum_is_numpys_bit_for_bit():
    from reenact.editors.rig.deform import _np_sum

    rng = np.random.default_rng(24)
    for dtype in (np.float32, np.float64):
        for n in range(0, 60):
            for _ in range(5):
                # magnitudes far apart, so that any other order of the additions rounds differently
                x = (rng.normal(size=n) * 10.0 ** rng.integers(-8, 9, n)).astype(dtype)
                if rng.uniform() < 0.3:
                    x[:] = -0.0
                assert _np_sum(x, n) == x.sum() and np.float64(_np_sum(x, n)).tobytes() == np.float64(x.sum()).tobytes()


def test_reach_limit_is_numpys_bit_for_bit():
    from reenact.editors.rig.basis import load_basis
    from reenact.editors.rig.deform import _within_reach

    rng = np.random.default_rng(25)
    reach = load_basis().reach
    limited = 0
    for cols, scale in ((3, 1.0), (2, 57.3)):
        for _ in range(20):
            v = rng.normal(0, 0.1 * scale, (478, cols)).astype(np.float32)
            v[rng.uniform(size=478) < 0.2] = 0
            want = v * np.minimum(1.0, reach * scale / np.maximum(np.linalg.norm(v[:, :2], axis=1), 1e-9))[:, None]
            _within_reach(v, reach, np.float32(scale))
            assert v.tobytes() == want.astype(np.float32).tobytes()
            limited += int(np.sum(np.isfinite(reach) & (np.linalg.norm(v[:, :2], axis=1) >= 0.99 * reach * scale)))
    assert limited > 100


def test_resting_lids_are_numpys_bit_for_bit():
    from reenact.editors.rig.deform import _resting

    rng = np.random.default_rng(26)
    rest = canonical_mesh()[:, :2]
    for _ in range(50):
        canon = (canonical_mesh() + rng.normal(0, 0.03, (478, 3))).astype(np.float32)
        want = rest.copy()
        for name in ("right_eye", "left_eye"):
            a, _, lower, b = HOLE_CHAINS[name]
            want[list(lower)] += 0.5 * (canon[[a, b], :2] - want[[a, b]]).sum(0)
        got = _resting(canon)
        assert got.tobytes() == want.tobytes() and np.any(got != rest)


def test_curtains_pixels_are_numpys_steps_bit_for_bit():
    """mouth._layers against the numpy it replaced in curtains (float32 pixels, float64 rows, both layers, a
    scale other than 1, pixels outside the opening)."""
    from reenact.editors.rig.fills import smoothstep
    from reenact.editors.rig.mouth import _layers
    rng = np.random.default_rng(11)
    for trial in range(200):
        h, w = rng.integers(1, 30, 2)
        scale = 1.0 if trial % 2 else float(rng.uniform(0.5, 2.0))
        g_du = rng.uniform(-5, 20, (h, w)).astype(np.float32)
        g_dl = rng.uniform(-5, 20, (h, w)).astype(np.float32)
        cover = np.where(rng.random((h, w)) < 0.3, 0, rng.random((h, w))).astype(np.float32)
        top_s, h_s, hu, hl = (rng.uniform(0, 15, (1, w)) for _ in range(4))
        split = hu + rng.uniform(-3, 3, (1, w))
        fu, fl = (np.maximum(rng.uniform(-1, 4, (1, w)), 1e-3) for _ in range(2))
        du, dl = g_du * scale, g_dl * scale
        upper = du < split
        ys_ref = np.where(upper, top_s + du, top_s + h_s - dl).astype(np.float32)
        w_ref = smoothstep(np.where(upper, (hu - du) / fu + 0.5, (hl - dl) / fl + 0.5))
        w_ref = (w_ref * smoothstep(np.where(upper, hu, hl) / scale)).astype(np.float32)
        w_ref = np.where(cover > 0, w_ref, 0)
        ys, wt = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        _layers(g_du, g_dl, cover, scale, split, top_s, h_s, hu, hl, fu, fl, ys, wt)
        assert ys.tobytes() == ys_ref.tobytes() and wt.tobytes() == w_ref.astype(np.float32).tobytes()


def _seam_pixels_numpy(img, y0, mid, closed, up, low, tl, up_rgb, low_rgb):
    """lips.seam's per-pixel layers as numpy wrote them before they were compiled (mid, closed, tl: (1, w))."""
    from reenact.editors.rig.fills import row_gradient
    from reenact.editors.rig.lips import LOW_NEAR, LOW_SHADE, SEAM_DARK, SEAM_PX, SEAM_SOFT_PX
    gy = np.arange(y0, y0 + img.shape[0], dtype=np.float32)[:, None]
    d = gy - mid
    mix = np.clip(0.5 + d / (2 * SEAM_SOFT_PX), 0, 1)
    across = d / np.sqrt(1 + row_gradient(mid[0])[None] ** 2)
    dark = 1 - SEAM_DARK * closed * np.exp(-0.5 * (across / SEAM_PX) ** 2)
    colour = cv2.merge([((up_c[None] * (1 - mix) + low_c[None] * mix) * dark).astype(np.float32)
                        for up_c, low_c in zip(up_rgb.T, low_rgb.T)])
    fu, fl = np.maximum(0.4 * up, 1), np.maximum(0.4 * low, 1)
    alpha = closed * np.clip(np.where(d < 0, (up[None] + d) / fu[None] + 1, (low[None] - d) / fl[None] + 1), 0, 1)
    below, sig = d - tl, 0.3 * tl + 0.5
    shade = 1 - (1 - LOW_NEAR) * np.clip(1 - d / np.maximum(0.5 * tl, 1), 0, 1) \
        - LOW_SHADE * np.exp(-0.5 * ((below - 0.3 * tl) / sig) ** 2)
    region = closed * (d > 0) * (below < 0.3 * tl + 3 * sig)
    shade = np.where(region > 0, shade, 1)
    colour = cv2.merge([((c * alpha + o * (1 - alpha)) * shade).astype(np.float32)
                        for c, o in zip(cv2.split(colour), cv2.split(img))])
    return colour, np.maximum(alpha, region).astype(np.float32)


def test_seam_pixels_are_numpys_bit_for_bit():
    from reenact.editors.rig.fills import row_gradient
    from reenact.editors.rig.lips import _seam_pixels
    rng = np.random.default_rng(11)
    # numpy's float64 exp is libm's (the compiled loop's) unless numpy has its AVX-512 one
    exact = not np.core._multiarray_umath.__cpu_features__.get("AVX512F", False)
    blended = shaded = 0
    for trial in range(200):
        h, w, y0 = int(rng.integers(4, 30)), int(rng.integers(3, 40)), int(rng.integers(0, 200))
        # a line across the box's middle, sloping and curving, half-pixel positions included
        mid = (y0 + h / 2 + rng.uniform(-3, 3) + np.cumsum(rng.uniform(-1, 1, w)) * rng.choice([0, 0.5, 2])
               + rng.choice([0, 0.5], w))[None]
        closed = np.clip(rng.uniform(-0.5, 1.5, w), 0, 1)[None] * rng.choice([0, 1], p=[0.1, 0.9])
        up, low, tl = rng.uniform(0.2, 6, w), rng.uniform(0.2, 6, w), rng.uniform(0, 8, w)[None]
        up_rgb, low_rgb = (rng.uniform(0, 255, (w, 3)).astype(np.float32) for _ in range(2))
        img = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
        want = _seam_pixels_numpy(img, y0, mid, closed, up, low, tl, up_rgb, low_rgb)
        colour, alpha = np.empty_like(img), np.empty((h, w), np.float32)
        _seam_pixels(colour, alpha, img, y0, mid[0], row_gradient(mid[0]), closed[0], up, low, tl[0], up_rgb, low_rgb)
        for got, ref in ((colour, want[0]), (alpha, want[1])):
            assert got.dtype == ref.dtype
            assert np.array_equal(got, ref) if exact else np.allclose(got, ref, rtol=1e-6, atol=1e-4)
        blended += int(((want[1] > 0) & (want[1] < 1)).sum())
        shaded += int((want[1] == 1).sum())
    assert blended > 1000 and shaded > 100   # both the band's fade and its full cover were exercised


def _numpy_limit_folds(src, disp, tris, reach_px, min_ratio=0.1, slack_px2=1.0, rounds=4):
    """flow.limit_folds as numpy wrote each round before its loops were compiled."""
    from reenact.editors.rig.flow import EDGE_ON, _judged

    def saving(p, d, floor):
        def cross(a, b):
            return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
        e1, e2, f1, f2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
        c0, c1, c2 = cross(e1, e2) - floor, cross(e1, f2) + cross(f1, e2), cross(f1, f2)
        disc = c1 * c1 - 4 * c2 * c0
        real = disc >= 0
        q = -0.5 * (c1 + np.copysign(np.sqrt(np.where(real, disc, 0)), c1))
        with np.errstate(divide="ignore", invalid="ignore"):
            roots = np.stack([q / c2, c0 / q])
        roots[~np.isfinite(roots) | (roots <= 0) | ~real[None]] = np.inf
        return np.minimum(np.minimum(roots[0], roots[1]), 1.0)

    a0, judged = _judged(src, tris, src.dtype.type(EDGE_ON))
    tris, a0 = tris[judged], a0[judged]
    floor = min_ratio * a0 - slack_px2
    scale = np.ones(len(src))
    for _ in range(rounds):
        from reenact.editors.rig.flow import _folding
        bad = _folding(src, disp, scale, tris, floor)
        if not bad.any():
            return disp * scale[:, None], float(scale.min())
        tb = tris[bad]
        lo = 0.999 * saving(src[tb], disp[tb] * scale[tb][..., None], floor[bad])
        corners = src[tb]
        centre = (corners[:, 0] + corners[:, 1] + corners[:, 2]) / 3
        dx, dy = src[:, :1] - centre[None, :, 0], src[:, 1:] - centre[None, :, 1]
        ease = 1 - (1 - 0.9 * lo[None, :]) * np.exp(-0.5 * (dx * dx + dy * dy) / reach_px ** 2)
        scale *= ease.min(1)
    moved = disp * scale[:, None]
    scale *= 0.999 * float(saving(src[tris], moved[tris], floor).min())
    return disp * scale[:, None], float(scale.min())


def test_fold_limiter_rounds_are_numpys_bit_for_bit():
    from reenact.editors.rig.flow import limit_folds
    rng = np.random.default_rng(17)
    tris = crop_mesh(256).triangles
    rounds = 0
    for d in _faces(12, 23):
        # the rig's motions, and those made several times as strong so that many triangles fold, some past
        # every round
        for gain in (1.0, 4.0, 12.0):
            step = ((d.dst - d.src) * np.float32(gain)).astype(np.float32)
            reach = float(rng.uniform(5, 30))
            got, want = limit_folds(d.src, step, tris, reach), _numpy_limit_folds(d.src, step, tris, reach)
            assert got[0].tobytes() == want[0].tobytes() and got[1] == want[1]
            rounds += got[1] < 1
    assert rounds > 10


def test_fills_under_a_lift_are_numpys_bit_for_bit():
    from reenact.editors.rig.appearance import _planes, _under
    rng = np.random.default_rng(19)
    for trial in range(60):
        fill = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
        mask = np.zeros((64, 80), np.float32)
        # a fill or two somewhere in the crop, soft-edged, or none
        for _ in range(int(rng.integers(0, 3))):
            y, x = int(rng.integers(0, 56)), int(rng.integers(0, 72))
            mask[y:y + int(rng.integers(1, 9)), x:x + int(rng.integers(1, 9))] = rng.uniform(0.01, 1)
        x0, y0 = int(rng.integers(0, 20)) * 2, int(rng.integers(0, 16)) * 2
        h, w = int(rng.integers(2, (64 - y0) // 2 + 1)) * 2, int(rng.integers(2, (80 - x0) // 2 + 1)) * 2
        box = (x0, y0, x0 + w, y0 + h)
        for half in (True, False):
            size = (w // 2, h // 2) if half else None
            seen = rng.integers(0, 256, (h // 2, w // 2, 3) if half else (h, w, 3)).astype(np.uint8)
            m, f = mask[y0:y0 + h, x0:x0 + w], fill[y0:y0 + h, x0:x0 + w] * _planes(mask[y0:y0 + h, x0:x0 + w])
            if half:
                m, f = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) for a in (m, f))
            want = seen.astype(np.float32) * _planes(1 - m) + f
            got = _under(seen, (fill, mask), box, size)
            assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
