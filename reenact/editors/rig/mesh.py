"""The rig's fixed topology: MediaPipe's triangles, consistently oriented, plus a pinned ring on the crop border.

Everything here depends only on the mesh topology and the crop size, so it is built once and cached.
The eyes and the mouth are holes in MediaPipe's mesh and stay holes here: their interiors (eyeball, mouth
cavity) are layers behind the lids and lips, not skin to be stretched.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...stages.aligner import five_points, template
from ...config import AlignerConfig
from ...stages.geometry import canonical_mesh, similarity_fit
from ...stages.landmarks import FACE_OVAL, LEFT_EYE, LIPS_INNER, N_LANDMARKS, RIGHT_EYE, interocular, triangles

N_MESH = 468  # surface vertices; 468–477 are the irises, which are not part of the triangulation
# the background band that stretches over what an inward-moving face uncovers, as wide as this (IOD)
SKIRT_IOD = 0.3

# Hole contours split into facing upper/lower chains (same length, matched left to right in the image),
# so a closing lid or lip can be stopped where it meets the other one instead of crossing it.
RIGHT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_EYE_LOWER = (7, 163, 144, 145, 153, 154, 155)
LEFT_EYE_UPPER = (398, 384, 385, 386, 387, 388, 466)
LEFT_EYE_LOWER = (382, 381, 380, 374, 373, 390, 249)
LIPS_INNER_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
LIPS_INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)

# The lips as rows of landmarks from the seam outwards (corner to corner, image left to right): the inner
# edge, two rows across the red, the outer edge. A lip keeps its rows in order, so closing lips that meet
# press against each other instead of folding their red over the seam.
UPPER_LIP_ROWS = ((78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308), (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292),
                  (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306), (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291))
LOWER_LIP_ROWS = ((78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308), (62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292),
                  (76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306), (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291))

HOLES = {"mouth": LIPS_INNER, "right_eye": RIGHT_EYE, "left_eye": LEFT_EYE}
# each hole as (corner, upper chain, lower chain, corner), chains running from the first corner
HOLE_CHAINS = {
    "mouth": (78, LIPS_INNER_UPPER, LIPS_INNER_LOWER, 308),
    "right_eye": (33, RIGHT_EYE_UPPER, RIGHT_EYE_LOWER, 133),
    "left_eye": (362, LEFT_EYE_UPPER, LEFT_EYE_LOWER, 263),
}
CLOSING_PAIRS = tuple((up, low) for _, up, low, _ in HOLE_CHAINS.values())


def _edges(t) -> list[tuple[int, int]]:
    return [(min(t[i], t[(i + 1) % 3]), max(t[i], t[(i + 1) % 3])) for i in range(3)]


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """(852, 3) MediaPipe triangles, oriented consistently so front-facing ones have positive area (y down).

    `landmarks.triangles()` rebuilds faces from the edge list as 3-cliques, which also yields two false
    triangles (49-64-129, 279-294-358) whose every edge already borders two real faces; they are dropped.
    """
    tris = triangles()
    count: dict[tuple[int, int], int] = {}
    for t in tris:
        for e in _edges(t):
            count[e] = count.get(e, 0) + 1
    tris = np.array([t for t in tris if not all(count[e] > 2 for e in _edges(t))], np.int32)
    by_edge: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tris):
        for e in _edges(t):
            by_edge.setdefault(e, []).append(i)
    # propagate one orientation across the manifold: a shared edge runs opposite ways in its two faces
    done = np.zeros(len(tris), bool)
    done[0] = True
    queue = deque([0])
    while queue:
        t = tris[queue.popleft()]
        for k in range(3):
            a, b = t[k], t[(k + 1) % 3]
            for j in by_edge[(min(a, b), max(a, b))]:
                if not done[j]:
                    u = tris[j]
                    if any(u[m] == a and u[(m + 1) % 3] == b for m in range(3)):
                        tris[j] = u[[0, 2, 1]]
                    done[j] = True
                    queue.append(j)
    if signed_areas(canonical_mesh()[:, :2], tris).sum() < 0:
        tris = tris[:, [0, 2, 1]]
    tris.setflags(write=False)
    return tris


def signed_areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle; positive for a front-facing face in image coordinates."""
    a = pts[tris[:, 1]] - pts[tris[:, 0]]
    b = pts[tris[:, 2]] - pts[tris[:, 0]]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


@lru_cache(maxsize=4)
def hole_triangles(name: str) -> np.ndarray:
    """A strip of triangles spanning a hole between its upper and lower chains.

    Not part of the skin mesh: used only to carry a remembered interior (teeth, eyeball) across.
    """
    a, upper, lower, b = HOLE_CHAINS[name]
    tris = [(a, upper[0], lower[0])]
    for i in range(len(upper) - 1):
        tris += [(upper[i], upper[i + 1], lower[i + 1]), (upper[i], lower[i + 1], lower[i])]
    tris.append((upper[-1], b, lower[-1]))
    tris = np.array(tris, np.int32)
    # orient like the skin (positive when the hole is open on an upright face)
    flip = signed_areas(canonical_mesh()[:, :2] + _open_offsets(name), tris) < 0
    tris[flip] = tris[flip][:, [0, 2, 1]]
    tris.setflags(write=False)
    return tris


def _open_offsets(name: str) -> np.ndarray:
    _, upper, lower, _ = HOLE_CHAINS[name]
    off = np.zeros((len(canonical_mesh()), 2), np.float32)
    off[list(upper), 1] -= 0.05
    off[list(lower), 1] += 0.05
    return off


