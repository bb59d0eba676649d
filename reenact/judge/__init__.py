"""Independent, appearance-based expression judges: does an edited face *read* as the asked emotion?

Two classifiers trained elsewhere, run in numpy, weights shipped in `weights/` with their MIT notices:
"faceapi" (the default), face-api.js's FaceExpressionNet; and "fer", the FER2013 mini-XCEPTION of
@vladmandic/human's emotion module, with human's own face detector for its crop (fer.py). The second
is there so that an editor is not tuned to one network's quirks.
They look only at pixels and no editor uses them, so they can grade the editors without sharing their
blind spots. FaceExpressionNet is weak on anger and disgust, on semi-profile and on tiny faces: compare
probabilities before and after an edit (`Judgement.gain`, `Judgement.log_odds`), not only the top class.

    from reenact.judge import judge
    j = judge(rgb, landmarks)          # RGB uint8 (H, W, 3); (478, 2|3) mesh or (68, 2) in pixels
    j.top, j["happy"], j.gain(before), j.log_odds("happy")
    judge(rgb, mesh, model="fer")      # the second judge (the 478-point mesh only)

FaceExpressionNet's crop follows face-api.js: the 68 landmarks' box grown by 20 %, squared with zeros,
resized to 112 with TensorFlow's legacy bilinear sampling. Numbers from node (tfjs) are pinned in the tests.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from ..errors import UnsupportedInput
from .base import EXPRESSIONS, Box, Judge, Judgement, check_image
from .crop import face_box, face_input, landmarks68
from .fer import FerJudge
from .net import INPUT_SIZE, logits
from .weights import load_weights

# crops per network call in judge_batch. One is fastest on the 2-core dev CPU: 5.8 ms per crop alone,
# 7.5 in twos, 9.1 in fours (a crop's first-block activations, 400 KB, already fill the L2 cache)
CHUNK = 1

__all__ = ["EXPRESSIONS", "JUDGES", "ExpressionJudge", "FerJudge", "Judge", "Judgement", "default_judge", "judge",
           "judge_batch", "prepare"]


def prepare(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, Box]:
    """FaceExpressionNet's input for one face, (112, 112, 3) float32 RGB 0..255, and its crop box."""
    img = check_image(image)
    box = face_box(landmarks68(landmarks), img.shape[1], img.shape[0])
    return face_input(img, box), box


class ExpressionJudge(Judge):
    """face-api.js's FaceExpressionNet with its weights loaded (and hash-checked) once. Takes the
    (478, 2|3) mesh or (68, 2|3) points; its inputs are (112, 112, 3) RGB 0..255."""

    input_shape = (INPUT_SIZE, INPUT_SIZE, 3)

    def __init__(self, weights: dict[str, np.ndarray] | None = None):
        self.weights = load_weights() if weights is None else weights

    def prepare(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, Box]:
        return prepare(image, landmarks)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.concatenate([logits(batch[i:i + CHUNK], self.weights) for i in range(0, len(batch), CHUNK)])


# the judges by name: "faceapi" is the default; "fer" the second opinion (see fer.py)
JUDGES: dict[str, type[Judge]] = {"faceapi": ExpressionJudge, "fer": FerJudge}


@lru_cache(maxsize=None)
def default_judge(model: str = "faceapi") -> Judge:
    """The shared judge of that name, loaded once; an unknown name raises UnsupportedInput."""
    if model not in JUDGES:
        raise UnsupportedInput(f"unknown judge {model!r}; choose from {', '.join(JUDGES)}")
    return JUDGES[model]()


def judge(image: np.ndarray, landmarks: np.ndarray, model: str = "faceapi") -> Judgement:
    """The shared judge's verdict on one face (see Judge.judge)."""
    return default_judge(model).judge(image, landmarks)


def judge_batch(images: Sequence[np.ndarray] | np.ndarray, landmarks: Sequence[np.ndarray],
                model: str = "faceapi") -> list[Judgement]:
    """The shared judge's verdicts on many faces (see Judge.judge_batch)."""
    return default_judge(model).judge_batch(images, landmarks)


def batch_judge() -> Callable[[np.ndarray, np.ndarray | None], dict[str, float]]:
    """`reenact batch`'s judge hook: output image and its face's landmarks → class → probability."""
    return lambda image, landmarks: {} if landmarks is None else judge(image, landmarks).as_dict()
