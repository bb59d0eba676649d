"""What every judge shares: the seven class names, the verdict type, and judging one face or many."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedInput
from .graph import softmax

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Judgement:
    """One face's expression probabilities, in EXPRESSIONS order (they sum to 1).

    A clear smile already reads happy ≈ 1.000, so on such faces compare `log_odds`, which keep moving
    after the probability has saturated.
    """

    probabilities: tuple[float, ...]
    top: str                                      # the most probable expression
    logits: tuple[float, ...] = ()                # the network's output before the softmax
    box: Box | None = None                        # the crop (x, y, w, h) in image pixels

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
    def from_logits(cls, z: np.ndarray, box: Box | None = None) -> Judgement:
        p = softmax(np.asarray(z, np.float32))
        return cls(tuple(float(v) for v in p), EXPRESSIONS[int(np.argmax(z))], tuple(float(v) for v in z), box)


def check_image(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise UnsupportedInput(f"the judge takes an RGB uint8 (H, W, 3) image, got {img.dtype} {img.shape}")
    return img


class Judge(ABC):
    """A classifier with its weights loaded: `prepare` makes one face's network input, `logits` runs a batch
    of them and answers in EXPRESSIONS order. Each network (face-api's, human's FER) supplies the two
    abstract steps; batching, checks and the Judgement are shared."""

    input_shape: tuple[int, ...] = ()

    @abstractmethod
    def prepare(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, Box]:
        """One face's network input (input_shape, float32) and the image box it was cut from."""

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, *input_shape) float32 network inputs → (N, 7) logits in EXPRESSIONS order."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        if batch.ndim != 1 + len(self.input_shape) or batch.shape[1:] != self.input_shape:
            raise UnsupportedInput(f"expected (N, {', '.join(map(str, self.input_shape))}) inputs, got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, len(EXPRESSIONS)), np.float32)
        return self.run(batch)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Network inputs → (N, 7) probabilities."""
        return softmax(self.logits(batch))

    def judge(self, image: np.ndarray, landmarks: np.ndarray) -> Judgement:
        """One face: RGB uint8 image and its landmarks in image pixels."""
        x, box = self.prepare(check_image(image), landmarks)
        return Judgement.from_logits(self.logits(x[None])[0], box)

    def judge_batch(self, images: Sequence[np.ndarray] | np.ndarray,
                    landmarks: Sequence[np.ndarray]) -> list[Judgement]:
        """Many faces at once: images[i] with landmarks[i]; one image may be passed for all faces."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images] * len(landmarks)
        if len(images) != len(landmarks):
            raise UnsupportedInput(f"{len(images)} images but {len(landmarks)} landmark sets")
        prepared = [self.prepare(check_image(img), lm) for img, lm in zip(images, landmarks)]
        if not prepared:
            return []
        z = self.logits(np.stack([x for x, _ in prepared]))
        return [Judgement.from_logits(zi, box) for zi, (_, box) in zip(z, prepared)]
