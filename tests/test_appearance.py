"""The rig's appearance layer (creases, bulges, folds per AU) on real faces from ../shared/media."""
from __future__ import annotations

import dataclasses
import shutil
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact import api
from reenact.config import CONFIG_DIR, load_config
from reenact.editors import EditRequest, create_editor
from reenact.editors.rig.appearance import Appearance, PatternConfig, apply_shading, load_appearance
from reenact.editors.rig.basis import load_basis
from reenact.editors.rig.deform import deform
from reenact.editors.rig.solve import coefficients, smile_share
from reenact.errors import ConfigError
from reenact.pipeline.types import AU_INDEX, AUVector, Frame, Packet
from reenact.stages.aligner import Aligner
from reenact.stages.au import load_model
from reenact.stages.landmarks import LIPS_OUTER, MOUTH_CORNERS, interocular
from reenact.stages.targets import presets
from reenact.stages.tracker import FaceTracker

from conftest import load_rgb


@lru_cache(maxsize=None)
def face(name: str):
    """(aligned crop, crop landmarks) of a shared face."""
    tracker = FaceTracker(static=True)
    image = load_rgb(name)
    a = Aligner().align(image, tracker.detect(image)[0])
    tracker.close()
    return a.crop, a.landmarks


@lru_cache(maxsize=1)
def appearance() -> Appearance:
    return Appearance()


def delta(**aus: float) -> np.ndarray:
    d = np.zeros(len(AU_INDEX), np.float32)
    for k, v in aus.items():
        d[AU_INDEX[k]] = v
    return d


def shade_still(name: str, d: np.ndarray, right: np.ndarray | None = None):
    """The shading alone (no motion) for per-side AU changes on a face: the ratio image, 1 where none."""
    crop, lm = face(name)
    zero = np.zeros_like(d)
    still = deform(lm, zero, zero, load_basis(), crop.shape[0])
    s = appearance().shading(crop, still, np.zeros((2,) + crop.shape[:2], np.float32), None,
                             d if right is None else right, d)
    return np.ones(crop.shape, np.float32) if s is None else s.image


def near(name: str, ids, radius_iod: float) -> np.ndarray:
    """Crop pixels within radius (IOD) of any of the landmarks."""
    crop, lm = face(name)
    m = np.zeros(crop.shape[:2], np.uint8)
    r = max(1, int(round(radius_iod * interocular(lm))))
    for i in ids:
        cv2.circle(m, (int(round(lm[i, 0])), int(round(lm[i, 1]))), r, 1, -1)
    return m.astype(bool)


GLABELLA = (9, 8, 168)
CHEEKS = (205, 425, 50, 280)
NASOLABIAL = (206, 216, 426, 436)


def test_a_zero_change_shades_nothing():
    crop, _ = face("astronaut.png")
    assert np.array_equal(shade_still("astronaut.png", delta()), np.ones(crop.shape, np.float32))
    # AUs that no pattern follows (speech) shade nothing either
    assert np.array_equal(shade_still("astronaut.png", delta(AU25=3, AU26=2)), np.ones(crop.shape, np.float32))


@pytest.mark.parametrize("name", ["astronaut.png", "portrait_man.jpg"])
def test_au4_darkens_between_the_brows_and_not_the_cheeks(name):
    shade = shade_still(name, delta(AU04=3))
    grey = shade[..., 1]
    assert grey[near(name, GLABELLA, 0.12)].mean() < 0.97
    assert grey[near(name, GLABELLA, 0.12)].min() < 0.85
    assert np.all(shade[near(name, CHEEKS, 0.15)] == 1)


@pytest.mark.parametrize("name", ["astronaut.png", "portrait_man.jpg"])
def test_au9_creases_the_nose_bridge_in_distinct_folds_that_stay_on_the_nose(name):
    """AU9's wrinkles read as a few creases, not a blotch: down the bridge's midline (landmark 168 to 197) at
    least two valleys darker than 0.85 with skin back to 0.95 between them; and they end on the nose (drawn
    out to the eye corners they read as bars across the face): the skin by the inner eye corners keeps 0.99."""
    crop, lm = face(name)
    grey = shade_still(name, delta(AU09=5))[..., 1]
    x = int(round(lm[6, 0]))
    profile = grey[int(lm[168, 1]) - 3:int(lm[197, 1]) + 4, x - 1:x + 2].mean(1)
    valleys = [i for i in range(1, len(profile) - 1)
               if profile[i] < 0.85 and profile[i] < profile[i - 1] and profile[i] <= profile[i + 1]]
    assert any(profile[a:b].max() >= 0.95 for a, b in zip(valleys, valleys[1:])), np.round(profile, 2)
    assert grey[near(name, (133, 362), 0.06)].min() >= 0.99


