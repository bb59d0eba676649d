"""Rig editor and target parsing, on real faces from ../shared/media."""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import pytest

from reenact.config import EditConfig, OneEuroConfig
from reenact.editors import EditRequest, create_editor
from reenact.errors import ConfigError
from reenact.rig.calibrate import signed_reading
from reenact.rig.deform import deform, dense_flow
from reenact.rig.flow import jacobian_det
from reenact.rig.metrics import added_flicker
from reenact.rig.solve import coefficients
from reenact.stage import Pipeline
from reenact.targets import (Target, TargetStage, editor_spec, parse_target, presets, reference_target)
from reenact.types import AU_NAMES, AUVector, Face, FaceSample, Frame, HeadPose, Packet

from conftest import load_rgb, media_path

FACES = ("astronaut.png", "portrait_man.jpg")
EXPRESSIONS = [p for p in presets() if p != "neutral"]
# What our AU estimator (configs/au_features.yaml as of this rig's calibration) cannot read off a warp
# within the rig's anatomical caps, measured by `python -m reenact.rig.calibrate` and the preset test
# below, and reported to the estimator's owner. A preset case is expected to fail only when every
# shortfall and every spill in it is explained here; anything else fails the test.
SHORT = {  # a named AU reading under 1.5
    "AU01": "brow_inner also counts against AU04, and MediaPipe follows a warped brow by about half",
    "AU02": "MediaPipe follows a warped outer brow by about half; onset 0.04 eats the rest",
    "AU04": "brow_lowering subtracts brow_inner, so with AU01 (sad, fear) the two cancel",
    "AU05": "MediaPipe barely moves its upper-lid points for a warped lid (< onset 0.015 IOD)",
    "AU06": "MediaPipe places its cheek points from the mouth, not from the cheek's texture",
    "AU07": "MediaPipe barely follows a warped lower lid",
    "AU09": "MediaPipe places the nose wings from the face shape; onset and corner compensation",
    "AU12": "a one-sided pull (contempt) moves the two-corner mean by half, mostly inside the onset",
    "AU14": "reads corner depth (z), which a 2D warp does not give MediaPipe",
    "AU15": "corner_rise compensation: the upper-lip raise of AU10 in disgust lifts it back",
    "AU20": "lip_stretch subtracts 2.1 × corner_rise; in fear the jaw's corner drop cancels it",
    "AU23": "lip_height is read between outer lip edges MediaPipe keeps near their usual spacing",
    "AU25": "on a mouth already open (astronaut) MediaPipe moves its inner-lip points little",
    "AU26": "chin_drop onset 0.03 and a 0.45 IOD scale: a moderate jaw drop reads under 1.5",
}
SPILL = {  # an unnamed AU reading over 0.5
    "AU12": "corner_rise adds back 0.25 × lower-lip drop, more than a jaw drop lowers the corners",
    "AU14": "dimple subtracts 0.9 × corner_rise, so lowered corners read as a dimple",
    "AU17": "lip_chin: MediaPipe lifts the lower lip off the chin boss when the corners move",
    "AU20": "lip_stretch adds 2.1 × any corner drop, so AU15 reads as AU20",
    "AU25": "an upper-lip raise (AU10) parts the lips, as it does in FACS (10+25)",
    "AU26": "lip parting carries a small jaw rotation, which chin_drop reads",
}


@lru_cache(maxsize=None)
def tools():
    from reenact.aligner import Aligner
    from reenact.au import load_model
    from reenact.tracker import FaceTracker

    return FaceTracker(static=True), Aligner(), load_model()


@lru_cache(maxsize=None)
def face(name: str):
    """(aligned crop, crop landmarks, the estimator's reading of the face)."""
    tracker, aligner, model = tools()
    image = load_rgb(name)
    pts = tracker.detect(image)[0]
    a = aligner.align(image, pts)
    return a.crop, a.landmarks, model.intensities(model.features(pts))


