"""The canonical, pose-free face frame: similarity fits, head pose and the population-average mesh.

The canonical mesh (configs/canonical_mesh.npy) is the Procrustes mean of real neutral faces, built by
tools/build_canonical_mesh.py, with unit inter-ocular distance, x to the image right, y down.
"""
from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np

from ..config import config_path, read_yaml
from ..files import read_verified
from .landmarks import RIGID, eye_centers
from ..pipeline.types import HeadPose


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama least squares: scale s, rotation R, translation t with dst ≈ s·R·src + t (no reflection)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    # np.mean's own arithmetic (the sum, then the division) without its Python layer: fits run every frame
    mu_s, mu_d = src.sum(0) / len(src), dst.sum(0) / len(dst)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    e = np.ones(len(d))
    # u and vt are orthogonal (det ±1): only the sign of the product counts, which _handedness gives without
    # LAPACK's set-up
    if _handedness(u) * _handedness(vt) < 0:
        e[-1] = -1
    r = (u * e) @ vt    # u @ diag(e) @ vt: a column times ±1 is exact
    var = (a ** 2).sum() / len(src)
    s = float((d * e).sum() / var) if var > 0 else 1.0
    t = mu_d - s * r @ mu_s
    return s, r, t


def _handedness(m: np.ndarray) -> float:
    """The sign (±1) of an orthogonal matrix's determinant; np.linalg.det for other than 2 × 2 or 3 × 3."""
    if m.shape == (3, 3):
        (a, b, c), (d, e, f), (g, h, i) = m.tolist()
        return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if m.shape == (2, 2):
        (a, b), (c, d) = m.tolist()
        return a * d - b * c
    return float(np.linalg.det(m))


@lru_cache(maxsize=1)
def canonical_mesh() -> np.ndarray:
    """(478, 3) float32 population-neutral mesh, hash-checked against configs/assets.yaml."""
    want = read_yaml("assets.yaml")["canonical_mesh.npy"]["sha256"]
    data = read_verified(config_path("canonical_mesh.npy"), want, "rebuild with tools/build_canonical_mesh.py")
    mesh = np.load(io.BytesIO(data), allow_pickle=False)
    mesh.setflags(write=False)
    return mesh


# RIGID as an index array, made once (numpy converts a list on every indexing)
_RIGID = np.array(RIGID, np.intp)


def to_canonical(landmarks: np.ndarray, reference: np.ndarray | None = None):
    """Remove rotation, translation and scale: fit the rigid points onto the canonical mesh.

    Returns (points in the canonical frame, R, s, t) where canonical ≈ s·R·landmarks + t.
    """
    ref = canonical_mesh() if reference is None else reference
    idx = _RIGID
    s, r, t = similarity_fit(landmarks[idx], ref[idx])
    out = (s * (np.asarray(landmarks, np.float64) @ r.T) + t).astype(np.float32)
    return out, r, s, t


def pose_from_rotation(r_canon_from_face: np.ndarray) -> HeadPose:
    """Euler angles (degrees) of the head relative to the frontal canonical face.

    yaw > 0: the face turns towards the image's right; pitch > 0: chin up; roll > 0: clockwise in the image.
    """
    r = np.asarray(r_canon_from_face).T  # canonical → observed head
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
    pitch = math.degrees(math.atan2(r[2, 1], r[2, 2]))
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return HeadPose(yaw=yaw, pitch=-pitch, roll=roll)


def frontalize(mesh: np.ndarray) -> np.ndarray:
    """Rotate a mean mesh so the eye line is +x and the forehead→chin line is +y, unit inter-ocular."""
    mesh = mesh - mesh[list(RIGID)].mean(0)
    r_eye, l_eye = eye_centers(mesh)
    x = l_eye - r_eye
    x /= np.linalg.norm(x)
    y = mesh[152] - mesh[10]
    y -= x * (y @ x)
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    out = mesh @ np.stack([x, y, z]).T
    r_eye, l_eye = eye_centers(out)
    return (out / np.linalg.norm(l_eye - r_eye)).astype(np.float32)