@pytest.mark.parametrize("name", ["astronaut.png", "portrait_man.jpg"])
def test_au9_draws_no_lines_down_the_sides_of_the_nose(name):
    """AU9's creases lie across the bridge: the sides of the nose below the inner eye corners keep their shade.
    Oblique lines drawn there converged on the bridge into a dark V that read as a pinched frown (face-api took
    smile_man.mp4's disgust for neutral; without them, disgusted)."""
    crop, lm = face(name)
    grey = shade_still(name, delta(AU09=5))[..., 1]
    iod = interocular(lm)
    yy, xx = np.mgrid[:grey.shape[0], :grey.shape[1]]
    for side in (-1, 1):
        c = lm[6, :2] + iod * np.array([side * 0.12, 0.17])
        assert grey[(xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= (0.06 * iod) ** 2].min() >= 0.97


def test_narrow_creases_shade_redder_than_wide_folds_and_lit_edges_keep_the_skins_hue():
    """Skin scatters red light furthest under its surface, filling a narrow groove with it: AU9's creases darken
    red well under green, the wide nasolabial fold about alike (a grey crease read as a line drawn on the skin).
    A lit roll of skin brightens all channels alike, and not where one is clipped: on jesper.jpg's over-exposed
    skin (red at 255) green and blue alone brightening drew a pale line beside each crease."""
    crop, _ = face("jesper.jpg")

    def red_to_green(shade):
        log = np.log(shade)
        dark = log[..., 1] < np.percentile(log[..., 1][log[..., 1] < 0], 10)
        return log[..., 0][dark].sum() / log[..., 1][dark].sum()

    crease = shade_still("jesper.jpg", delta(AU09=5))
    assert red_to_green(crease) < 0.75
    assert red_to_green(shade_still("jesper.jpg", delta(AU12=3))) > 0.9
    lit = np.all(crease > 1, axis=2)
    assert lit.any() and np.all(np.ptp(crease[lit], axis=1) == 0)
    clipped = crop.max(2) == 255
    assert np.any(clipped & (crease != 1).any(2))
    assert np.all(apply_shading(crop, crease)[clipped] <= crop[clipped])


def test_shading_fades_with_the_change():
    """The nasolabial fold deepens with AU12 and fades monotonically to nothing as the change goes to zero."""
    region = near("portrait_man.jpg", NASOLABIAL, 0.12)
    depth = [float(np.abs(np.log(shade_still("portrait_man.jpg", delta(AU12=v))[region])).mean())
             for v in (4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.0)]
    assert all(a > b for a, b in zip(depth, depth[1:])), depth
    assert depth[0] > 0.02 and depth[-1] == 0


def test_video_shading_eases_from_the_last_frame_and_a_reset_forgets_it():
    """Landmark jitter would shimmer on every crease: in video a track's shading eases from its previous
    frame (in crop coordinates); a still, a gap in time, or a reset starts afresh."""
    crop, lm = face("astronaut.png")
    zero = delta()
    still = deform(lm, zero, zero, load_basis(), crop.shape[0])
    flow = np.zeros((2,) + crop.shape[:2], np.float32)
    region = near("astronaut.png", GLABELLA, 0.12)
    app = Appearance()

    def glabella(d, track=None):
        s = app.shading(crop, still, flow, None, d, d, track)
        return float(np.log(s.image[region]).mean())

    strong, weak = glabella(delta(AU04=3)), glabella(delta(AU04=1))
    glabella(delta(AU04=3), (0, 0.0))
    eased = glabella(delta(AU04=1), (0, 1 / 30))
    assert strong < eased < weak
    assert glabella(delta(AU04=1), (0, 5.0)) == weak        # long after: afresh
    glabella(delta(AU04=3), (0, 6.0))
    app.reset()
    assert glabella(delta(AU04=1), (0, 6.0 + 1 / 30)) == weak


def test_one_side_shades_one_side():
    shade = shade_still("astronaut.png", delta(), right=delta(AU12=3))
    crop, lm = face("astronaut.png")
    mid = int(round(lm[[10, 152], 0].mean()))
    changed = np.any(shade != 1, axis=2)
    # the subject's right is the image's left
    assert changed[:, :mid].sum() > 50 and not changed[:, mid + 3:].any()


def test_taking_a_smile_away_lightens_the_nasolabial_fold_and_evens_out_the_cheek():
    """smile_man.jpg shows deep nasolabial folds beside bulging cheeks; a negative AU12/AU6 change lifts the
    folds and evens the cheeks' broad shading out towards the bare skin around them."""
    crop, _ = face("smile_man.jpg")
    shade = shade_still("smile_man.jpg", delta(AU12=-3, AU06=-1))
    # a bulge darkens a little at most
    assert shade.min() >= np.exp(load_appearance().flatten_range[0]) - 1e-4
    region = near("smile_man.jpg", NASOLABIAL, 0.12)
    before = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    after = cv2.cvtColor(apply_shading(crop, shade), cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert after[region].mean() > before[region].mean() + 2
    # the fold's darkest pixels rise most: it is the crease that is lifted (its broad shadow with it), not
    # the whole cheek
    dark = region & (before < np.percentile(before[region], 25))
    assert (after - before)[dark].mean() > 1.2 * (after - before)[region & ~dark].mean()
    # the cheeks' shading between the scale of a pore and that of the face is evened out
    cheeks = near("smile_man.jpg", CHEEKS + NASOLABIAL, 0.15)
    band = lambda g: cv2.GaussianBlur(g, (0, 0), 1.0) - cv2.GaussianBlur(g, (0, 0), 10.0)  # noqa: E731
    assert band(after)[cheeks].std() < 0.8 * band(before)[cheeks].std()


@pytest.mark.parametrize("name", ["astronaut.png", "smile_man.jpg"])
def test_a_smiles_fold_is_lifted_over_its_whole_valley_where_the_mouth_is_left_at_rest(name):
    """A broad smile's nasolabial fold is wider than a crease: lifted up to the rims of a crease-wide valley,
    its sides stayed dark beside a lifted core (neutral on astronaut.png kept a dark line down the cheek, and
    fer read it happy). Where the target leaves the mouth at rest the fold is filled up to the rims of its
    wider valley, so the skin beside its core rises too; beside a mouth the target parts (AU25) it is
    lifted as a crease, as before."""
    crop, _ = face(name)
    region = near(name, NASOLABIAL, 0.12)
    before = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sides = region & (before >= np.percentile(before[region], 25))

    def rise(d):
        after = cv2.cvtColor(apply_shading(crop, shade_still(name, d)), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float((after - before)[sides].mean())

    at_rest, parted = rise(delta(AU12=-4, AU06=-2)), rise(delta(AU12=-4, AU06=-2, AU25=2))
    # astronaut 6.7 against 2.8 grey levels, smile_man.jpg 24.5 against 21.6 (as a crease both were the latter)
    assert at_rest > parted + 2.0
    assert at_rest > 1.1 * parted


def test_a_taken_away_smiles_fold_leaves_no_hard_line_along_its_valley():
    """A large face's nasolabial fold has a thin dark core (obama, astronaut.png): read at the crease scale
    (blurred) and capped as a crease, the lift left it a hard dark line between lit rims, like an age crease.
    Here a thin valley 0.8 log deep, drawn where the fold lies on flat skin: as AU12 falls it is lifted to
    its rims (0.47 of its depth was left before, 0.25 now), beside surprise's parted mouth too; beside lips
    stretched sideways (fear's AU20) it stays a line; as AU12 rises nothing lifts it."""
    crop, lm = face("astronaut.png")
    iod = interocular(lm)
    curve = np.array([lm[i, :2] + [dx * iod, 0] for i, dx in ((206, 0.06), (216, 0.06), (212, 0.07))])
    line = np.zeros(crop.shape[:2], np.uint8)
    cv2.polylines(line, [np.round(curve * 16).astype(np.int32)], False, 255, 2, cv2.LINE_AA, shift=4)
    skin = np.uint8(np.round(np.full(crop.shape, (196, 150, 128), np.float32) * np.exp(-0.8 * line / 255.0)[..., None]))
    zero = np.zeros(len(AU_INDEX), np.float32)
    still = deform(lm, zero, zero, load_basis(), crop.shape[0])
    core = line > 128
    rims = (cv2.dilate(line, np.ones((9, 9), np.uint8)) > 0) & ~(cv2.dilate(line, np.ones((5, 5), np.uint8)) > 0)

    def depth(d):
        s = appearance().shading(skin, still, np.zeros((2,) + crop.shape[:2], np.float32), None, d, d)
        g = np.log(cv2.cvtColor(skin if s is None else apply_shading(skin, s.image), cv2.COLOR_RGB2GRAY) + 8.0)
        return float(g[rims].mean() - g[core].mean())

    before = depth(zero)
    assert before > 0.6
    assert depth(delta(AU12=-4, AU06=-2)) < 0.35 * before
    assert depth(delta(AU12=-4, AU06=-2, AU25=3, AU26=4)) < 0.35 * before
    assert depth(delta(AU12=-4, AU06=-2, AU25=3, AU26=4, AU20=5)) > 0.45 * before
    assert depth(delta(AU12=3, AU06=2)) >= before - 1e-3


def test_a_lifted_fold_finer_than_the_crop_leaves_no_line_and_no_rim_in_the_frame():
    """On a face 1.7× its crop, a fold's thin core (narrower than a crop pixel) in its broad valley: the crop
    samples the core as it falls, and a ratio that lifts the crop flat, multiplied on the frame, left the core a
    dark line (22 levels below the skin) in a light rim (42 above: obama under neutral). Levelled at frame
    resolution where the ratio lifts, the fold flattens into the skin (0 below, 5 above)."""
    from reenact.stages.compositor import _shade

    scale, size = 1.7, 64
    skin = np.array((196, 150, 128), np.float32)
    line = np.zeros((110, 110), np.uint8)
    cv2.line(line, (55 * 16, 15 * 16), (57 * 16, 95 * 16), 255, 1, cv2.LINE_AA, shift=4)
    across = np.arange(110, dtype=np.float32)[None, :] - (55 + 2 * (np.arange(110)[:, None] - 15) / 80)
    frame = np.uint8(np.round(skin * np.exp(-0.3 * np.exp(-0.5 * (across / 5.0) ** 2) - 0.8 * line / 255.0)[..., None]))
    to_frame = np.array([[scale, 0, 0], [0, scale, 0]])
    # the crop as the aligner samples it, and the ratio that fills its valley to the skin
    seen = cv2.warpAffine(frame.astype(np.float32), to_frame, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    shade = np.maximum(skin / np.maximum(seen, 1), 1).astype(np.float32)
    out, cfg = frame.copy(), load_config().compositor
    _shade(out, shade, to_frame, (cfg.lift_from, cfg.lift_full))
    g = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)[30:80, 40:75]
    flat = float(cv2.cvtColor(np.uint8([[skin]]), cv2.COLOR_RGB2GRAY)[0, 0])
    assert flat - g.min(1).mean() < 3
    assert g.max(1).mean() - flat < 10


def test_taking_a_smile_away_lifts_the_dark_pits_at_a_closed_mouths_corners_and_not_the_lips(monkeypatch):
    """A broad smile leaves dark pits just past the mouth's corners (smile_man.jpg). Closed at neutral, the
    mouth carries them in with its corners, where they hooked it up at both ends (face-api read it happy): a
    falling AU12 lifts them as skin though they lie within the lips' margin, and leaves the lips' red as it was.
    An angry mouth left open keeps its dark corners: they are its opening."""
    import reenact.editors.rig.appearance as shading_module

    crop, lm = face("smile_man.jpg")
    model = load_model()
    source = model.intensities(model.features(lm))
    basis = load_basis()

    def edit(preset: str, corners: bool):
        monkeypatch.setattr(shading_module, "CLOSED_MOUTH_IOD", 0.04 if corners else 0.0)
        target = presets()[preset].resolve(source)
        out = create_editor("rig", memory=False).edit(EditRequest(crop=crop, landmarks=lm, source=source, target=target))
        d = deform(lm, *coefficients(source, target, basis), basis, crop.shape[0], smile_share(source, target))
        return cv2.cvtColor(out.crop, cv2.COLOR_RGB2GRAY).astype(np.float32), d.dst

    on, dst = edit("neutral", True)
    off, _ = edit("neutral", False)
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(dst[list(LIPS_OUTER)]).astype(np.int32)], 1)
    around = np.zeros_like(lips)
    for i in MOUTH_CORNERS:
        cv2.circle(around, (int(round(dst[i, 0])), int(round(dst[i, 1]))), int(round(0.1 * interocular(lm))), 1, -1)
    corners = (around > 0) & (lips == 0)
    dark = corners & (off < np.percentile(off[corners], 25))
    # 21 grey levels
    assert (on - off)[dark].mean() > 10
    red = cv2.erode(lips, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    assert np.array_equal(on[red], off[red])
    assert np.array_equal(edit("anger", True)[0], edit("anger", False)[0])


def test_a_lifted_mouth_corner_goes_no_further_than_its_rims_colour():
    """The lips' corner tails redraw a taken-away smile's corners as skin; the crease lift read the warp under
    them, a dark lipstick's pit, and its ratio (its green the most) on that skin drew a yellow-green dot at
    each corner (held sample1_face1.png's neutral, 135 levels past the skin around; smile_man.jpg's own pits a
    pale one, 53). The lift reads what it multiplies: near the corners the edit stays within its unshaded
    neighbourhood's colour."""
    crop, lm = face("smile_man.jpg")
    iod = interocular(lm)
    crop = crop.copy()
    lips = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lm[list(LIPS_OUTER), :2]).astype(np.int32)], 1)
    for i in MOUTH_CORNERS:
        cv2.circle(lips, (int(round(lm[i, 0])), int(round(lm[i, 1]))), int(round(0.04 * iod)), 1, -1)
    # a dark purple lipstick over the lips and the pits at their corners
    grey = crop[lips > 0].mean(1, keepdims=True) / 255
    crop[lips > 0] = np.clip(grey * np.array([176, 48, 144]), 0, 255).astype(np.uint8)
    model = load_model()
    source = model.intensities(model.features(lm))
    basis = load_basis()
    target = presets()["neutral"].resolve(source)
    req = EditRequest(crop=crop, landmarks=lm, source=source, target=target)
    on, off = (create_editor("rig", memory=False, appearance=a).edit(req).crop.astype(np.float32) for a in (True, False))
    d = deform(lm, *coefficients(source, target, basis), basis, crop.shape[0], smile_share(source, target))
    corners = np.zeros(crop.shape[:2], np.uint8)
    for i in MOUTH_CORNERS:
        cv2.circle(corners, (int(round(d.dst[i, 0])), int(round(d.dst[i, 1]))), int(round(0.1 * iod)), 1, -1)
    # the rims: the unshaded edit with every valley up to a crease's width filled
    k = 2 * int(0.1 * iod) + 1
    rims = cv2.dilate(cv2.morphologyEx(off, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)), np.ones((3, 3), np.uint8))
    near = corners > 0
    # 12 levels (the broad evening's), 135 before
    assert (on - rims).max(-1)[near].max() < 25
    hue = lambda a: (a[..., 1] + 8) / (a[..., 0] + 8)  # noqa: E731
    # G/R 0.035 past the rims' at most, 0.36 before
    assert (hue(on) - hue(rims))[near].max() < 0.1


