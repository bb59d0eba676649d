"""The expression judge: face-api.js's FaceExpressionNet in numpy, checked against the original in node.

Reference numbers below came from node 20 running @vladmandic/face-api 1.7.15 on tfjs 4.22's wasm
backend (tools/judge_node_parity.py prints them; CI needs no node). Logits are compared as well as
probabilities, since a confident face's probabilities saturate at 0 and 1.
"""
from __future__ import annotations

import dataclasses
import re
import shutil

import numpy as np
import pytest

from judge_inputs import synthetic_image, synthetic_tensor
from reenact.errors import InputNotFound, IntegrityError, NoFace, UnsupportedInput
from reenact.judge import EXPRESSIONS, ExpressionJudge, Judgement, judge, judge_batch, prepare
from reenact.judge.crop import face_box, face_input, landmarks68, pad_to_square, resize_bilinear_legacy
from reenact.judge.weights import BIN, BIN_SIZE, MANIFEST, WEIGHTS_DIR, decode, read_files
from reenact.stages.landmarks import IBUG68
from reenact.io import load_image, open_source
from reenact.stages.tracker import FaceTracker

from conftest import ROOT, load_rgb, media_path

ASTRONAUT = ROOT / "reenact" / "data" / "astronaut.png"

# node's output, wasm backend: (crop box or None, probabilities, logits), EXPRESSIONS order
NODE = {
    "tensor": (None,
               [0.359301805, 0.0305219982, 0.530824244, 0.0104267532, 0.000278702442, 0.000471765175, 0.0681747198],
               [-5.455648, -7.921363, -5.06538, -8.995436, -12.61742, -12.09108, -7.117737]),
    "image": (None,
              [0.205633417, 0.513506949, 0.162632659, 0.107230172, 8.85816189e-05, 0.010809903, 9.83476057e-05],
              [-3.499877, -2.584708, -3.734478, -4.150994, -11.2498, -6.445509, -11.14522]),
    "astronaut.png": ((170, 77, 109, 108),
                      [7.19202614e-11, 1.0, 3.16359605e-10, 1.61830799e-10, 1.65507642e-11, 6.54408125e-11,
                       2.07696863e-11],
                      [-9.83517, 13.52029, -8.353848, -9.024177, -11.30429, -9.929582, -11.07723]),
    "takeo.ppm": ((22, 74, 110, 105),
                  [0.0686791688, 0.803498447, 0.00988615863, 0.00312891835, 0.00022663828, 0.108218357, 0.0063623935],
                  [-1.91228, 0.5472493, -3.85059, -5.001039, -7.626126, -1.457575, -4.291321]),
}


@pytest.fixture(scope="module")
def net():
    return ExpressionJudge()


@pytest.fixture(scope="module")
def tracker():
    tr = FaceTracker(static=True)
    yield tr
    tr.close()


def assert_matches_node(net: ExpressionJudge, x: np.ndarray, key: str) -> None:
    _, probs, logits = NODE[key]
    np.testing.assert_allclose(net.logits(x[None])[0], logits, atol=1e-3, rtol=0)
    np.testing.assert_allclose(net.probabilities(x[None])[0], probs, atol=1e-4, rtol=0)


# --- weights ---------------------------------------------------------------------------------------

def test_weights_decode_to_the_manifest_sizes():
    entries, data = read_files()
    assert len(data) == BIN_SIZE
    w = decode(entries, data)
    assert list(w) == [e["name"] for e in entries] and len(w) == 49
    quantized = sum(int(np.prod(e["shape"])) for e in entries if "quantization" in e)
    plain = sum(int(np.prod(e["shape"])) for e in entries if "quantization" not in e)
    assert quantized + 4 * plain == BIN_SIZE
    for e in entries:
        t = w[e["name"]]
        assert t.shape == tuple(e["shape"]) and t.dtype == np.float32 and np.isfinite(t).all()
        if q := e.get("quantization"):   # q·scale + min: every value on the 256-step grid from min
            steps = (t.astype(np.float64) - q["min"]) / q["scale"]
            assert steps.min() > -1e-3 and steps.max() < 255 + 1e-3
            np.testing.assert_allclose(steps, np.round(steps), atol=2e-3)
    assert w["dense0/conv0/filters"].shape == (3, 3, 3, 32)                  # the one plain conv
    assert [w[f"dense{b}/conv3/pointwise_filter"].shape[-1] for b in range(4)] == [32, 64, 128, 256]
    assert w["fc/weights"].shape == (256, 7) and w["fc/bias"].shape == (7,)
    with pytest.raises(IntegrityError, match="left over"):
        decode(entries, data + b"\0\0\0\0")
    with pytest.raises(IntegrityError, match="past the end"):
        decode(entries, data[:-4])


