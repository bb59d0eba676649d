"""The second judge ("fer"): @vladmandic/human's FER2013 emotion net behind human's own face box, in numpy.

Reference numbers came from node 20 running @vladmandic/human 3.3.6 with pure-JS tfjs 4.22 (cpu backend);
tools/fer_node_parity.py prints them (CI needs no node). Human reports its scores truncated to two
decimals, so whole-pipeline numbers are compared at that precision.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from judge_inputs import synthetic_grey
from reenact.errors import InputNotFound, IntegrityError, UnsupportedInput
from reenact.judge import EXPRESSIONS, FerJudge, Judgement, default_judge, judge, judge_batch
from reenact.judge.facebox import anchors
from reenact.judge.fer import face_input, mesh_box
from reenact.judge.graph import Graph
from reenact.judge.weights import WEIGHTS_DIR, read_graph_model
from reenact.io import load_image
from reenact.stages.tracker import FaceTracker

from conftest import ROOT, load_rgb

ASTRONAUT = ROOT / "reenact" / "data" / "astronaut.png"

# the emotion net on synthetic_grey() in node (tfjs cpu), EXPRESSIONS order
NODE_LOGITS = [1.844288945, -2.019644499, 3.195345879, 0.558314681, -0.062620111, -14.361904144, -0.006760031]
# human.detect() on the whole image: the box it cut the face from (x, y, w, h) and its scores, EXPRESSIONS order
HUMAN = {
    "astronaut.png": ((153, 55, 145, 145), [0, 0.99, 0, 0, 0, 0, 0]),
    "takeo.ppm": ((2, 44, 159, 159), [0.8, 0.08, 0.07, 0.03, 0, 0, 0]),
    "portrait_man.jpg": ((92, 170, 637, 637), [0.45, 0.5, 0.02, 0.01, 0, 0, 0]),
}


@pytest.fixture(scope="module")
def fer():
    return default_judge("fer")


@pytest.fixture(scope="module")
def tracker():
    tr = FaceTracker(static=True)
    yield tr
    tr.close()


def _image(name: str) -> np.ndarray:
    return load_image(ASTRONAUT) if name == "astronaut.png" else load_rgb(name)


def test_network_matches_node_on_a_synthetic_input(fer):
    z = fer.logits(synthetic_grey()[None])[0]
    np.testing.assert_allclose(z, NODE_LOGITS, atol=1e-4)
    assert EXPRESSIONS[int(np.argmax(z))] == "sad"


@pytest.mark.parametrize("name", list(HUMAN))
def test_whole_judge_matches_human_on_real_faces(fer, tracker, name):
    image = _image(name)
    box, scores = HUMAN[name]
    j = fer.judge(image, tracker.detect(image)[0])
    assert j.box == box                                           # human's own detector box, to the pixel
    ours = np.minimum(0.99, np.trunc(100 * np.asarray(j.probabilities)) / 100)
    np.testing.assert_allclose(ours, scores, atol=0.0101)
    np.testing.assert_allclose(fer.probabilities(face_input(image, box)[None])[0], j.probabilities, atol=1e-7)


def test_smile_man_reads_happy_and_the_two_judges_agree_on_it(tracker):
    image = load_rgb("smile_man.jpg")
    mesh = tracker.detect(image)[0]
    j = judge(image, mesh, model="fer")
    assert isinstance(j, Judgement) and j.top == "happy" and j["happy"] > 0.9
    assert judge(image, mesh).top == "happy"                      # face-api's judge, the default


def test_a_frown_is_not_happy_for_fer(tracker):
    # takeo.ppm is at rest: neutral for human too, and nowhere near happy
    image = load_rgb("takeo.ppm")
    j = judge(image, tracker.detect(image)[0], model="fer")
    assert j.top == "neutral" and j["happy"] < 0.2


def test_detector_anchors_and_fallback_box(fer, tracker):
    a = anchors()
    assert a.shape == (896, 2) and tuple(a[0]) == (8.0, 8.0) and tuple(a[512]) == (16.0, 16.0)
    image = load_image(ASTRONAUT)
    mesh = tracker.detect(image)[0]
    # a grey picture has no face for the detector: the box then comes from the mesh, about the same size
    blank = np.full_like(image, 128)
    assert fer.detector.face_box(blank, mesh[:, :2].mean(0)) is None
    j = fer.judge(blank, mesh)
    assert j.box == mesh_box(mesh[:, :2], image.shape[1], image.shape[0])
    assert abs(j.box[2] - HUMAN["astronaut.png"][0][2]) < 0.25 * j.box[2]
    # … and a face elsewhere in the picture is not the one asked about
    assert fer.detector.face_box(image, np.array([5.0, 5.0])) is None


def test_api_batches_and_bad_input(fer, tracker):
    image = load_image(ASTRONAUT)
    mesh = tracker.detect(image)[0]
    one = judge(image, mesh, model="fer")
    (b,) = judge_batch([image], [mesh], model="fer")
    assert b.box == one.box and b.top == one.top
    np.testing.assert_allclose(b.probabilities, one.probabilities, atol=1e-6)
    with pytest.raises(UnsupportedInput, match="478"):
        judge(image, mesh[:68, :2], model="fer")
    with pytest.raises(UnsupportedInput, match="unknown judge"):
        judge(image, mesh, model="nope")
    with pytest.raises(UnsupportedInput, match="inputs"):
        fer.logits(np.zeros((1, 32, 32, 1), np.float32))


def test_altered_or_missing_weights_give_one_clear_line(tmp_path):
    for name in ("emotion.json", "emotion.bin"):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    nodes, tensors = read_graph_model("emotion", tmp_path)
    assert isinstance(Graph(nodes, tensors), Graph)
    data = bytearray((tmp_path / "emotion.bin").read_bytes())
    data[4000] ^= 1
    (tmp_path / "emotion.bin").write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as err:
        read_graph_model("emotion", tmp_path)
    line = str(err.value)
    assert "\n" not in line and "emotion.bin" in line and "sha256" in line and "fetch_judge_weights" in line
    (tmp_path / "emotion.json").unlink()
    with pytest.raises(InputNotFound, match="missing; fetch them again"):
        read_graph_model("emotion", tmp_path)


def test_the_interpreter_refuses_ops_it_does_not_know():
    nodes = [{"name": "x", "op": "Placeholder"}, {"name": "y", "op": "Conv3D", "input": ["x"]}]
    with pytest.raises(IntegrityError, match="Conv3D"):
        Graph(nodes, {})


def test_fer_judge_class_is_registered():
    assert isinstance(default_judge("fer"), FerJudge) and default_judge("fer") is default_judge("fer")