def test_the_editor_shades_where_it_moves_and_marks_it():
    """Through the rig: an anger edit darkens the glabella of its crop, and the mask covers what it shaded."""
    crop, lm = face("astronaut.png")
    model = load_model()
    source = model.intensities(model.features(lm))
    target = source + AUVector(delta(AU04=3))
    req = EditRequest(crop=crop, landmarks=lm, source=source, target=target)
    on = create_editor("rig", memory=False, appearance=True).edit(req)
    off = create_editor("rig", memory=False, appearance=False).edit(req)
    assert off.warp.shade is None and on.warp.shade is not None
    region = near("astronaut.png", GLABELLA, 0.12)
    grey = lambda c: cv2.cvtColor(c, cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    assert grey(on.crop)[region].mean() < grey(off.crop)[region].mean() - 3
    shaded = np.any(on.warp.shade != 1, axis=2)
    assert np.all(on.mask[shaded] == 1)
    # where neither the motion nor the shading reaches, the crop is untouched
    assert np.array_equal(on.crop[on.mask == 0], crop[on.mask == 0])


@pytest.mark.parametrize("preset", ["anger", "sad"])
def test_background_is_bit_exact_and_the_frame_gets_the_shading(preset):
    """Through the whole pipeline on a frame: pixels away from the face are the input's, and the compositor's
    frame-resolution replay carries the creases (anger: a darker glabella than without them)."""
    img = load_rgb("astronaut.png")
    cfg = api.with_edit(load_config(), editor="rig", target=preset)
    outs = {}
    for on in (True, False):
        editor = create_editor("rig", memory=False, appearance=on)
        with api.build_pipeline(cfg, editor=editor, static=True) as pipe:
            packet = pipe.process(Packet(Frame(img, 0)))
        outs[on] = packet.output
    out = outs[True]
    face_ = packet.faces[0].face
    x0, y0, x1, y1 = face_.bbox
    pad = 0.1 * face_.size
    outside = np.ones(img.shape[:2], bool)
    # below, room for a jaw that drops past the old chin (the background may change only there)
    outside[max(int(y0 - pad), 0):int(y1 + 2.5 * pad), max(int(x0 - pad), 0):int(x1 + pad)] = False
    assert np.array_equal(out[outside], img[outside])
    if preset == "anger":
        to_image = packet.faces[0].aligned.to_image
        _, lm = face("astronaut.png")
        between = np.round(lm[list(GLABELLA), :2] @ to_image[:, :2].T + to_image[:, 2]).astype(int)
        r = int(0.1 * interocular(face_.landmarks))
        grey = {k: cv2.cvtColor(v, cv2.COLOR_RGB2GRAY).astype(np.float32) for k, v in outs.items()}
        mean = {k: np.mean([g[y - r:y + r, x - r:x + r].mean() for x, y in between]) for k, g in grey.items()}
        assert mean[True] < mean[False] - 2


def test_the_config_switch_and_its_errors(tmp_path, monkeypatch):
    cfg = load_appearance()
    assert cfg.enabled and "nasolabial" in cfg.patterns and isinstance(cfg.patterns["nasolabial"], PatternConfig)
    shutil.copytree(Path(str(CONFIG_DIR)), tmp_path, dirs_exist_ok=True)
    (tmp_path / "appearance.yaml").write_text("enabled: false\n")
    monkeypatch.setattr("reenact.config.CONFIG_DIR", tmp_path)
    assert create_editor("rig", memory=False).appearance is None
    (tmp_path / "appearance.yaml").write_text("patterns:\n  fold:\n    aus: {AU12: 1}\n    depht: 2\n")
    with pytest.raises(ConfigError, match="fold.depht"):
        load_appearance()
    (tmp_path / "appearance.yaml").write_text("patterns:\n  fold:\n    aus: {AU99: 1}\n")
    with pytest.raises(ConfigError, match="AU99"):
        load_appearance()
    (tmp_path / "appearance.yaml").write_text("patterns:\n  fold:\n    grooves: [[[49, 0.1], [999, 0, 0]]]\n")
    with pytest.raises(ConfigError, match="fold: groove point"):
        load_appearance()


def test_a_pattern_switched_off_draws_nothing_and_the_edit_runs():
    """`depth: 0` switches a pattern off: it leaves no empty template behind (an empty field crashed the
    warps), and an edit that drives its AU still shades with the rest."""
    from reenact.editors.rig.appearance import _templates
    cfg = load_appearance()
    off = dataclasses.replace(cfg, patterns={**cfg.patterns,
                                             "lips_pressed": dataclasses.replace(cfg.patterns["lips_pressed"], depth=0.0)})
    assert all(t.shading.size for t in _templates(off, 256))
    assert len(_templates(off, 256)) < len(_templates(cfg, 256))
    crop, lm = face("astronaut.png")
    still = deform(lm, delta(), delta(), load_basis(), crop.shape[0])
    flow = np.zeros((2,) + crop.shape[:2], np.float32)
    shade = Appearance(off).shading(crop, still, flow, None, delta(AU23=3, AU04=3), delta(AU23=3, AU04=3))
    assert np.isfinite(shade.image).all() and (shade.image != 1).any()


def test_wide_blur_at_low_resolution_reads_as_the_full_blur():
    """The broad shading's normalised blur, worked at 1/k resolution, stays within 0.01 (log shade: 1 % of
    brightness) of the full-resolution one over skin with holes in it, and takes the low path at all."""
    from reenact.editors.rig.appearance import WIDE_BLUR_LOW_PX, _wide_blur

    rng = np.random.default_rng(0)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(60, 130, 2))
        log = cv2.GaussianBlur(rng.standard_normal((h, w, 3)).astype(np.float32), (0, 0), 2.0) * 0.3
        skin = np.ones((h, w), np.float32)
        cv2.circle(skin, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(3, 15)), 0, -1)
        image = cv2.merge([c * skin for c in cv2.split(log)] + [skin])
        sigma = float(rng.uniform(2 * WIDE_BLUR_LOW_PX, 12))
        part = (10, 10, w - 10, h - 10)
        want = cv2.GaussianBlur(image, (0, 0), sigma)[10:h - 10, 10:w - 10]
        got = _wide_blur(image, sigma, part)
        assert got.shape == want.shape and not np.array_equal(got, want)
        ratio = [b[..., :3] / np.maximum(b[..., 3:], 1e-3) for b in (want, got)]
        assert np.abs(ratio[0] - ratio[1]).max() < 0.01


