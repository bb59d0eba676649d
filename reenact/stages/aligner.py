"""Aligner stage: a similarity transform from five stable landmarks to a canonical square crop."""
from __future__ import annotations

import cv2
import numpy as np

from ..config import AlignerConfig
from .geometry import similarity_fit
from .landmarks import MOUTH_CORNERS, NOSE_TIP, eye_centers
from ..pipeline.stage import StageBase
from ..pipeline.types import AlignedFace, Packet

# ArcFace's five-point template (112×112; eyes, nose tip, mouth corners), as fractions of the crop.
# The image's left eye comes first, which is the subject's right eye.
_ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]]) / 112.0


def template(cfg: AlignerConfig) -> np.ndarray:
    """Template points in crop pixels: ArcFace's, shrunk about the centre to leave brows and chin in."""
    pts = (_ARCFACE - 0.5) * cfg.face_scale + 0.5 + np.array([0.0, cfg.vertical_offset])
    return pts * cfg.size


def five_points(landmarks: np.ndarray) -> np.ndarray:
    r_eye, l_eye = eye_centers(landmarks[:, :2])
    return np.stack([r_eye, l_eye, landmarks[NOSE_TIP, :2],
                     landmarks[MOUTH_CORNERS[0], :2], landmarks[MOUTH_CORNERS[1], :2]])


def invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


class Aligner(StageBase):
    requires = ("faces",)
    provides = ("aligned",)

    def __init__(self, cfg: AlignerConfig = AlignerConfig()):
        self.cfg = cfg
        self._template = template(cfg)

    def align(self, image: np.ndarray, landmarks: np.ndarray) -> AlignedFace:
        s, r, t = similarity_fit(five_points(landmarks), self._template)
        to_crop = np.hstack([s * r, t[:, None]])
        size = self.cfg.size
        crop = cv2.warpAffine(image, to_crop, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        lm = np.empty_like(landmarks, dtype=np.float32)
        lm[:, :2] = landmarks[:, :2] @ to_crop[:, :2].T + to_crop[:, 2]
        lm[:, 2] = landmarks[:, 2] * s
        return AlignedFace(crop=crop, landmarks=lm, to_crop=to_crop, to_image=invert_affine(to_crop))

    def process(self, packet: Packet) -> Packet:
        image = packet.frame.image
        return packet.map_faces(lambda fs: fs.with_(aligned=self.align(image, fs.face.landmarks)))
