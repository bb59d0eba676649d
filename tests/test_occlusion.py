"""Occluders stay untouched: what hides the face is found every frame and neither warped nor painted."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from reenact import api
from reenact.config import load_config
from reenact.errors import PipelineError
from reenact.editors.stage import EditorStage
from reenact.editors import create_editor
from reenact.pipeline.stage import Pipeline, StageBase
from reenact.pipeline.types import Edit, Frame, Packet, Warp
from reenact.editors.rig.mesh import HOLES
from reenact.stages.landmarks import LIPS_OUTER
from reenact.stages.occlusion import LIP_COLUMNS, OcclusionStage, hide_occluded, lit_skin

from conftest import load_rgb, media_path
from test_rig import tools


def rig_config(preset: str, occlusion: bool = True):
    cfg = api.with_edit(load_config(), editor="rig", target=preset)
    return replace(cfg, occlusion=replace(cfg.occlusion, enabled=occlusion))


def mouth_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): from the subject's right mouth corner to the mouth's middle, nose to chin."""
    tracker, _, _ = tools()
    lm = tracker.detect(image)[0]
    x0 = int(lm[61, 0]) - 10
    x1 = int(0.5 * (lm[61, 0] + lm[291, 0]))
    y0 = int(0.5 * (lm[2, 1] + lm[0, 1]))
    y1 = int(0.5 * (lm[17, 1] + lm[152, 1]))
    return x0, y0, x1, y1


def stripes(h: int, w: int, period: int = 12) -> np.ndarray:
    """Blue and green vertical stripes: a textured patch in colours unlike any skin."""
    out = np.empty((h, w, 3), np.uint8)
    blue = (np.arange(w) // period) % 2 == 1
    out[:, blue] = (20, 60, 200)
    out[:, ~blue] = (30, 170, 60)
    return out


def edited(image: np.ndarray, cfg) -> np.ndarray:
    with api.build_pipeline(cfg, static=True) as pipe:
        return pipe.process(Packet(Frame(image, 0))).output


@pytest.mark.parametrize("occlusion", [True, False])
def test_a_striped_patch_over_the_mouth_comes_out_unchanged(occlusion):
    """portrait_man.jpg with a blue/green striped patch over half the mouth, `happy`: the patch is
    bit-exact while the rest of the face is edited. Without the occlusion stage the edit smears it."""
    img = load_rgb("portrait_man.jpg")
    x0, y0, x1, y1 = mouth_box(img)
    img[y0:y1, x0:x1] = stripes(y1 - y0, x1 - x0)
    out = edited(img, rig_config("happy", occlusion))
    patch = np.abs(out[y0:y1, x0:x1].astype(int) - img[y0:y1, x0:x1]).max()
    rest = np.any(out != img, axis=2)
    rest[y0:y1, x0:x1] = False
    assert rest.sum() > 20000  # the face around it is still edited
    if occlusion:
        assert patch <= 1
    else:
        assert patch > 40


def test_the_patch_stays_unchanged_on_a_talking_face():
    """talking_man.mp4 with the patch pasted over half the mouth in every frame, `happy`, video mode: the
    patch comes out as it went in, frame after frame, and the face around it is edited."""
    tracker, _, _ = tools()
    with av.open(str(media_path("talking_man.mp4"))) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(45), c.decode(video=0))][30:]
    with api.build_pipeline(rig_config("happy")) as pipe:
        for i, img in enumerate(frames):
            x0, y0, x1, y1 = mouth_box(img)
            img = img.copy()
            img[y0:y1, x0:x1] = stripes(y1 - y0, x1 - x0, period=4)
            out = pipe.process(Packet(Frame(img, i, pts=i, time_base=Fraction(1, 30)))).output
            assert np.abs(out[y0:y1, x0:x1].astype(int) - img[y0:y1, x0:x1]).max() <= 1
            changed = np.any(out != img, axis=2)
            assert changed.sum() > 500