def _numpy_place(packed, index, strength, moved, light, colour, size):
    """_Packed.place as numpy wrote it before its per-pattern steps were compiled (_landed)."""
    from reenact.editors.rig.mesh import N_MESH

    affine = (packed.solvers @ moved[:N_MESH].astype(np.float32)).reshape(-1, 3, 2)[index].transpose(0, 2, 1).astype(np.float64)
    at = affine @ packed.corners[index]
    lo = np.maximum(np.floor(at.min(2)) - 1, 0).astype(np.int64)
    hi = np.minimum(np.ceil(at.max(2)) + 2, size).astype(np.int64)
    on = np.all(hi > lo, axis=1)
    if not on.any():
        return None
    boxes = np.concatenate([lo, hi], 1)[on]
    (a, b, c), (d, e, f) = np.moveaxis(affine[on], (1, 2), (0, 1))
    det = a * e - b * d
    inverse = np.stack([np.stack([e, -b, b * f - c * e], 1) / det[:, None],
                        np.stack([-d, a, c * d - a * f], 1) / det[:, None]], 1)
    inverse[:, :, 2] -= packed.origins[index[on]]
    mix = -strength.astype(np.float32)[on][:, None] * light
    box = (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max()))
    tints = 1 + (packed.tints[index[on]] - 1) * np.float32(colour)
    return box, index[on], boxes, inverse, mix, tints