def request(name: str, target: AUVector | None = None, **kw) -> EditRequest:
    crop, lm, source = face(name)
    return EditRequest(crop=crop, landmarks=lm, source=source, target=source if target is None else target, **kw)


def readings(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Signed AU change the estimator reads from crop `before` to crop `after` (re-tracked)."""
    tracker, _, model = tools()
    a, b = tracker.detect(before), tracker.detect(after)
    assert a and b, "face lost after the edit"
    return signed_reading(model, model.features(b[0]), model.features(a[0]))


def preset_edit(name: str, preset: str, strength: float = 1.0):
    target = presets()[preset]
    req = request(name, target.resolve(face(name)[2], strength))
    return req, create_editor(f"rig:{target.side}" if target.side != "both" else "rig", memory=False).edit(req)


# --- the edit itself ---------------------------------------------------------------------------------

@pytest.mark.parametrize("memory", [False, True])
def test_zero_edit_returns_the_crop_bit_exact(memory):
    req = request("astronaut.png")
    edit = create_editor("rig", memory=memory).edit(req)
    assert np.array_equal(edit.crop, req.crop)
    assert edit.mask.shape == req.crop.shape[:2] and not edit.mask.any()


@pytest.mark.parametrize("name", FACES)
def test_only_the_masked_region_changes(name):
    req, edit = preset_edit(name, "surprise")
    outside = edit.mask == 0
    assert edit.mask.any() and outside.mean() > 0.3
    assert np.array_equal(edit.crop[outside], req.crop[outside])
    assert edit.mask.min() >= 0 and edit.mask.max() <= 1


@pytest.mark.parametrize("name", FACES)
@pytest.mark.parametrize("preset", list(presets()))
def test_flow_does_not_fold(name, preset):
    """det of the warp's Jacobian > 0 on all skin; the eyes and mouth are layers with an edge of their own."""
    crop, lm, source = face(name)
    target = presets()[preset]
    ed = create_editor("rig", memory=False)
    right, left = coefficients(source, target.resolve(source, 1.5), ed.basis, target.side)
    flow, holes, _ = dense_flow(deform(lm, right, left, ed.basis, crop.shape[0]), crop.shape[0])
    layers = np.zeros(crop.shape[:2], np.uint8)
    for h in holes:
        x0, y0, x1, y1 = h.box
        layers[y0:y1, x0:x1] |= h.inside.astype(np.uint8)
    skin = cv2.dilate(layers, np.ones((5, 5), np.uint8)) == 0
    assert jacobian_det(flow)[skin].min() > 0


def test_procedural_fill_is_reported_for_a_single_image():
    _, edit = preset_edit("portrait_man.jpg", "surprise")
    assert "procedural" in edit.meta["fill"].split("+") and "memory" not in edit.meta["fill"]


def test_texture_memory_closes_a_laughing_mouth_with_the_persons_own_lips():
    import av

    tracker, aligner, model = tools()
    frames = {}
    with av.open(str(media_path("smile_man.mp4"))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in (5, 40):  # at rest, then laughing with teeth
                frames[i] = f.to_ndarray(format="rgb24")
            if i >= 40:
                break
    ed = create_editor("rig")
    neutral = parse_target("neutral")
    for i in (5, 40):
        pts = tracker.detect(frames[i])[0]
        a = aligner.align(frames[i], pts)
        source = model.intensities(model.features(pts))
        edit = ed.edit(EditRequest(crop=a.crop, landmarks=a.landmarks, source=source,
                                   target=neutral.resolve(source), track_id=3, time=i / 30))
    assert "memory" in edit.meta["fill"]
    # the teeth are gone: the inner mouth is no brighter than the lips around it
    mouth = np.zeros(a.crop.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [np.round(a.landmarks[[78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318,
                                                   402, 317, 14, 87, 178, 88, 95], :2]).astype(np.int32)], 1)
    grey = cv2.cvtColor(edit.crop, cv2.COLOR_RGB2GRAY)[mouth > 0]
    assert np.percentile(grey, 90) < np.percentile(cv2.cvtColor(a.crop, cv2.COLOR_RGB2GRAY)[mouth > 0], 90) - 20


# --- agreement with our AU estimator ------------------------------------------------------------------

@pytest.mark.parametrize("name", FACES)
@pytest.mark.parametrize("preset", EXPRESSIONS)
def test_preset_reads_on_our_estimator(name, preset):
    """Named AUs rise by ≥ 1.5, others by ≤ 0.5, read off the re-tracked output against the input.

    Only rises of unnamed AUs count: several AUs share a feature with an antagonist (AU1/AU4 brow
    height, AU5/AU45 lid, AU12/AU15 corners), so raising one must lower the other's reading.
    """
    req, edit = preset_edit(name, preset)
    got = readings(req.crop, edit.crop)
    named = presets()[preset].named
    short = [a for a in named if got[AU_NAMES.index(a)] < 1.5]
    spill = [a for a in AU_NAMES if a not in named and got[AU_NAMES.index(a)] > 0.5]
    report = ", ".join(f"{a} {got[AU_NAMES.index(a)]:+.1f}" for a in short + spill)
    if not short and not spill:
        return
    if any(a not in SHORT for a in short) or any(a not in SPILL for a in spill):
        pytest.fail(f"{preset} on {name}: {report}")
    pytest.xfail(f"{preset} on {name}: {report} (estimator limits: see SHORT / SPILL)")


def test_ref_smile_raises_au12_on_a_neutral_man():
    target = reference_target(load_rgb("smile_man.jpg"), name="smile_man.jpg")
    assert "AU12" in target.named
    req = request("portrait_man.jpg", target.resolve(face("portrait_man.jpg")[2]))
    edit = create_editor("rig", memory=False).edit(req)
    assert readings(req.crop, edit.crop)[AU_NAMES.index("AU12")] >= 1.5


# --- targets -------------------------------------------------------------------------------------------

def test_presets_are_the_emfacs_prototypes():
    expected = {
        "happy": {"AU06", "AU12"}, "sad": {"AU01", "AU04", "AU15"}, "surprise": {"AU01", "AU02", "AU05", "AU26"},
        "fear": {"AU01", "AU02", "AU04", "AU05", "AU07", "AU20", "AU26"},
        "anger": {"AU04", "AU05", "AU07", "AU23"},
        "disgust": {"AU09", "AU15"}, "contempt": {"AU12", "AU14"},
    }
    for name, aus in expected.items():
        assert aus <= set(presets()[name].named), name
    assert presets()["contempt"].side == "right"
    neutral = presets()["neutral"]
    assert neutral.mode == "absolute" and set(neutral.named) == set(AU_NAMES) and neutral.values.is_zero()


def test_parse_explicit_values_and_modes():
    t = parse_target("AU12=3, au6=2.5", mode="absolute")
    assert t.named == ("AU12", "AU06") and t.values["AU12"] == 3.0
    src = AUVector.from_dict({"AU12": 1.0, "AU25": 2.0})
    assert t.resolve(src).to_dict()["AU12"] == pytest.approx(3.0)
    assert t.resolve(src).to_dict()["AU25"] == pytest.approx(2.0)          # unnamed: follows the face
    assert t.resolve(src, 0.5).to_dict()["AU12"] == pytest.approx(2.0)     # strength scales the change
    rel = parse_target("AU12=3")
    assert rel.mode == "relative" and rel.resolve(src).to_dict()["AU12"] == pytest.approx(4.0)
    assert parse_target("HAPPY").name == "happy"


@pytest.mark.parametrize("bad", ["hapy", "AU13=2", "AU12=7", "AU12=x", "AU12", ""])
def test_bad_target_is_one_line_config_error_listing_choices(bad):
    with pytest.raises(ConfigError) as e:
        parse_target(bad)
    msg = str(e.value)
    assert "\n" not in msg and "happy" in msg and "AU45" in msg


def test_strength_range_and_unilateral_editor_spec():
    with pytest.raises(ConfigError):
        TargetStage(EditConfig(strength=2.0))
    assert editor_spec(EditConfig(editor="rig", target="contempt")) == "rig:right"
    assert editor_spec(EditConfig(editor="rig", target="happy")) == "rig"
    right, left = coefficients(AUVector.zeros(), AUVector.from_dict({"AU14": 1}),
                               create_editor("rig:right", memory=False).basis, "right")
    assert right[AU_NAMES.index("AU14")] == 2 and not left.any()


def _packet(t: float, au: AUVector, track: int = 0) -> Packet:
    f = Face(track_id=track, landmarks=np.zeros((478, 3), np.float32), confidence=1.0, pose=HeadPose())
    return Packet(frame=Frame(np.zeros((4, 4, 3), np.uint8), index=round(t * 30), pts=round(t * 1000)),
                  faces=(FaceSample(face=f, source_au=au),))


class _Upstream:
    requires, provides = (), ("source_au",)

    def process(self, p):
        return p

    def reset(self):
        pass

    def close(self):
        pass


def test_steady_preset_is_a_steady_edit_while_the_reading_jitters():
    stage = TargetStage(EditConfig(target="happy"), target=parse_target("happy"))
    Pipeline([_Upstream(), stage])  # wiring: source_au → target_au
    rng = np.random.default_rng(0)
    edits = []
    for i in range(30):
        src = AUVector(np.clip(1.0 + 0.3 * rng.standard_normal(len(AU_NAMES)), 0, 5))
        out = stage.process(_packet(i / 30, src)).faces[0]
        edits.append((out.target_au - out.source_au).values)
    edits = np.array(edits)
    assert np.allclose(edits, edits[0], atol=1e-5)
    assert edits[0][AU_NAMES.index("AU12")] == pytest.approx(4.0)


def test_a_preset_switch_eases_in():
    stage = TargetStage(EditConfig(smoothing=OneEuroConfig(min_cutoff=1.0, beta=0.0)))
    src = AUVector.zeros()
    stage.process(_packet(0.0, src))
    stage.set_target(parse_target("AU12=4"))
    first = stage.process(_packet(1 / 30, src)).faces[0].target_au["AU12"]
    for i in range(2, 60):
        last = stage.process(_packet(i / 30, src)).faces[0].target_au["AU12"]
    assert 0 < first < 2 and last == pytest.approx(4.0, abs=0.1)


class _FakeDriver:
    def __init__(self):
        self.closed = False

    def read(self, t):
        return AUVector.from_dict({"AU12": 2.0 * t})

    def close(self):
        self.closed = True


def test_drive_adds_the_drivers_change_to_the_face_at_rest():
    driver = _FakeDriver()
    stage = TargetStage(EditConfig(strength=0.5, smoothing=OneEuroConfig(min_cutoff=1e6)), driver=driver)
    rest = AUVector.from_dict({"AU12": 1.0})
    stage.process(_packet(0.0, rest))
    later = stage.process(_packet(1.0, AUVector.from_dict({"AU12": 3.0}))).faces[0].target_au
    assert later["AU12"] == pytest.approx(1.0 + 0.5 * 2.0, abs=1e-3)   # rest + strength · driver
    stage.close()
    assert driver.closed


def test_added_flicker_is_zero_for_an_unedited_clip_and_counts_a_jitter():
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)] * 4
    masks = [np.ones((8, 8), bool)] * 4
    assert added_flicker(frames, frames, masks) == 0
    jitter = [f if i % 2 else np.clip(f.astype(int) + 3, 0, 255).astype(np.uint8) for i, f in enumerate(frames)]
    assert added_flicker(frames, jitter, masks) > 2


def test_target_type_is_frozen():
    t = parse_target("happy")
    assert isinstance(t, Target)
    with pytest.raises(Exception):
        t.mode = "absolute"  # type: ignore[misc]
