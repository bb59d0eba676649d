"""The second judge: oarriaga's mini-XCEPTION trained on FER2013, as @vladmandic/human 3.3.6 ships it.

`emotion.json` is a tfjs graph model (64×64 greyscale → 7 probabilities) that graph.py runs. Its input is
made as human's emotion module makes it:
1. the square face box of human's own detector (facebox.py); where it finds no face around the mesh,
   a box from the mesh alone, made the way the detector's is: centred on the mesh's bounding box (where
   human's box centres within 2 % of its side on the shared faces), its side 1.4 × the mean of the
   mesh's width and height in the detector's squeezed 256² frame, scaled back to the longer image side
   (the detector's box was 0.92–1.12 of that mean on the shared faces);
2. cropped and resized to FACE_SIZE² with TensorFlow's crop_and_resize (bilinear, corners aligned, 0
   outside the image; box in coordinates normalised by the image size), divided by 255;
3. resized to 64² with TensorFlow's legacy bilinear sampling, which at 192 → 64 picks every third pixel;
4. grey = 0.2989 R + 0.5870 G + 0.1140 B, then (grey − 0.5) · 2.
Human's classes, in the network's order: angry, disgust, fear, happy, sad, surprise, neutral.
"""
from __future__ import annotations

import numpy as np

from ..errors import IntegrityError, UnsupportedInput
from ..stages.landmarks import N_LANDMARKS
from .base import EXPRESSIONS, Box, Judge
from .facebox import GROW, default_detector
from .graph import Graph
from .weights import read_graph_model

# the network's classes, in its output order (human's `annotations` for a greyscale model), as EXPRESSIONS names
CLASSES = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
ORDER = [CLASSES.index(e) for e in EXPRESSIONS]
INPUT_SIZE = 64
FACE_SIZE = 192                      # human's face crop (its mesh model's input), resampled to 64
GRAY = np.array([0.2989, 0.5870, 0.1140], np.float32)


def mesh_points(landmarks: np.ndarray) -> np.ndarray:
    """(478, 2) image pixels from the (478, 2|3) mesh; anything else raises UnsupportedInput."""
    pts = np.asarray(landmarks, np.float64)
    if pts.ndim != 2 or pts.shape[0] != N_LANDMARKS or pts.shape[1] not in (2, 3):
        raise UnsupportedInput(f"the fer judge takes the ({N_LANDMARKS}, 2|3) mesh in image pixels, "
                               f"got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise UnsupportedInput("landmarks contain NaN or infinity")
    return pts[:, :2]


def mesh_box(pts: np.ndarray, width: int, height: int) -> Box:
    """The fallback square crop (x, y, w, h) from the mesh alone (see the module's docstring)."""
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    side = GROW * float(np.mean((hi - lo) / (width, height))) * max(width, height)
    x0, y0 = (int(np.floor(v + 0.5)) for v in centre - side / 2)
    x1, y1 = (int(np.floor(v + 0.5)) for v in centre + side / 2)
    return x0, y0, x1 - x0, y1 - y0


def _sample_axis(start: float, end: float, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """crop_and_resize along one axis for the 64 output pixels: (low, high, fraction, inside).

    The box edge is normalised by the image size and kept as float32 (a tensor), then the sample
    positions are computed in double as tfjs's cpu kernel does; only every third of the FACE_SIZE
    samples is needed.
    """
    a, b = (float(np.float32(v / size)) for v in (start, end))
    scale = (b - a) * (size - 1) / (FACE_SIZE - 1)
    f = a * (size - 1) + np.arange(0, FACE_SIZE, FACE_SIZE // INPUT_SIZE, dtype=np.float64) * scale
    inside = (f >= 0) & (f <= size - 1)
    fc = np.clip(f, 0, size - 1)
    lo = np.floor(fc).astype(np.intp)
    return lo, np.ceil(fc).astype(np.intp), fc - lo, inside


def face_input(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(64, 64, 1) float32: the network's input for the face in `box`."""
    h, w = image.shape[:2]
    x, y, bw, bh = box
    y0, y1, fy, iny = _sample_axis(y, y + bh, h)
    x0, x1, fx, inx = _sample_axis(x, x + bw, w)
    rows = [image[r] for r in (y0, y1)]
    top, bottom = (r[:, x0].astype(np.float64) + (r[:, x1].astype(np.float64) - r[:, x0]) * fx[None, :, None]
                   for r in rows)
    crop = (top + (bottom - top) * fy[:, None, None]).astype(np.float32)
    crop[~iny] = 0
    crop[:, ~inx] = 0
    rgb = crop / np.float32(255)
    grey = (rgb * GRAY).astype(np.float64).sum(-1, keepdims=True).astype(np.float32)
    return (grey - np.float32(0.5)) * np.float32(2)


class FerJudge(Judge):
    """The FER2013 net and human's face detector, weights loaded (and hash-checked) once. Takes the
    (478, 2|3) mesh (for the face's centre, and the fallback box); its inputs are (64, 64, 1) grey."""

    input_shape = (INPUT_SIZE, INPUT_SIZE, 1)

    def __init__(self):
        self.graph = Graph(*read_graph_model("emotion"))
        soft = [n for n in self.graph.nodes.values() if n["op"] == "Softmax"]
        if len(soft) != 1:
            raise IntegrityError(f"expected one Softmax in emotion.json, found {len(soft)}")
        self.logits_node = soft[0]["input"][0]
        self.detector = default_detector()

    def face_box(self, image: np.ndarray, landmarks: np.ndarray) -> Box:
        pts = mesh_points(landmarks)
        box = self.detector.face_box(image, (pts.min(0) + pts.max(0)) / 2)
        return box if box is not None else mesh_box(pts, image.shape[1], image.shape[0])

    def prepare(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, Box]:
        box = self.face_box(image, landmarks)
        return face_input(image, box), box

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.graph.run(batch, self.logits_node)[0][:, ORDER]
