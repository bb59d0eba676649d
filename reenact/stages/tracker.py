"""Tracker stage: MediaPipe FaceMesh (478 points) → Faces with stable track ids, pose and confidence.

Image and video are modes of this one stage. In video mode MediaPipe detects only when tracking is
lost; we add track ids, One Euro smoothing on pts time, pose from the canonical fit, and drop faces
too small to edit (they pass through untouched).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import TrackerConfig
from .geometry import pose_from_rotation, to_canonical
from ..pipeline.smoothing import OneEuroFilter
from ..pipeline.stage import StageBase
from ..pipeline.types import Face, FaceSample, Packet, face_size


@dataclass
class _Track:
    id: int
    center: np.ndarray
    size: float
    last_t: float
    confidence: float
    filter: OneEuroFilter


def _mediapipe():
    import mediapipe as mp  # heavy import, deferred until a tracker is built

    return mp.solutions


class FaceTracker(StageBase):
    provides = ("faces",)

    def __init__(self, cfg: TrackerConfig = TrackerConfig(), *, static: bool = False):
        self.cfg = cfg
        self.static = static
        sol = _mediapipe()
        self._mesh = sol.face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=cfg.max_faces,
            refine_landmarks=True,
            min_detection_confidence=cfg.min_detection_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence,
        )
        # FaceMesh reports no score; the detector's score is taken once per new track
        self._detector = sol.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=0.2
        )
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self._tracks.clear()

    def close(self) -> None:
        self._mesh.close()
        self._detector.close()

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """Raw landmarks (N, 478, 3) in image pixels for an RGB uint8 image."""
        h, w = image.shape[:2]
        scale = min(1.0, self.cfg.max_input_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (round(w * scale), round(h * scale)),
                                                      interpolation=cv2.INTER_AREA)
        res = self._mesh.process(np.ascontiguousarray(small))
        out = []
        for lm in res.multi_face_landmarks or ():
            pts = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], np.float32)
            out.append(pts)
        return out

    def _detections(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """The detector's boxes (x0, y0, x1, y1 in pixels) and scores."""
        h, w = image.shape[:2]
        out = []
        for det in self._detector.process(np.ascontiguousarray(image)).detections or ():
            b = det.location_data.relative_bounding_box
            box = np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h])
            out.append((box, float(det.score[0])))
        return out

    @staticmethod
    def _score(detections: list[tuple[np.ndarray, float]], center: np.ndarray) -> float:
        best = max((score for box, score in detections
                    if box[0] <= center[0] <= box[2] and box[1] <= center[1] <= box[3]), default=0.0)
        # the mesh model found a face the detector scored below its floor: say so, not zero
        return best if best > 0 else 0.5

    def process(self, packet: Packet) -> Packet:
        frame = packet.frame
        t = frame.time
        sized = ((p, face_size(p)) for p in self.detect(frame.image))
        raw = [(p, size) for p, size in sized if size >= self.cfg.min_face_px]
        if self.static:
            self._tracks.clear()
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= self.cfg.max_track_gap_s]
        faces = []
        free = list(self._tracks)
        detections = None  # the detector runs at most once a frame, and only for a new track
        for pts, size in sorted(raw, key=lambda ps: ps[0][:, 0].mean()):
            center = pts[:, :2].mean(0)
            track = min(free, key=lambda tr: np.linalg.norm(tr.center - center), default=None)
            if track is None or np.linalg.norm(track.center - center) > 0.5 * max(size, track.size):
                if detections is None:
                    detections = self._detections(frame.image)
                track = _Track(self._next_id, center, size, t, self._score(detections, center),
                               OneEuroFilter(self.cfg.smoothing))
                self._next_id += 1
                self._tracks.append(track)
            else:
                free.remove(track)
            if self.static:
                smooth = pts
            else:
                # normalise by face size so one filter setting fits near and far faces
                smooth = track.filter(pts / size, t) * size
            track.center, track.size, track.last_t = center, size, t
            canon, r, _, _ = to_canonical(smooth)
            faces.append(Face(track_id=track.id, landmarks=smooth, canonical=canon, confidence=track.confidence,
                              pose=pose_from_rotation(r)))
        # a lost face resets its filter, so smoothing never blends across a gap
        for tr in free:
            tr.filter.reset()
        faces.sort(key=lambda f: f.track_id)
        return packet.with_(faces=tuple(FaceSample(face=f) for f in faces))
