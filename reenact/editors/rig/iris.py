"""Where an eye's iris is: MediaPipe's where the source shows the eye open, else where an eye looking along the
head's direction has it. Crop landmarks (x, y, z: the head's pose places the cornea)."""
from __future__ import annotations

import numpy as np

from ...stages.geometry import canonical_mesh, to_canonical
from ...stages.landmarks import LEFT_IRIS, RIGHT_IRIS
from .fills import length
from .mesh import HOLE_CHAINS

# an eye looking straight ahead, as a share of its width (corner to corner) on the 18 open-eyed shared and dev
# faces (MediaPipe's iris): the iris radius 0.21 (0.20-0.22 on frontal faces; an adult iris ≈ 11.7 mm across an
# eye ≈ 28 mm wide) and its centre 0.07 above the corners' midpoint (0.055-0.09), so a resting upper lid (0.17-0.26
# above) covers its top and the lower lid (0.04-0.14 below) its bottom edge
IRIS_WIDTH_SHARE = 0.21
IRIS_RAISE_SHARE = 0.07
# a source eye open less than this share of its eye's width at the centre shows lid and lashes, not an
# eyeball, and MediaPipe only guesses its iris (open eyes 0.25-0.45; talking_man.mp4's blink at frame 45 0.01-0.12)
SEEN_OPEN_SHARE = 0.17
_IRIS = {"right_eye": RIGHT_IRIS, "left_eye": LEFT_IRIS}


def opening(pts: np.ndarray, name: str) -> tuple[float, float]:
    """(gap between the lid margins at the middle, the eye's width) in the points' units."""
    a, upper, lower, b = HOLE_CHAINS[name]
    gap = float(pts[lower[len(lower) // 2], 1] - pts[upper[len(upper) // 2], 1])
    return gap, float(length(pts[a, :2] - pts[b, :2]))


def unseen(pts: np.ndarray, name: str) -> bool:
    """Whether the source shows this eye closed or nearly: nothing in its slit is eyeball."""
    gap, width = opening(pts, name)
    return gap < SEEN_OPEN_SHARE * width


def iris(pts: np.ndarray, name: str) -> tuple[np.ndarray, float]:
    """(centre (2,), radius) of this eye's iris from crop landmarks (478, 3): MediaPipe's where the source shows
    the eye, else an eye looking along the head's direction (see IRIS_WIDTH_SHARE), sized by the wider of the two
    eyes (a turned head narrows the far eye, not its iris)."""
    if not unseen(pts, name):
        ids = _IRIS[name]
        c = pts[ids[0], :2].astype(np.float64)
        # the ring's four points follow the centre: a slice, and np.linalg.norm's own arithmetic without its
        # Python layer (several times the arithmetic, twice an edit)
        ring = pts[ids[1]:ids[-1] + 1, :2] - c
        return c, float(np.sqrt((ring * ring).sum(1)).mean())
    a, _, _, b = HOLE_CHAINS[name]
    pa, pb = pts[a, :2].astype(np.float64), pts[b, :2].astype(np.float64)
    width = max(opening(pts, n)[1] for n in ("right_eye", "left_eye"))
    along = (pb - pa) / max(float(length(pb - pa)), 1e-6)
    up = np.array([along[1], -along[0]]) * (1 if along[0] >= 0 else -1)     # towards the brow (y up is −)
    # the cornea stands in front of the corners: where the head turns, an eye looking its way has the iris that
    # far along the eye towards the turn (the population's forward-looking iris carried by this head's pose:
    # 0.07-0.09 of the eye's width on heads turned 21-27°); its height stays level with the corners, as an eye
    # looking at the camera has it (carried by the pitch too, a lowered head's eyes looked down and away)
    canon, r, s, t = to_canonical(pts)
    ref = canonical_mesh()
    ids = _IRIS[name]
    share = np.linalg.norm(canon[a] - canon[b]) / np.linalg.norm(ref[a] - ref[b])
    front = 0.5 * (canon[a] + canon[b]) + share * (ref[ids[0]] - 0.5 * (ref[a] + ref[b]))
    turn = float((((front - t) @ r / s)[:2] - 0.5 * (pa + pb)) @ along)
    return 0.5 * (pa + pb) + IRIS_RAISE_SHARE * width * up + turn * along, IRIS_WIDTH_SHARE * width
