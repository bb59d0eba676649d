"""Heads in 3D: the rig moves a turned face like a head, with a depth test, and covers what lies behind it.

There is no semi-profile photo in the shared media, so a turned face is made on the mesh level: a real
face's mesh is turned about its own vertical axis in the canonical frame (with its depth) and aligned the
way the aligner aligns a crop. Its landmarks are what MediaPipe would report for that head.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from reenact import api
from reenact.config import load_config
from reenact.editors.rig.basis import load_basis
from reenact.editors.rig.deform import dense_flow, deform
from reenact.editors.rig.flow import jacobian_det, rasterize_flow
from reenact.editors.rig.mesh import SKIRT_IOD, crop_mesh, outward_normals, signed_areas
from reenact.editors.rig.silhouette import EDGE_JUMP_PX
from reenact.editors.rig.solve import coefficients
from reenact.pipeline.types import AU_INDEX, Frame, Packet
from reenact.stages.aligner import Aligner
from reenact.stages.geometry import to_canonical
from reenact.stages.landmarks import FACE_OVAL, LIPS_OUTER, interocular
from reenact.stages.targets import presets

from conftest import load_rgb
from test_rig import face

SIZE = 256


def turned(landmarks: np.ndarray, yaw: float) -> np.ndarray:
    """Crop landmarks of the same head turned by `yaw` degrees about its own vertical axis."""
    canon, r, s, t = to_canonical(landmarks)
    a = math.radians(yaw)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    image = ((canon.astype(np.float64) @ ry.T) - t) @ r / s + (SIZE / 2, SIZE / 2, 0)
    return Aligner().align(np.zeros((2 * SIZE, 2 * SIZE, 3), np.uint8), image.astype(np.float32)).landmarks


def jaw_drop(amount: float = 3.0) -> np.ndarray:
    c = np.zeros(17)
    c[AU_INDEX["AU26"]] = amount
    return c


def preset_deformation(landmarks: np.ndarray, source, preset: str):
    target = presets()[preset]
    right, left = coefficients(source, target.resolve(source), load_basis(), target.side)
    return deform(landmarks, right, left, load_basis(), SIZE)


def depth_map(pts: np.ndarray, depth: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Per-pixel depth of `tris` at `pts` (NaN where none): the rasteriser's flow with the source moved
    sideways by each vertex's depth is that depth, interpolated the same way."""
    out = np.full((2, SIZE, SIZE), np.nan, np.float32)
    z = depth[tris]
    pts = pts[:len(depth)]
    rasterize_flow(out, pts + np.stack([depth, np.zeros_like(depth)], 1), pts, tris, z)
    return out[0]


def face_area(pts: np.ndarray) -> np.ndarray:
    """(S, S) uint8, 1 where any face triangle at `pts` lies."""
    mesh = crop_mesh(SIZE)
    out = np.zeros((SIZE, SIZE), np.uint8)
    for tri in mesh.triangles[:mesh.n_face]:
        cv2.fillConvexPoly(out, np.round(pts[tri] * 16).astype(np.int32), 1, shift=4)
    return out


def test_the_z_buffer_keeps_the_nearer_triangle_whatever_the_order():
    src = np.array([[10, 10], [50, 10], [10, 50], [12, 12], [52, 12], [12, 52]], np.float32)
    dst = src.copy()
    dst[3:] += 3.0  # the second triangle shows its source 3 px up-left, the first does not move
    tris = np.array([[0, 1, 2], [3, 4, 5]])
    for order, depth in (([0, 1], [1.0, 2.0]), ([1, 0], [2.0, 1.0])):
        flow = np.zeros((2, 64, 64), np.float32)
        rasterize_flow(flow, src, dst, tris[order], np.array(depth)[:, None].repeat(3, 1))
        assert np.allclose(flow[:, 20, 20], 0.0)  # both cover it: the nearer (still) one wins
        assert np.allclose(flow[:, 25, 40], -3.0)  # only the second covers it


@pytest.mark.parametrize("name", ["portrait_man.jpg", "astronaut.png"])
@pytest.mark.parametrize("yaw", [0, 35, -35])
def test_the_jaw_drops_along_the_faces_own_axis(name, yaw):
    """The chin moves as the head's jaw would: down and back in the head's frame, so on a face turned
    by 35° it also moves sideways in the image, away from where the nose points."""
    _, lm, _ = face(name)
    pts = turned(lm, yaw)
    d = deform(pts, jaw_drop(), jaw_drop(), load_basis(), SIZE)
    step = d.dst[152] - d.src[152]
    # the jaw's own motion at the chin, seen through this head's pose
    _, r, s, _ = to_canonical(pts)
    seen = (load_basis().displacement(jaw_drop(), jaw_drop())[152] @ r / s)[:2]
    cos = step @ seen / (np.linalg.norm(step) * np.linalg.norm(seen))
    assert cos > math.cos(math.radians(5))
    sideways = math.degrees(math.atan2(abs(step[0]), step[1]))
    if yaw == 0:
        assert sideways < 10
    else:
        assert sideways > 25
        # the chin swings back, away from the side the face is turned to
        assert np.sign(step[0]) == -np.sign(pts[4, 0] - pts[list(FACE_OVAL), 0].mean())