def test_placed_patterns_are_numpys_bit_for_bit():
    from reenact.editors.rig.mesh import rest_points

    packed = Appearance(load_appearance())._build(256)[-1]
    rng = np.random.default_rng(41)
    rest = rest_points(256)
    off = 0
    for trial in range(40):
        index = np.flatnonzero(rng.uniform(size=len(packed.offsets)) < 0.5)
        # shifted far enough, some patterns (or all) land off the crop
        moved = (rest * rng.uniform(0.8, 1.2) + rng.normal(0, 1.5, rest.shape) + rng.uniform(-200, 200, 2)).astype(np.float32)
        strength = rng.uniform(0, 1, len(index)).astype(np.float32)
        light = np.array([1.0, *rng.normal(0, 0.3, 2)], np.float32)
        colour = float(rng.uniform())
        got = packed.place(index, strength, moved, light, colour, 256)
        want = _numpy_place(packed, index, strength, moved, light, colour, 256)
        assert (got is None) == (want is None)
        if got is None:
            off += 1
            continue
        assert got[0] == want[0]
        for g, w in zip(got[1:], want[1:]):
            assert g.dtype == w.dtype and g.tobytes() == w.tobytes()
        off += len(got[1]) < len(index)
    assert 0 < off < 40


def test_changed_pixels_are_the_range_tests_bit_for_bit():
    from reenact.editors.rig.appearance import MIN_LOG, _changed

    rng = np.random.default_rng(43)
    tol = np.float32(MIN_LOG)
    edge = np.array([tol, -tol, np.nextafter(tol, np.float32(0)), -np.nextafter(tol, np.float32(0)), np.nan, 0], np.float32)
    for trial in range(60):
        log = (rng.normal(0, 1, (int(rng.integers(1, 40)), int(rng.integers(1, 40)), 3)) * 10.0 ** rng.uniform(-5, -2)).astype(np.float32)
        if trial % 2:
            log.ravel()[rng.integers(0, log.size, 8)] = rng.choice(edge, 8)
        if trial % 7 == 0:
            log[:] = 0
        # the steps it replaced: a range test just inside ±tol, then the bounding box of what falls outside
        t = float(np.nextafter(tol, np.float32(0)))
        want = cv2.inRange(log, (-t, -t, -t), (t, t, t)) == 0
        mask, box = _changed(log, tol)
        assert mask.dtype == bool and np.array_equal(mask, want)
        assert tuple(box) == cv2.boundingRect(want.view(np.uint8))


