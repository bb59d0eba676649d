"""Tracker stage: MediaPipe FaceMesh (478 points) → Faces with stable track ids, pose and confidence.

Image and video are modes of this one stage. In video mode MediaPipe detects only when tracking is
lost. On a still, the full-range face detector also looks over the whole image (in tiles when it finds
too few), and the mesh runs on a crop around each face it found that the mesh missed, so the small
faces of a group photo are found too (FaceMesh's own detector is the short-range one, which misses
faces of about 100 px in a large image). We add track ids, One Euro
smoothing on pts time, pose from the canonical fit, and drop faces too small to edit (they pass
through untouched).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..config import TrackerConfig
from ..io.image import astronaut
from ..quiet import native_logs_quieted
from .geometry import pose_from_rotation, to_canonical
from ..pipeline.smoothing import OneEuroFilter
from ..pipeline.stage import StageBase
from ..pipeline.types import Face, FaceSample, Packet, face_size

# a still's face crop for the mesh: this many times the detector's box side, at most CROP_MAX px
CROP_SCALE = 2.0
CROP_MAX = 512
# the detector sees 192²: on a still it also looks at tiles of this side (half overlapping), where a face
# of min_face_px is still about 12 px to it
TILE = 640
# on a still, the subject is the face nearest the middle of those the frame shows whole (at least WHOLE_SHARE of
# their box) and at least SUBJECT_SHARE of the largest such face's size: a bystander cut by the frame's edge
# often measures larger (the mesh runs on past the edge), and a photo is framed on its subject
WHOLE_SHARE = 0.97
SUBJECT_SHARE = 0.7


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


def _starts(n: int) -> list[int]:
    """Offsets of half-overlapping TILE-long windows covering 0..n."""
    return sorted({*range(0, max(n - TILE, 0), TILE // 2), max(n - TILE, 0)})


def _suppress(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Best score first; a box mostly inside a better one (the same face seen from two tiles) is dropped."""
    kept: list[tuple[np.ndarray, float]] = []
    for box, score in sorted(found, key=lambda bs: -bs[1]):
        area = (box[2] - box[0]) * (box[3] - box[1])
        if all(_overlap(box, k) < 0.5 * min(area, (k[2] - k[0]) * (k[3] - k[1])) for k, _ in kept):
            kept.append((box, score))
    return kept


def _subject_first(items: list, points, shape: tuple[int, ...]) -> list:
    """`items` (faces or boxes, whose (N, 2) pixel `points` are given) with the subject first (WHOLE_SHARE,
    SUBJECT_SHARE), the others by the size of the part the frame shows, largest first."""
    h, w = shape[:2]
    boxes = [np.asarray(points(i), np.float64) for i in items]
    boxes = [(b.min(0), b.max(0), b.mean(0)) for b in boxes]
    spans = [np.maximum(hi - lo, 1e-9) for lo, hi, _ in boxes]
    shown = [np.clip(np.minimum(hi, (w, h)) - np.maximum(lo, 0), 0, None) for lo, hi, _ in boxes]
    whole = [float(np.prod(s / f)) >= WHOLE_SHARE for s, f in zip(shown, spans)]
    big = SUBJECT_SHARE * max((float(f.max()) for f, ok in zip(spans, whole) if ok), default=0.0)
    off = [float(np.hypot(*(c / (w, h) - 0.5))) for _, _, c in boxes]
    order = sorted(range(len(items)), key=lambda k: (0.0, off[k]) if whole[k] and spans[k].max() >= big
                   else (1.0, -float(shown[k].max())))
    return [items[k] for k in order]


def _by_reference(image: np.ndarray) -> np.ndarray:
    """`image` as MediaPipe takes it without a copy: contiguous and read-only (it copies a writable array,
    2.7 MB for a 720p frame, each call)."""
    view = np.ascontiguousarray(image).view()
    view.flags.writeable = False
    return view


# a NormalizedLandmark as the mesh serialises it: field 1 of the list (tag 0x0a), 15 bytes long, holding
# x, y, z as float32 (tags 0x0d, 0x15, 0x1d) and nothing else
_LANDMARK_WIRE = np.dtype([("tag", "u1"), ("size", "u1"), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                           ("tz", "u1"), ("z", "<f4")])
_LANDMARK_TAGS = (0x0A, 0x0F, 0x0D, 0x15, 0x1D)


def landmark_array(landmarks) -> np.ndarray:
    """(N, 3) float32 x, y, z of a NormalizedLandmarkList. Read from its wire format in one step: the Python
    loop over 478 protobuf messages cost ~0.2 ms a frame; the floats are the same ones either way. A list
    serialised any other way (visibility or presence set) takes the loop."""
    data = landmarks.SerializeToString()
    if len(data) % _LANDMARK_WIRE.itemsize == 0:
        rec = np.frombuffer(data, _LANDMARK_WIRE)
        if len(rec) == len(landmarks.landmark) > 0 and all(
                (rec[k] == v).all() for k, v in zip(("tag", "size", "tx", "ty", "tz"), _LANDMARK_TAGS)):
            return np.stack([rec["x"], rec["y"], rec["z"]], 1)
    return np.array([(p.x, p.y, p.z) for p in landmarks.landmark], dtype=np.float32)


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


_warm = False  # MediaPipe logs its first face once per process: that happened inside a quiet start


def _warm_up(mesh, detector) -> None:
    """Run each graph once, so the log lines of their start-up (and of the first face) happen now."""
    global _warm
    blank = np.zeros((64, 64, 3), np.uint8)
    if not _warm:
        mesh.process(np.ascontiguousarray(astronaut()[40:300, 110:370]))
        _warm = True
    mesh.process(blank)  # a frame without a face also ends the tracking that the face started
    detector.process(blank)