def front_facing(d) -> np.ndarray:
    mesh = crop_mesh(SIZE)
    skin = mesh.triangles[:mesh.n_face]
    return skin[(signed_areas(d.src, skin) > 0) & (signed_areas(d.dst, skin) > 0)]


@pytest.mark.parametrize("yaw", [35, 45, -35, -45])
@pytest.mark.parametrize("preset", ["happy", "surprise", "disgust"])
def test_what_the_far_side_hides_stays_hidden(yaw, preset):
    """On a turned face, wherever front-facing skin covers a pixel the flow is that of the nearest such
    skin, moved or still: neither the far side's back-facing triangles nor the background overwrite it."""
    _, lm, source = face("astronaut.png")
    d = preset_deformation(turned(lm, yaw), source, preset)
    flow, holes, _ = dense_flow(d, SIZE)
    front = front_facing(d)
    assert len(front) < crop_mesh(SIZE).n_face - 40  # a turned face has a far side
    expected = np.full((2, SIZE, SIZE), np.nan, np.float32)
    rasterize_flow(expected, d.src, d.dst, front, d.depth[front])
    covered = ~np.isnan(expected[0])
    for h in holes:  # the eyes' and mouth's layers have flows of their own
        x0, y0, x1, y1 = h.box
        covered[y0:y1, x0:x1] &= ~cv2.dilate(h.inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert np.abs(flow - expected)[:, covered].max() < 1e-3


@pytest.mark.parametrize("yaw", [35, 45, -35, -45])
def test_still_skin_hides_moved_skin_behind_it(yaw):
    """`happy` moves the far cheek, which on a turned face lies behind the nose: the nose did not move, so
    where it is nearer the flow stays zero (a painter's order of moved triangles alone would draw the
    cheek over it)."""
    _, lm, source = face("astronaut.png")
    d = preset_deformation(turned(lm, yaw), source, "happy")
    flow, _, _ = dense_flow(d, SIZE)
    front = front_facing(d)
    moved = np.any(d.dst[front] != d.src[front], axis=(1, 2))
    z_moved = depth_map(d.dst, d.depth, front[moved])
    z_still = depth_map(d.dst, d.depth, front[~moved])
    hidden = z_still < z_moved - 0.5
    assert hidden.sum() > 10
    assert np.abs(flow[:, hidden]).max() < 1e-3


@pytest.mark.parametrize("yaw", [0, 35, -35])
@pytest.mark.parametrize("preset", ["surprise", "happy", "neutral"])
def test_the_background_stays_put_beside_a_turned_face(yaw, preset):
    """Only the face and a narrow band just outside its old or new outline (where the face shrinks
    inwards, the background stretches over what it uncovered) move; beyond that the flow is zero. Where
    the outline moves out (a dropped chin), the background is covered, never pushed: it keeps zero flow
    right up to the face."""
    _, lm, source = face("portrait_man.jpg")
    pts = turned(lm, yaw)
    d = preset_deformation(pts, source, preset)
    flow, _, _ = dense_flow(d, SIZE)
    # a turned face's far cheek bulges past its (hidden) outline landmarks: the face is all its triangles
    old, new = face_area(d.src), face_area(d.dst)
    reach = int(math.ceil(SKIRT_IOD * interocular(pts))) + 2
    near = cv2.dilate(old | new, np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool)
    assert np.abs(flow[:, ~near]).max() == 0
    # beside each stretch of outline that moved out, the background keeps still up to the face
    oval = np.array(FACE_OVAL)
    step = d.dst[oval] - d.src[oval]
    out = (step * outward_normals(d.src[oval])).sum(1) > 0.5
    runs = np.flatnonzero(out & np.roll(out, -1))
    if preset == "surprise":
        assert np.isin(FACE_OVAL.index(152), runs)  # the chin did move out
    beside = np.zeros((SIZE, SIZE), np.uint8)
    for i in runs:
        mid = 0.5 * (d.dst[oval[i]] + d.dst[oval[(i + 1) % len(oval)]])
        cv2.circle(beside, tuple(np.round(mid).astype(int)), reach // 2, 1, -1)
    beside &= 1 - cv2.dilate(new, np.ones((3, 3), np.uint8))
    assert np.abs(flow[:, beside.astype(bool)]).max(initial=0) == 0


def test_a_dropped_chin_covers_the_collar_in_full():
    """astronaut.png, surprise: where the chin moves down over the neck and collar the output is the
    moved chin at full weight (no ghost of the collar through it), and past it the frame is untouched."""
    img = load_rgb("astronaut.png")
    cfg = api.with_edit(load_config(), editor="rig", target="surprise")
    with api.build_pipeline(cfg, static=True) as pipe:
        packet = pipe.process(Packet(Frame(img, 0)))
    sample = packet.faces[0]
    comp = pipe.stages[-1]
    weight = comp.weight(sample.aligned.landmarks, SIZE, sample.edit)
    flow = sample.edit.warp.flow
    x, y0 = np.round(sample.aligned.landmarks[152, :2]).astype(int)
    # the moved chin along its midline: the first row below the old chin whose flow no longer reaches up
    moved = y0 + int(np.argmax(flow[1, y0:, x] > -0.5))
    assert moved > y0 + 5
    assert weight[y0:moved - 1, x].min() > 0.99
    # past the moved chin (and the soft rim on it) nothing changes
    out = packet.output
    to_image = sample.aligned.to_image
    below = np.array([x, moved + 4, 1.0]) @ to_image.T
    bx, by = np.round(below).astype(int)
    assert np.array_equal(out[by:by + 20, bx - 10:bx + 10], img[by:by + 20, bx - 10:bx + 10])
    above = np.round(np.array([x, moved - 4, 1.0]) @ to_image.T).astype(int)
    assert np.any(out[above[1], above[0]] != img[above[1], above[0]])


@pytest.mark.parametrize("yaw", [35, -35])
@pytest.mark.parametrize("preset", ["fear", "anger"])
def test_a_turned_face_keeps_the_mouths_edit_without_a_visible_fold(yaw, preset):
    """Fear's sideways corner pull and anger's open mouth fold the skin along a turned face's far-side
    silhouette; that skin turns behind the nearer skin, which the depth test shows, so the fold limiter
    leaves it be: the lips move as far as on the same face frontal (it eased them to 0.45-0.79 of that
    around the far jaw), and the front-facing skin the output shows still has no fold (det > 0 off the
    layers' and the silhouette's edges)."""
    _, lm, source = face("portrait_man.jpg")
    lips = list(LIPS_OUTER)

    def lip_motion(d):
        return np.linalg.norm(d.dst[lips] - d.src[lips], axis=1).mean()

    d = preset_deformation(turned(lm, yaw), source, preset)
    assert lip_motion(d) > 0.9 * lip_motion(preset_deformation(turned(lm, 0), source, preset))
    flow, holes, _ = dense_flow(d, SIZE)
    skin = face_area(d.dst).astype(bool) & ~np.isnan(depth_map(d.dst, d.depth, front_facing(d)))
    edges = np.zeros((SIZE, SIZE), np.uint8)
    for h in holes:
        x0, y0, x1, y1 = h.box
        edges[y0:y1, x0:x1] |= h.inside.astype(np.uint8)
    edges[:, 1:] |= np.abs(np.diff(flow, axis=2)).max(0) > EDGE_JUMP_PX
    edges[1:] |= np.abs(np.diff(flow, axis=1)).max(0) > EDGE_JUMP_PX
    skin &= cv2.dilate(edges, np.ones((5, 5), np.uint8)) == 0
    skin &= cv2.erode(face_area(d.dst), np.ones((5, 5), np.uint8)).astype(bool)
    assert skin.sum() > 5000
    assert jacobian_det(flow)[skin].min() > 0


@pytest.mark.parametrize("name", ["portrait_man.jpg", "astronaut.png"])
@pytest.mark.parametrize("yaw", [30, -30])
def test_a_turned_faces_jaw_drops_in_full(name, yaw):
    """Surprise's dropped jaw swings sideways on a turned face; the background's edge stretches across the
    outline to fill what the face uncovers, never along it, so its band does not fold and the fold limiter
    leaves the edit whole (following the outline's whole motion, the band by the far jaw folded and the edit
    was eased to 0.16-0.43 of itself)."""
    _, lm, source = face(name)
    d = preset_deformation(turned(lm, yaw), source, "surprise")
    assert d.scale == 1.0
    first = len(lm) + len(crop_mesh(SIZE).ring)
    edge = np.arange(first, first + len(FACE_OVAL))
    step = d.dst[edge] - d.src[edge]
    n = outward_normals(d.src[edge])
    assert np.abs(step[:, 0] * n[:, 1] - step[:, 1] * n[:, 0]).max() < 1e-3
    assert (step * n).sum(1).max() <= 1e-3 and np.abs(step).max() > 1.0


@pytest.mark.parametrize("yaw", [30, -30])
def test_a_turned_faces_far_side_moves_foreshortened(yaw):
    """Skin slides over the face, not in a plane: a lip stretch (AU20) carries both corners out over the dental
    arch, which turns away from the camera towards the cheeks, so on a face turned 30° the far corner shows
    under 0.6 of the near one's motion, as a head's would (0.82-0.85 while the fields stayed in the frontal
    plane); on the face as photographed the two move alike."""
    _, lm, _ = face("astronaut.png")
    change = np.zeros(17)
    change[AU_INDEX["AU20"]] = 3.0

    def corners(pts):
        d = deform(pts, change, change, load_basis(), SIZE)
        return np.linalg.norm(d.dst[[61, 291]] - d.src[[61, 291]], axis=1)

    pts = turned(lm, yaw)
    far = int(pts[291, 2] > pts[61, 2])   # depth: bigger is farther
    moved = corners(pts)
    assert moved[far] < 0.6 * moved[1 - far]
    front = corners(turned(lm, 0))
    assert abs(front[0] - front[1]) < 0.1 * front.max()


def rotation(yaw: float, pitch: float = 0.0) -> np.ndarray:
    """to_canonical's R for a head turned by `yaw` and tilted by `pitch` degrees."""
    a, b = math.radians(yaw), math.radians(pitch)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return ry @ rx


def test_a_face_counts_as_turned_past_about_15_degrees_and_smoothly():
    """The head's 3D motion comes with how far a face is turned sideways: none on the shared faces (yaw 1-9°;
    jesper.jpg, tilted 26°, included: a tilt's silhouette is the chin's underside), all on the turned ones
    (the dev faces at 18-36°), and in between it grows smoothly, so a video whose head turns shows no jump."""
    from reenact.editors.rig.deform import turned as turn_share

    assert turn_share(rotation(0)) == 0 and turn_share(rotation(9)) == 0 and turn_share(rotation(-9, -26)) == 0
    assert turn_share(rotation(17)) == 1 and turn_share(rotation(-17)) == 1 and turn_share(rotation(25, -20)) == 1
    # continuous: eased over 6°, a tenth of a degree moves it at most 2.5 %
    shares = np.array([turn_share(rotation(a)) for a in np.arange(0, 40, 0.1)])
    assert np.all(np.diff(shares) >= 0) and np.diff(shares).max() < 0.03


@pytest.mark.parametrize("preset", ["surprise", "sad"])
def test_a_frontal_face_moves_as_written(preset):
    """On a frontal face the moves keep their written depth (the slide over the surface only changed what
    the depth test and the slight turn showed, and cost takeo.ppm's fear its read), the fold limiter still
    judges the skin along the chin's silhouette (with it left to the depth test takeo's surprise dropped its
    jaw, dlib identity 0.32 -> 0.37) and the background's edge follows the outline's whole inward motion:
    the edit is the one before the head's 3D motion came."""
    from dataclasses import replace

    _, lm, source = face("portrait_man.jpg")
    target = presets()[preset]
    basis = load_basis()
    right, left = coefficients(source, target.resolve(source), basis, target.side)
    d = deform(lm, right, left, basis, SIZE)
    flat = deform(lm, right, left, replace(basis, slide=()), SIZE)
    assert np.array_equal(d.dst, flat.dst) and np.array_equal(d.depth, flat.depth)
    first = len(lm) + len(crop_mesh(SIZE).ring)
    edge = np.arange(first, first + len(FACE_OVAL))
    step = d.dst[edge] - d.src[edge]
    if preset == "surprise":
        # the limiter eases the jaw around the folding chin's underside (0.6; 1 once left to the depth test)
        assert d.scale < 0.8
    else:
        # sad's cheeks narrow the outline: the edge moves with it, along the outline too
        n = outward_normals(d.src[edge])
        assert np.abs(step[:, 0] * n[:, 1] - step[:, 1] * n[:, 0]).max() > 0.5


def test_a_head_turning_into_the_3d_motion_moves_smoothly():
    """A face turning from 9° to 17° of yaw (a video's head turning) passes from the frontal edit to the
    turned one without a jump: each quarter degree moves surprise's points under 2 px (the limiter's triangle
    set growing with the turn jumped its scale 0.7 -> 0.28 -> 1, the jaw 9 px, on a 30th of the blend)."""
    _, lm, source = face("astronaut.png")
    prev = None
    for yaw in np.arange(9.0, 17.01, 0.25):
        d = preset_deformation(turned(lm, yaw), source, "surprise")
        if prev is not None:
            assert np.abs(d.dst[:len(lm)] - prev).max() < 2.0, f"{yaw}°"
        prev = d.dst[:len(lm)]