def test_a_skin_coloured_hand_over_the_mouth_gets_no_mouth_painted_on_it():
    """A patch of the man's own forehead skin over his mouth: its hue is his skin's, so colour cannot
    tell it from his face, but the lips it covers show skin where they must not, and the mouth there is
    left alone. `happy` parts the lips; without this the rig paints a dark mouth across the patch."""
    img = load_rgb("portrait_man.jpg")
    x0, y0, x1, y1 = mouth_box(img)
    h, w = y1 - y0, x1 - x0
    img[y0:y1, x0:x1] = img[200:200 + h, 380:380 + w]
    stage = OcclusionStage(load_config().occlusion)
    tracker, aligner, _ = tools()
    aligned = aligner.align(img, tracker.detect(img)[0])
    assert stage.occluded(aligned).max() == 1.0
    weights = np.float32([0.299, 0.587, 0.114])
    for occlusion in (True, False):
        out = edited(img, rig_config("happy", occlusion))
        # the share of the patch that the edit darkens by 30 grey levels or more: a painted mouth
        darkened = ((img[y0:y1, x0:x1] @ weights - out[y0:y1, x0:x1] @ weights) > 30).mean()
        assert (darkened == 0) if occlusion else (darkened > 0.01)


def test_purple_lipstick_is_no_occluder():
    """astronaut.png with her lips dyed purple (a hue far from skin, as lipstick can be), `surprise`: the
    lips are found as no occluder, and the mouth opens as it does without the occlusion stage. Before, the
    lips were taken for an occluder in front of the mouth: left as they were over the opened mouth, a pale
    lower lip with a dark sawtooth below it."""
    img = load_rgb("astronaut.png")
    tracker, aligner, _ = tools()
    lm = tracker.detect(img)[0]
    lips = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(lips, [np.round(lm[list(LIPS_OUTER), :2]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(lm[list(HOLES["mouth"]), :2]).astype(np.int32)], 0)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[lips > 0, 0], hsv[lips > 0, 1] = 150, 200
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    assert not OcclusionStage(load_config().occlusion).occluded(aligner.align(img, tracker.detect(img)[0])).any()
    x0, y0, x1, y1 = (int(v) for v in (lm[61, 0] - 10, lm[0, 1] - 10, lm[291, 0] + 10, lm[152, 1]))
    on, off = (edited(img, rig_config("surprise", occlusion))[y0:y1, x0:x1] for occlusion in (True, False))
    assert np.abs(off.astype(int) - img[y0:y1, x0:x1]).max() > 100   # the mouth opened
    assert np.abs(on.astype(int) - off).max() <= 1


def test_skin_in_coloured_light_is_no_occluder():
    """smile_man.jpg lit by two lights of different colours, a blue one over his left half (red and green
    dimmed, blue raised, easing in across the nose), `neutral`: whichever half the skin tone is read from,
    the lips still show redder than the other half, so it is no occluder, and the smile comes off the
    mouth as it does without the occlusion stage. Before, one half was taken for something in front of
    the face and kept its smile (held sample3_face1 read happy under every preset)."""
    img = load_rgb("smile_man.jpg")
    tracker, aligner, _ = tools()
    lm = tracker.detect(img)[0]
    ease = np.clip((np.arange(img.shape[1]) - lm[1, 0]) / (0.1 * (lm[454, 0] - lm[234, 0])) + 0.5, 0, 1)
    tint = 1 + ease[None, :, None] * (np.float32([0.7, 0.85, 1.5]) - 1)
    img = np.clip(img * tint, 0, 255).astype(np.uint8)
    assert not OcclusionStage(load_config().occlusion).occluded(aligner.align(img, tracker.detect(img)[0])).any()
    x0, y0, x1, y1 = (int(v) for v in (lm[1, 0], lm[0, 1] - 10, lm[291, 0] + 10, lm[152, 1]))
    on, off = (edited(img, rig_config("neutral", occlusion))[y0:y1, x0:x1] for occlusion in (True, False))
    assert np.abs(off.astype(int) - img[y0:y1, x0:x1]).max() > 60   # the lit corner came down
    assert np.abs(on.astype(int) - off).max() <= 1


def test_lit_skin_drops_the_light_and_its_colour_elsewhere_but_not_an_object():
    """A 64² read: the right half lit blue with red lips under it, a spot of that light on the forehead
    apart from it, and a green patch: the half and the spot are lit skin, the patch stays an occluder.
    Lips under a patch of the half's colour (an object over the mouth) keep the half an occluder."""
    n = 64
    pts = np.zeros((478, 2), np.float32)
    pts[list(LIPS_OUTER)] = np.stack([32 + 12 * np.cos(np.linspace(0, 2 * np.pi, len(LIPS_OUTER))),
                                      46 + 4 * np.sin(np.linspace(0, 2 * np.pi, len(LIPS_OUTER)))], axis=1)
    for (upper, lower), x in zip(LIP_COLUMNS, (22, 27, 32, 37, 42)):
        pts[list(upper)] = (x, 44.5)
        pts[list(lower)] = (x, 47.5)
    rgb = np.full((n, n, 3), (90, 100, 150), np.float32)            # skin under a blue light
    rgb[:, :20] = (200, 150, 120)                                   # the unlit skin
    lips = np.zeros((n, n), np.uint8)
    cv2.fillPoly(lips, [np.round(pts[list(LIPS_OUTER)]).astype(np.int32)], 1)
    rgb[lips > 0] = (120, 80, 140)                                  # lips under the same light
    rgb[4:10, 4:10] = (100, 108, 150)                               # the light's spot on the forehead
    rgb[20:26, 4:10] = (40, 160, 60)                                # a green patch
    lab = cv2.cvtColor(np.uint8(rgb), cv2.COLOR_RGB2LAB).astype(np.float32) - [0, 128, 128]
    hue = np.zeros((n, n), np.float32)
    hue[:, 20:] = 1.0
    hue[lips > 0] = 1.0
    hue[4:10, 4:10] = hue[20:26, 4:10] = 1.0
    out = lit_skin(hue, lab, rgb, pts)
    assert out[20:26, 4:10].all() and out.sum() == 36
    rgb[lips > 0] = (90, 100, 150)                                  # something of the half's colour over the lips
    lab = cv2.cvtColor(np.uint8(rgb), cv2.COLOR_RGB2LAB).astype(np.float32) - [0, 128, 128]
    assert np.array_equal(lit_skin(hue, lab, rgb, pts), hue)


@pytest.mark.parametrize("name", ["astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm"])
def test_an_unoccluded_face_has_no_occluders(name):
    tracker, aligner, _ = tools()
    img = load_rgb(name)
    aligned = aligner.align(img, tracker.detect(img)[0])
    assert not OcclusionStage(load_config().occlusion).occluded(aligned).any()


def test_a_talking_face_has_no_occluders():
    tracker, aligner, _ = tools()
    stage = OcclusionStage(load_config().occlusion)
    with av.open(str(media_path("talking_man.mp4"))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 8 == 0:
                img = f.to_ndarray(format="rgb24")
                assert not stage.occluded(aligner.align(img, tracker.detect(img)[0]), 0, i / 30).any(), i


def test_hide_occluded_keeps_occluders_and_what_they_covered_out_of_the_edit():
    s = 32
    crop = np.full((s, s, 3), 100, np.uint8)
    flow = np.zeros((2, s, s), np.float32)
    flow[0, :, 8:16] = -6.0  # columns 8–15 show what lies 6 px to their left
    warp = Warp(flow=flow, fill=np.zeros((s, s, 3), np.float32), fill_mask=np.zeros((s, s), np.float32))
    edit = Edit(crop=np.full_like(crop, 200), mask=np.ones((s, s), np.float32), warp=warp)
    occluded = np.zeros((s, s), np.float32)
    occluded[:, 2:6] = 1.0  # an occluder in columns 2–5
    out = hide_occluded(edit, crop, occluded)
    assert not out.mask[:, 2:6].any() and np.array_equal(out.crop[:, 2:6], crop[:, 2:6])
    # columns 8–11 would show it (8 − 6 = 2 … 11 − 6 = 5): they keep their own pixels
    assert not out.mask[:, 8:12].any()
    assert out.mask[:, 12:].min() == 1.0 and out.mask[:, 6:8].min() == 1.0
    assert hide_occluded(edit, crop, np.zeros((s, s), np.float32)) is edit


class Aligned(StageBase):
    provides = ("faces", "aligned")

    def process(self, packet):
        return packet


def test_occlusion_is_wired_before_the_editor():
    cfg = rig_config("happy")
    with api.build_pipeline(cfg, static=True) as pipe:
        names = [type(st).__name__ for st in pipe.stages]
    assert names.index("OcclusionStage") < names.index("EditorStage")
    with api.build_pipeline(rig_config("happy", occlusion=False), static=True) as pipe:
        assert "OcclusionStage" not in [type(st).__name__ for st in pipe.stages]
    with pytest.raises(PipelineError, match="occlusion"):
        Pipeline([Aligned(), EditorStage(create_editor("identity"), occlusion=True)])


def test_zero_edit_is_bit_exact_with_occlusion_on():
    img = load_rgb("portrait_man.jpg")
    x0, y0, x1, y1 = mouth_box(img)
    img[y0:y1, x0:x1] = stripes(y1 - y0, x1 - x0)
    cfg = api.with_edit(load_config(), editor="rig", target="AU12=0")
    assert np.array_equal(edited(img, cfg), img)