def test_lift_weights_are_numpys_bit_for_bit():
    from reenact.editors.rig.appearance import _union, _weigh

    temps, *_, packed = Appearance(load_appearance())._build(256)
    rng = np.random.default_rng(47)
    for trial in range(30):
        ids = rng.choice(len(temps), int(rng.integers(1, 9)), replace=False)
        strength = [float(s) for s in rng.uniform(0, 1, len(ids))]
        crease = rng.integers(-1, 3, len(ids))
        crease[crease == 1] = 0
        core = [float(c) if f else 0.0 for c, f in zip(rng.uniform(0, 1, len(ids)), rng.integers(0, 2, len(ids)))]
        cx0, cy0, cx1, cy1 = _union([temps[i].box for i in ids])
        want = np.zeros((4, cy1 - cy0, cx1 - cx0), np.float32)
        # the steps it replaced: each pattern's support onto its crease plane (and times its core onto plane 3)
        # and its evening onto plane 1
        for i, s, c, k in zip(ids, strength, crease, core):
            x0, y0, x1, y1 = temps[i].box
            if c >= 0:
                want[c, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] += s * temps[i].support
            if k > 0:
                want[3, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] += s * k * temps[i].support
            want[1, y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] += s * temps[i].even
        got = np.zeros_like(want)
        _weigh(got, cx0, cy0, ids.astype(np.int64), np.array(strength), crease.astype(np.int64), np.array(core),
               packed.lifting, packed.lift_offsets, packed.boxes)
        assert got.tobytes() == want.tobytes()