@dataclass(frozen=True)
class CropMesh:
    """Triangles over the whole crop: the face's, then the background from the face oval to a pinned border ring.

    Vertices: i < 478 is landmark i; then the ring (R fixed crop positions, never moving); then the face
    oval again as the background's own edge (O points, FACE_OVAL order), which moves only to fill what a
    face shrinking inwards uncovers; then the skirt (O points, `skirt()` outside that edge, pinned), so
    the background stretches only in a narrow band and is still beyond it. Where the face moves out it
    covers the background instead of pushing it.
    """

    size: int
    ring: np.ndarray        # (R, 2) float32 crop pixels
    triangles: np.ndarray   # (T, 3) int32, positive area when front-facing
    n_face: int             # triangles[:n_face] are the face's, the rest the background's


def outward_normals(oval: np.ndarray) -> np.ndarray:
    """Unit normals of a closed outline (FACE_OVAL order) pointing away from its centre."""
    tangent = np.concatenate([oval[1:], oval[:1]]) - np.concatenate([oval[-1:], oval[:-1]])
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], 1)
    # the norm written out: numpy's reductions over an axis of 2 cost several times the arithmetic
    normal /= np.maximum(np.sqrt(normal[:, 0] * normal[:, 0] + normal[:, 1] * normal[:, 1]), 1e-9)[:, None]
    # whichever way the outline runs
    # (np.add.reduce: np.sum and mean's Python layer costs more than these few points)
    return normal if np.add.reduce(normal * (oval - np.add.reduce(oval) / len(oval)), None) >= 0 else -normal


# FACE_OVAL as an index array, made once (numpy converts a list on every indexing)
_OVAL = np.array(FACE_OVAL, np.intp)


def skirt(oval: np.ndarray, width: float, normals: np.ndarray | None = None) -> np.ndarray:
    """Points `width` outside a closed outline, along its outward normals (`normals`, where the caller has them)."""
    return (oval + width * (outward_normals(oval) if normals is None else normals)).astype(np.float32)


def crop_vertices(points: np.ndarray, size: int, normals: np.ndarray | None = None) -> np.ndarray:
    """(478, 2+) landmarks → (V, 2) vertices in `CropMesh`'s order: the landmarks, the pinned border ring,
    the face oval again as the background's edge, and the skirt outside it (`normals`: the oval's
    outward_normals, where the caller has them)."""
    pts = points[:, :2].astype(np.float32)
    oval = pts[_OVAL]
    return np.concatenate([pts, crop_mesh(size).ring, oval, skirt(oval, SKIRT_IOD * interocular(pts), normals)])


def _zip_loops(inner: np.ndarray, outer: np.ndarray, n_inner: int, center: np.ndarray) -> list[tuple]:
    """Triangulate the band between two star-shaped loops by merging their points in angle order."""
    def order(pts):
        ang = np.arctan2(pts[:, 1] - center[1], pts[:, 0] - center[0])
        k = np.argsort(ang)
        return k, ang[k]

    ki, ai = order(inner)
    ko, ao = order(outer)
    tris = []
    i = o = 0
    ni, no = len(ki), len(ko)
    while i < ni or o < no:
        a_i = ai[(i + 1) % ni] + (2 * np.pi if i + 1 >= ni else 0)
        a_o = ao[(o + 1) % no] + (2 * np.pi if o + 1 >= no else 0)
        vi, vo = int(ki[i % ni]), n_inner + int(ko[o % no])
        if o >= no or (i < ni and a_i <= a_o):
            tris.append((vi, int(ki[(i + 1) % ni]), vo))
            i += 1
        else:
            tris.append((vi, n_inner + int(ko[(o + 1) % no]), vo))
            o += 1
    return tris


@lru_cache(maxsize=4)
def rest_points(size: int) -> np.ndarray:
    """(478, 2) float32: the canonical mesh where the aligner puts an average neutral face in a size² crop."""
    canon = canonical_mesh()
    s, r, t = similarity_fit(five_points(canon), template(AlignerConfig(size=size)))
    tmpl = (s * canon[:, :2] @ r.T + t).astype(np.float32)
    tmpl.setflags(write=False)
    return tmpl


@lru_cache(maxsize=4)
def crop_mesh(size: int, per_side: int = 8) -> CropMesh:
    tmpl = rest_points(size)
    # ring just outside the pixel centres, so every pixel lies inside some triangle
    lo, hi = -1.0, float(size)
    side = np.linspace(lo, hi, per_side + 1)
    edge = [np.stack([side, np.full_like(side, v)], 1) for v in (lo, hi)]
    ring = np.unique(np.concatenate(edge + [e[:, ::-1] for e in edge]), axis=0).astype(np.float32)
    oval = tmpl[list(FACE_OVAL)]
    n = len(oval)
    outer = skirt(oval, SKIRT_IOD * interocular(tmpl))
    first_edge = N_LANDMARKS + len(ring)
    # edge → skirt: one quad per outline segment; skirt → ring: the two loops zipped in angle order
    k = np.arange(n)
    quads = np.concatenate([np.stack([k, (k + 1) % n, n + (k + 1) % n], 1), np.stack([k, n + (k + 1) % n, n + k], 1)])
    outside = _zip_loops(outer, ring, n, oval.mean(0))
    # band indices: < n → edge position, [n, 2n) → skirt position (quads), zip: < n → skirt, else ring
    band = np.concatenate([first_edge + quads,
                           np.where(np.array(outside) < n, first_edge + n + np.array(outside),
                                    N_LANDMARKS + np.array(outside) - n)])
    pts = np.concatenate([tmpl, ring, oval, outer])
    band = np.where((signed_areas(pts, band) < 0)[:, None], band[:, [0, 2, 1]], band)
    face = face_triangles()
    tris = np.concatenate([face, band]).astype(np.int32)
    for a in (ring, tris):
        a.setflags(write=False)
    return CropMesh(size=size, ring=ring, triangles=tris, n_face=len(face))