class FaceTracker(StageBase):
    provides = ("faces",)
    own_thread = True

    def __init__(self, cfg: TrackerConfig = TrackerConfig(), *, static: bool = False):
        self.cfg = cfg
        self.static = static
        sol = _mediapipe()
        with native_logs_quieted():
            self._mesh = sol.face_mesh.FaceMesh(
                static_image_mode=static,
                max_num_faces=cfg.max_faces,
                refine_landmarks=True,
                min_detection_confidence=cfg.min_detection_confidence,
                min_tracking_confidence=cfg.min_tracking_confidence,
            )
            # finds a still's faces; in video FaceMesh reports no score, so it scores each new track once
            self._detector = sol.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.2)
            _warm_up(self._mesh, self._detector)
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        self._tracks.clear()

    def close(self) -> None:
        self._mesh.close()
        self._detector.close()

    def detect(self, image: np.ndarray,
               detections: list[tuple[np.ndarray, float]] | None = None) -> list[np.ndarray]:
        """Raw landmarks (N, 478, 3) in image pixels for an RGB uint8 image; on a still, max_faces faces, the
        subject first, then the largest (`detections`: the detector's answer for this image, if known)."""
        faces = self._mesh_landmarks(self._downscaled(image), image.shape)
        if not self.static:
            return faces
        if detections is None:
            detections = self._detections(image, tiled=True)
        boxes = [box for box, score in detections if score >= self.cfg.min_detection_confidence]
        for box in _subject_first(boxes, lambda b: b.reshape(2, 2), image.shape)[: self.cfg.max_faces]:
            if not any(_inside(f[:, :2].mean(0), box) for f in faces):
                faces += self._mesh_in(image, box, faces)
        return _subject_first(faces, lambda f: f[:, :2], image.shape)[: self.cfg.max_faces]

    def _downscaled(self, image: np.ndarray) -> np.ndarray:
        """Huge frames are looked at downscaled; normalised results map back to full resolution."""
        h, w = image.shape[:2]
        scale = min(1.0, self.cfg.max_input_side / max(h, w))
        if scale == 1.0:
            return image
        return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)

    def _mesh_landmarks(self, image: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
        """The mesh's faces in `image`, in pixels of an image of `shape` that it is a scaled copy of."""
        h, w = shape[:2]
        res = self._mesh.process(_by_reference(image))
        out = []
        for lm in res.multi_face_landmarks or ():
            pts = landmark_array(lm)
            pts *= np.array([w, h, w], np.float32)
            out.append(pts)
        return out

    def _mesh_in(self, image: np.ndarray, box: np.ndarray, taken: list[np.ndarray]) -> list[np.ndarray]:
        """The mesh on a crop around a detector box: the face in it, unless it is one already `taken`."""
        center = (box[:2] + box[2:]) / 2
        side = CROP_SCALE * max(box[2] - box[0], box[3] - box[1])
        size = int(min(CROP_MAX, round(side)))
        s = size / side
        # image → crop: scale about the box centre, which lands in the middle of the crop
        to_crop = np.array([[s, 0, size / 2 - s * center[0]], [0, s, size / 2 - s * center[1]]], np.float32)
        crop = cv2.warpAffine(image, to_crop, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        for pts in self._mesh_landmarks(crop, crop.shape):
            pts[:, :2] = (pts[:, :2] - to_crop[:, 2]) / s
            pts[:, 2] /= s
            mid = pts[:, :2].mean(0)
            # the mesh may have latched onto a neighbour that reaches into the crop
            if _inside(mid, box) and not any(np.linalg.norm(t[:, :2].mean(0) - mid) < 0.5 * face_size(t)
                                             for t in taken):
                return [pts]
        return []

    def _detections(self, image: np.ndarray, tiled: bool = False) -> list[tuple[np.ndarray, float]]:
        """The detector's boxes (x0, y0, x1, y1 in pixels of `image`) and scores over the whole image; when
        `tiled` and that found fewer than max_faces, over half-overlapping TILE-sized tiles too (a face
        seen in two places is kept once)."""
        small = self._downscaled(image)
        h, w = small.shape[:2]
        k = image.shape[1] / w
        found = self._detect_in(small, (0, 0, w, h), k)
        if tiled and max(w, h) > TILE and len(found) < self.cfg.max_faces:
            for y in _starts(h):
                for x in _starts(w):
                    found += self._detect_in(small, (x, y, min(x + TILE, w), min(y + TILE, h)), k)
        return _suppress(found)

    def _detect_in(self, image: np.ndarray, window: tuple[int, int, int, int],
                   k: float) -> list[tuple[np.ndarray, float]]:
        """The detector's boxes in `window` of `image`, scaled by k."""
        x0, y0, x1, y1 = window
        tw, th = x1 - x0, y1 - y0
        out = []
        for det in self._detector.process(_by_reference(image[y0:y1, x0:x1])).detections or ():
            b = det.location_data.relative_bounding_box
            box = np.array([x0 + b.xmin * tw, y0 + b.ymin * th, x0 + (b.xmin + b.width) * tw,
                            y0 + (b.ymin + b.height) * th]) * k
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
        # the detector runs at most once a frame: on a still for every face, in video for a new track only
        detections = self._detections(frame.image, tiled=True) if self.static else None
        sized = ((p, face_size(p)) for p in self.detect(frame.image, detections))
        raw = [(p, size) for p, size in sized if size >= self.cfg.min_face_px]
        if self.static:
            self._tracks.clear()
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= self.cfg.max_track_gap_s]
        faces = []
        free = list(self._tracks)
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