def test_stamped_patterns_mix_their_channels_as_numpy_bit_for_bit():
    from reenact.editors.rig.appearance import _stamp

    temps, *_, packed = Appearance(load_appearance())._build(256)
    rng = np.random.default_rng(53)
    for trial in range(10):
        index = rng.choice(len(temps), int(rng.integers(1, 6)), replace=False).astype(np.int64)
        mix = rng.normal(0, 1, (len(index), 3)).astype(np.float32)
        tints = rng.uniform(0.5, 1.5, (len(index), 3)).astype(np.float32)
        # each pattern placed as it is in the canonical crop: crop pixel (x, y) reads its template pixel (x, y) less
        # the box's corner, plus the packed border of 1, whole pixels, so no sampling in between
        boxes = np.array([temps[t].box for t in index], np.int64)
        inverse = np.zeros((len(index), 2, 3))
        inverse[:, 0, 0] = inverse[:, 1, 1] = 1
        inverse[:, :, 2] = -packed.origins[index]
        got = np.zeros((256, 256, 3), np.float32)
        _stamp(got, 0, 0, packed.flat, packed.offsets, packed.dims, index, boxes, inverse, mix, tints)
        want = np.zeros_like(got)
        for t, m, tint in zip(index, mix, tints):
            x0, y0, x1, y1 = temps[t].box
            s = temps[t].shading
            mixed = m[0] * s[..., 0] + m[1] * s[..., 1] + m[2] * s[..., 2]
            # sampled (and tinted) in float64, added in float64 and stored
            want[y0:y1, x0:x1] = want[y0:y1, x0:x1] + mixed[..., None].astype(np.float64) * tint.astype(np.float64)
        assert got.tobytes() == want.tobytes()


