"""Named index sets into MediaPipe's 478-point face mesh (468 surface points + 10 iris points).

"Right"/"left" are the subject's own sides, as in FACS: the subject's right eye is on the image's left.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

N_LANDMARKS = 478

RIGHT_EYE_CORNERS = (33, 133)    # outer, inner
LEFT_EYE_CORNERS = (263, 362)
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)        # right, left
RIGHT_IRIS = tuple(range(468, 473))
LEFT_IRIS = tuple(range(473, 478))

# Inner-lip midpoints, upper and lower
INNER_LIPS = (13, 14)

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_BROW = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)

# Points that barely move with expression: forehead, nose bridge, eye corners, cheekbones.
# Head pose and the canonical frame are fitted to these alone, so a smile cannot read as a head turn.
RIGID = (
    10, 151, 9, 8, 168, 6, 197, 195, 5, 4,          # midline forehead → nose
    33, 133, 263, 362,                              # eye corners
    127, 356, 234, 454, 93, 323,                    # temples and cheekbones
    109, 338, 67, 297, 103, 332,                    # upper forehead
    98, 327, 64, 294,                               # nose wings' base
)

# iBUG 68-point order; pairs are averaged. Correspondence after Peizhi Yan's Mediapipe_2_Dlib_Landmarks.
IBUG68 = (
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,),
    (400,), (379,), (365,), (397, 288), (361,), (323,), (454,), (356,),
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (405,), (314,), (17,), (84,), (181,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)


def to_ibug68(landmarks: np.ndarray) -> np.ndarray:
    """(478, D) mesh → (68, D) iBUG points."""
    return np.stack([landmarks[list(ix)].mean(0) for ix in IBUG68])


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """MediaPipe's fixed mesh triangulation as (T, 3) vertex indices, derived once from its edge list."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    adj: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = set()
    for a, b in FACEMESH_TESSELATION:
        for c in adj[a] & adj[b]:
            tris.add(tuple(sorted((a, b, c))))
    return np.array(sorted(tris), dtype=np.int32)


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of the eye corners (right, left): stable under gaze, unlike the irises."""
    r = landmarks[list(RIGHT_EYE_CORNERS)].mean(0)
    l = landmarks[list(LEFT_EYE_CORNERS)].mean(0)
    return r, l


def interocular(landmarks: np.ndarray) -> float:
    # eye_centers and np.linalg.norm written out: the same arithmetic at a fifth of the cost (editors call
    # this many times a frame)
    (r0, r1), (l0, l1) = RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS
    d = (landmarks[l0, :2] + landmarks[l1, :2]) / 2 - (landmarks[r0, :2] + landmarks[r1, :2]) / 2
    return float(np.sqrt(d.dot(d)))