def test_tampered_or_missing_weights_are_refused_in_one_line(tmp_path):
    for name in (BIN, MANIFEST):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    read_files(tmp_path)                                    # an untouched copy loads
    data = bytearray((tmp_path / BIN).read_bytes())
    data[1000] ^= 1                                         # one bit in one weight
    (tmp_path / BIN).write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as err:
        read_files(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and BIN in msg and "sha256" in msg and "python tools/fetch_judge_weights.py" in msg
    (tmp_path / MANIFEST).unlink()
    with pytest.raises(InputNotFound) as err:
        read_files(tmp_path)
    assert "\n" not in str(err.value) and MANIFEST in str(err.value) and "fetch_judge_weights.py" in str(err.value)


def test_wheel_ships_the_weights_and_their_notice():
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["reenact"]
    shipped = {p for pat in patterns for p in (ROOT / "reenact").glob(pat)}
    for name in (BIN, MANIFEST, "LICENSE"):
        assert WEIGHTS_DIR / name in shipped
    notice = (WEIGHTS_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "Vincent Mühler" in notice and "Vladimir Mandic" in notice and notice.count("MIT License") == 2


# --- preprocessing ---------------------------------------------------------------------------------

def test_legacy_bilinear_resize_matches_hand_computed_values():
    img = np.array([[0, 10], [20, 30]], np.uint8)
    # src = dst · 2/3 → rows/cols at 0, 2/3, 4/3; the last one clamps to the edge pixel
    np.testing.assert_allclose(resize_bilinear_legacy(img, 3, 3),
                               [[0, 20 / 3, 10], [40 / 3, 20, 70 / 3], [20, 80 / 3, 30]], atol=1e-5)
    # halving samples pixels 0 and 2 exactly: no half-pixel shift, no averaging (cv2's INTER_LINEAR differs)
    big = np.arange(16, dtype=np.uint8).reshape(4, 4)
    np.testing.assert_array_equal(resize_bilinear_legacy(big, 2, 2), [[0, 2], [8, 10]])
    rgb = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = resize_bilinear_legacy(rgb, 3, 4)
    assert out.dtype == np.float32 and out.shape == (3, 4, 3)
    np.testing.assert_array_equal(out[..., 2], resize_bilinear_legacy(rgb[..., 2], 3, 4))


def test_square_padding_puts_the_odd_extra_after():
    img = np.full((2, 5, 3), 7, np.uint8)
    sq = pad_to_square(img)
    assert sq.shape == (5, 5, 3)
    assert (sq[1:3] == 7).all() and (sq[0] == 0).all() and (sq[3:] == 0).all()   # 1 row before, 2 after
    tall = pad_to_square(np.ones((6, 2), np.uint8))
    assert tall.shape == (6, 6) and (tall[:, 2:4] == 1).all() and tall.sum() == 12


def test_face_box_is_face_apis_padded_landmark_box():
    pts = np.array([[10.0, 20.0], [60.0, 120.0]] + [[30.0, 50.0]] * 66)
    assert face_box(pts, 200, 200) == (5, 10, 60, 120)        # 50×100 grown by 20 %, 10 % each side
    assert face_box(pts + [-8.0, 0.0], 50, 200) == (0, 10, 50, 120)   # x −3..57 clipped to the 50-wide image
    assert face_box(pts + [0.7, 0.0], 200, 200) == (5, 10, 60, 120)    # x, y, w, h each floored
    with pytest.raises(NoFace):
        face_box(pts + 500.0, 200, 200)
    mesh = np.random.default_rng(2).uniform(0, 100, (478, 3))
    np.testing.assert_allclose(landmarks68(mesh), [mesh[list(ix), :2].mean(0) for ix in IBUG68])
    with pytest.raises(UnsupportedInput, match="landmarks"):
        landmarks68(np.zeros((5, 2)))


# --- the network against node ----------------------------------------------------------------------

def test_network_matches_node_on_a_synthetic_tensor(net):
    assert_matches_node(net, synthetic_tensor(), "tensor")


def test_crop_chain_matches_node_on_a_synthetic_image(net):
    # face-api pads this 97×150 image to 150×150 and resizes it to 112 itself
    assert_matches_node(net, resize_bilinear_legacy(pad_to_square(synthetic_image()), 112, 112), "image")


@pytest.mark.parametrize("name", ["astronaut.png", "takeo.ppm"])
def test_real_faces_match_node(net, tracker, name):
    image = load_image(ASTRONAUT) if name == "astronaut.png" else load_rgb(name)
    box, probs, _ = NODE[name]
    assert_matches_node(net, face_input(image, box), name)     # node's crop box: the exact chain
    j = net.judge(image, tracker.detect(image)[0])              # this tracker's landmarks: within a pixel or two
    assert np.abs(np.subtract(j.box, box)).max() <= 2
    np.testing.assert_allclose(j.probabilities, probs, atol=0.05 if name == "takeo.ppm" else 1e-4)


# --- what it says about faces ----------------------------------------------------------------------

def test_smile_man_reads_happy(tracker):
    image = load_rgb("smile_man.jpg")
    j = judge(image, tracker.detect(image)[0])
    assert j.top == "happy" and j["happy"] > 0.9


def test_smile_clip_goes_from_neutral_to_happy(tracker):
    frames = {}
    with open_source(str(media_path("smile_man.mp4"))) as src:
        for frame in src:
            if frame.index in (0, 40):
                frames[frame.index] = judge(frame.image, tracker.detect(frame.image)[0])
            if frame.index >= 40:
                break
    before, after = frames[0], frames[40]
    assert before.top == "neutral" and after.top == "happy"
    gain = after.gain(before)
    assert gain["happy"] > 0.5 and gain["neutral"] < -0.5


# --- the API ---------------------------------------------------------------------------------------

def test_api_returns_frozen_judgements_and_batches_agree(net, tracker):
    image = load_image(ASTRONAUT)
    mesh = tracker.detect(image)[0]
    j = judge(image, mesh)
    assert isinstance(j, Judgement) and len(j.probabilities) == len(EXPRESSIONS)
    assert abs(sum(j.probabilities) - 1) < 1e-5 and j.top == EXPRESSIONS[int(np.argmax(j.probabilities))]
    assert j["happy"] == j.as_dict()["happy"] == j.probabilities[1]
    np.testing.assert_allclose(j.logits, NODE["astronaut.png"][2], atol=0.5)
    assert j.log_odds("happy") > 15                              # happy reads 1.000; its log-odds do not saturate
    p = j["sad"]
    assert j.log_odds("sad") == pytest.approx(np.log(p / (1 - p)), abs=1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.top = "sad"
    assert judge(image, landmarks68(mesh)) == j                 # 68 points give the same crop as the mesh
    flipped = np.ascontiguousarray(image[:, ::-1])
    mesh_f = mesh.copy()
    mesh_f[:, 0] = image.shape[1] - 1 - mesh_f[:, 0]
    batch = judge_batch([image, flipped], [mesh, mesh_f])       # batched matmuls may round differently
    for b, one in zip(batch, (j, net.judge(flipped, mesh_f))):
        assert b.box == one.box and b.top == one.top
        np.testing.assert_allclose(b.probabilities, one.probabilities, atol=1e-6)
    assert [b.box for b in judge_batch(image, [mesh, mesh])] == [j.box, j.box] and judge_batch([], []) == []
    x, box = prepare(image, mesh)
    assert x.shape == (112, 112, 3) and x.dtype == np.float32 and box == j.box
    with pytest.raises(UnsupportedInput, match="RGB uint8"):
        judge(image.astype(np.float32), mesh)
    with pytest.raises(UnsupportedInput, match="landmark sets"):
        judge_batch([image], [mesh, mesh])


def test_no_editor_uses_the_judge():
    """The judge grades the editors, so only the eval (reenact/tasks/evaluate) may import it."""
    graders = (ROOT / "reenact" / "judge", ROOT / "reenact" / "tasks" / "evaluate")
    users = [p for p in (ROOT / "reenact").rglob("*.py")
             if not any(g in p.parents for g in graders)
             and re.search(r"^\s*(from|import)\s+\S*judge", p.read_text(encoding="utf-8"), re.M)]
    assert users == []
