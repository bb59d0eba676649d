"""Compositor stage: paste edited crops back into the frame through a feathered face mask.

The blend weight is the face hull (eroded, blurred) times the editor's mask. Pixels where it is zero are
copied from the input untouched, so an empty edit returns the input frame itself.
"""
from __future__ import annotations

import cv2
import numpy as np

from .config import CompositorConfig
from .landmarks import FACE_OVAL
from .stage import StageBase
from .types import FaceSample, Packet


def hull_mask(landmarks: np.ndarray, size: int, cfg: CompositorConfig) -> np.ndarray:
    """Face hull in crop pixels, eroded so the seam stays on skin, then feathered; float32 in [0, 1]."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(landmarks[list(FACE_OVAL), :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    face = float(np.ptp(landmarks[:, :2], 0).max())
    erode = max(1, int(round(cfg.erode_frac * face)))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    sigma = max(0.5, cfg.feather_frac * face / 2.0)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)


def match_colors(edited: np.ndarray, original: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Reinhard transfer in Lab: give the edit the original's mean and spread inside the mask."""
    w = weight[..., None].astype(np.float32)
    total = float(w.sum())
    if total < 1.0:
        return edited
    a = cv2.cvtColor(edited, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = cv2.cvtColor(original, cv2.COLOR_RGB2LAB).astype(np.float32)
    ma, mb = (a * w).sum((0, 1)) / total, (b * w).sum((0, 1)) / total
    sa = np.sqrt(((a - ma) ** 2 * w).sum((0, 1)) / total) + 1e-3
    sb = np.sqrt(((b - mb) ** 2 * w).sum((0, 1)) / total) + 1e-3
    out = np.clip((a - ma) * (sb / sa) + mb, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_LAB2RGB)


class Compositor(StageBase):
    requires = ("aligned", "edit")
    provides = ("output",)

    def __init__(self, cfg: CompositorConfig = CompositorConfig()):
        self.cfg = cfg

    def paste(self, image: np.ndarray, sample: FaceSample) -> np.ndarray:
        """Blend one face's edit into `image` in place; returns image."""
        edit, aligned = sample.edit, sample.aligned
        if edit is None or aligned is None or not edit.mask.any():
            return image
        size = aligned.size
        weight = hull_mask(aligned.landmarks, size, self.cfg) * edit.mask
        crop = match_colors(edit.crop, aligned.crop, weight) if self.cfg.color_match else edit.crop
        # warp only the bounding box of the crop's footprint in the frame
        h, w = image.shape[:2]
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        foot = corners @ aligned.to_image[:, :2].T + aligned.to_image[:, 2]
        x0, y0 = np.floor(foot.min(0)).astype(int)
        x1, y1 = np.ceil(foot.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0:
            return image
        m = aligned.to_image.copy()
        m[:, 2] -= (x0, y0)
        roi = (x1 - x0, y1 - y0)
        alpha = cv2.warpAffine(weight, m, roi, flags=cv2.INTER_LINEAR, borderValue=0)
        pasted = cv2.warpAffine(crop, m, roi, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        region = image[y0:y1, x0:x1]
        touched = alpha > 1.0 / 512  # below half a grey level the blend cannot change a pixel
        a = alpha[touched][:, None]
        region[touched] = np.clip(region[touched] * (1.0 - a) + pasted[touched] * a + 0.5, 0, 255).astype(np.uint8)
        return image

    def process(self, packet: Packet) -> Packet:
        image = packet.frame.image
        if any(s.edit is not None and s.edit.mask.any() for s in packet.faces):
            image = image.copy()
            for s in packet.faces:
                self.paste(image, s)
        return packet.with_(output=image)
