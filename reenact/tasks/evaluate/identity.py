"""Identity distance for the eval: dlib's face descriptor, on our own landmarks (`reenact[eval]`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ...stages.landmarks import to_ibug68


IDENTITY_NA = "n/a (install reenact[eval])"


class IdentityModel:
    """dlib's face-recognition ResNet, aligned on our own landmarks: 128-d descriptors, L2 distance.

    dlib calls two photos the same person below 0.6 (99.38 % on LFW). The weights come from the
    face_recognition_models package; its __init__ needs pkg_resources, gone from recent setuptools,
    so only its folder is used.
    """

    def __init__(self):
        import dlib

        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("face_recognition_models is not installed")
        weights = Path(spec.submodule_search_locations[0]) / "models" / "dlib_face_recognition_resnet_model_v1.dat"
        self._dlib = dlib
        self._net = dlib.face_recognition_model_v1(str(weights))

    @classmethod
    def load(cls) -> "IdentityModel | None":
        """The model, or None when dlib or the weights are not installed."""
        try:
            return cls()
        except ImportError:
            return None

    def descriptor(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        dlib = self._dlib
        pts = to_ibug68(landmarks[:, :2])
        (x0, y0), (x1, y1) = np.floor(pts.min(0)), np.ceil(pts.max(0))
        shape = dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
                                           [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        return np.array(self._net.compute_face_descriptor(np.ascontiguousarray(image), shape))

    def distance(self, a: np.ndarray, landmarks_a: np.ndarray, b: np.ndarray, landmarks_b: np.ndarray) -> float:
        return float(np.linalg.norm(self.descriptor(a, landmarks_a) - self.descriptor(b, landmarks_b)))