def _lit_per_pixel(log, under, lo, hi):
    """appearance._lit as it was, a logarithm per brightened pixel (compiled as it was: the same scalar logarithm)."""
    for i in range(log.shape[0]):
        for j in range(log.shape[1]):
            g = log[i, j, 1]
            if g > 0:
                top = max(under[i, j, 0], under[i, j, 1], under[i, j, 2], 1)
                g = min(g, hi, np.float32(np.log(np.float32(255.5) / np.float32(top))))
                log[i, j, 0] = g
                log[i, j, 1] = g
                log[i, j, 2] = g
            else:
                for c in range(3):
                    log[i, j, c] = min(max(log[i, j, c], lo), hi)


def test_lit_shade_takes_each_logarithm_once_bit_for_bit():
    from reenact.editors.rig.appearance import _lit
    from reenact.jit import compiled

    reference = compiled(_lit_per_pixel)
    rng = np.random.default_rng(59)
    lo, hi = np.float32(-0.7), np.float32(0.15)
    for trial in range(20):
        h, w = rng.integers(1, 60, 2)
        log = rng.normal(0, 0.3, (h, w, 3)).astype(np.float32)
        # a crop's box as _lit is handed it: a view, over-exposed pixels included
        crop = rng.integers(0, 256, (h + 3, w + 5, 3)).astype(np.uint8)
        crop[rng.uniform(size=crop.shape[:2]) < 0.2] = 255
        under = crop[2:2 + h, 1:1 + w]
        want = log.copy()
        reference(want, under, lo, hi)
        _lit(log, under, lo, hi)
        assert log.tobytes() == want.tobytes()


def test_broad_shading_is_numpys_bit_for_bit():
    from reenact.editors.rig.appearance import _planes, _wide_blur

    ap = Appearance(load_appearance())
    rng = np.random.default_rng(61)
    for trial in range(12):
        h, w = rng.integers(30, 120, 2)
        log = rng.normal(4, 0.3, (h, w, 3)).astype(np.float32)
        skin = (rng.uniform(size=(h, w)) < 0.7).astype(np.float32)
        if trial % 3 == 0:
            skin[:, : w // 2] = 0      # no skin at all around some pixels: the weight's floor
        weight = rng.uniform(0, 1, (h, w)).astype(np.float32)
        iod = float(rng.uniform(40, 120))
        x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
        part = (int(x0), int(y0), int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1)))
        # the steps it replaced, on whole planes
        both = cv2.split(_wide_blur(cv2.merge([c * skin for c in cv2.split(log)] + [skin]),
                                    ap.cfg.flatten_sigma[1] * iod / 2, part))
        around = cv2.merge([c / np.maximum(both[3], 1e-3) for c in both[:3]])
        px0, py0, px1, py1 = part
        fine = cv2.GaussianBlur(log, (0, 0), ap.cfg.flatten_sigma[0] / 2)[py0:py1, px0:px1]
        want = np.zeros((h, w, 3), np.float32)
        want[py0:py1, px0:px1] = _planes(weight[py0:py1, px0:px1]) * np.clip(around - fine, *ap.cfg.flatten_range)
        got = np.zeros_like(want)
        ap._broad(got, weight, log, skin, iod, part)
        assert got.tobytes() == want.tobytes()


def test_a_smile_stretches_out_the_folds_below_the_mouths_corners():
    """AU12 draws the corners up and out and the skin below them taut: a resting face's folds there (marionette
    lines) stretch out. Carried by the warp alone they ran from the raised corners to the jaw, dark lines a real
    smile does not show (held2 facexlib_test2)."""
    crop, lm = face("portrait_man.jpg")
    iod = interocular(lm)
    lined = crop.copy()
    for i, side in zip(MOUTH_CORNERS, (-1, 1)):
        x = int(round(lm[i, 0] + side * 0.1 * iod))
        y0, y1 = int(round(lm[i, 1] + 0.05 * iod)), int(round(lm[i, 1] + 0.35 * iod))
        lined[y0:y1, x - 1:x + 1] = (lined[y0:y1, x - 1:x + 1] * 0.5).astype(np.uint8)
    line = (lined != crop).any(-1)
    zero = np.zeros(len(AU_INDEX), np.float32)
    still = deform(lm, zero, zero, load_basis(), crop.shape[0])
    s = appearance().shading(lined, still, np.zeros((2,) + crop.shape[:2], np.float32), None,
                             delta(AU12=4), delta(AU12=4))
    before = cv2.cvtColor(lined, cv2.COLOR_RGB2GRAY).astype(np.float32)
    after = cv2.cvtColor(apply_shading(lined, s.image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    # the lines lifted towards the skin beside them
    assert (after - before)[line].mean() > 8
