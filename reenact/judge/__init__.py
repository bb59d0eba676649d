"""An independent, appearance-based expression judge: does an edited face *read* as the asked emotion?

face-api.js's FaceExpressionNet (MIT; weights shipped in `weights/` with their notices), run in numpy.
It looks only at pixels, through a network trained elsewhere, and no editor uses it, so it can grade
the editors without sharing their blind spots. Known weak on anger and disgust, on semi-profile and on
tiny faces: compare probabilities before and after an edit (`Judgement.gain`, `Judgement.log_odds`),
not only the top class.

    from reenact.judge import judge
    j = judge(rgb, landmarks)          # RGB uint8 (H, W, 3); (478, 2|3) mesh or (68, 2) in pixels
    j.top, j["happy"], j.gain(before), j.log_odds("happy")

The crop follows face-api.js: the 68 landmarks' box grown by 20 %, squared with zeros, resized to
112 with TensorFlow's legacy bilinear sampling. Numbers from node (tfjs) are pinned in the tests.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import UnsupportedInput
from .crop import face_box, face_input, landmarks68
from .net import INPUT_SIZE, logits, softmax
from .weights import load_weights

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
# crops per network call in judge_batch. One is fastest on the 2-core dev CPU: 5.8 ms per crop alone,
# 7.5 in twos, 9.1 in fours (a crop's first-block activations, 400 KB, already fill the L2 cache)
CHUNK = 1

__all__ = ["EXPRESSIONS", "ExpressionJudge", "Judgement", "default_judge", "judge", "judge_batch", "prepare"]


@dataclass(frozen=True)
class Judgement:
    """One face's expression probabilities, in EXPRESSIONS order (they sum to 1).

    A clear smile already reads happy ≈ 1.000, so on such faces compare `log_odds`, which keep moving
    after the probability has saturated.
    """

    probabilities: tuple[float, ...]
    top: str                                      # the most probable expression
    logits: tuple[float, ...] = ()                # the network's output before the softmax
    box: tuple[int, int, int, int] | None = None  # the crop (x, y, w, h) in image pixels

    def __getitem__(self, expression: str) -> float:
        return self.probabilities[EXPRESSIONS.index(expression)]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(EXPRESSIONS, self.probabilities))

    def gain(self, before: Judgement) -> dict[str, float]:
        """Probability change per expression from `before` (e.g. the unedited face) to this one."""
        return {e: a - b for e, a, b in zip(EXPRESSIONS, self.probabilities, before.probabilities)}

    def log_odds(self, expression: str) -> float:
        """log(p / (1 − p)) from the logits, exact where p rounds to 0 or 1."""
        z = np.asarray(self.logits, np.float64)
        k = EXPRESSIONS.index(expression)
        rest = np.delete(z, k)
        return float(z[k] - (rest.max() + np.log(np.exp(rest - rest.max()).sum())))

    @classmethod
    def from_logits(cls, z: np.ndarray, box: tuple[int, int, int, int] | None = None) -> Judgement:
        p = softmax(np.asarray(z, np.float32))
        return cls(tuple(float(v) for v in p), EXPRESSIONS[int(np.argmax(z))], tuple(float(v) for v in z), box)


def _check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise UnsupportedInput(f"the judge takes an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    return img


def prepare(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The network's input for one face, (112, 112, 3) float32 RGB 0..255, and its crop box."""
    img = _check_image(image)
    box = face_box(landmarks68(landmarks), img.shape[1], img.shape[0])
    return face_input(img, box), box


class ExpressionJudge:
    """FaceExpressionNet with its weights loaded (and hash-checked) once."""

    def __init__(self, weights: dict[str, np.ndarray] | None = None):
        self.weights = load_weights() if weights is None else weights

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) RGB 0..255 network inputs → (N, 7) logits (before the softmax)."""
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise UnsupportedInput(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) inputs, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        return np.concatenate([logits(batch[i:i + CHUNK], self.weights) for i in range(0, len(batch), CHUNK)])

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, 112, 112, 3) RGB 0..255 network inputs → (N, 7) probabilities."""
        return softmax(self.logits(batch))

    def judge(self, image: np.ndarray, landmarks: np.ndarray) -> Judgement:
        """One face: RGB uint8 image and its landmarks ((478, 2|3) mesh or (68, 2|3)) in image pixels."""
        x, box = prepare(image, landmarks)
        return Judgement.from_logits(self.logits(x[None])[0], box)

    def judge_batch(self, images: Sequence[np.ndarray] | np.ndarray,
                    landmarks: Sequence[np.ndarray]) -> list[Judgement]:
        """Many faces at once: images[i] with landmarks[i]; one image may be passed for all faces."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images] * len(landmarks)
        if len(images) != len(landmarks):
            raise UnsupportedInput(f"{len(images)} images but {len(landmarks)} landmark sets")
        prepared = [prepare(img, lm) for img, lm in zip(images, landmarks)]
        if not prepared:
            return []
        z = self.logits(np.stack([x for x, _ in prepared]))
        return [Judgement.from_logits(zi, box) for zi, (_, box) in zip(z, prepared)]


@lru_cache(maxsize=1)
def default_judge() -> ExpressionJudge:
    return ExpressionJudge()


def judge(image: np.ndarray, landmarks: np.ndarray) -> Judgement:
    """The shared judge's verdict on one face (see ExpressionJudge.judge)."""
    return default_judge().judge(image, landmarks)


def judge_batch(images: Sequence[np.ndarray] | np.ndarray, landmarks: Sequence[np.ndarray]) -> list[Judgement]:
    """The shared judge's verdicts on many faces (see ExpressionJudge.judge_batch)."""
    return default_judge().judge_batch(images, landmarks)


def batch_judge() -> Callable[[np.ndarray, np.ndarray | None], dict[str, float]]:
    """`reenact batch`'s judge hook: output image and its face's landmarks → class → probability."""
    return lambda image, landmarks: {} if landmarks is None else judge(image, landmarks).as_dict()
