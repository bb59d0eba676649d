"""Occlusion stage: what in front of a face hides it, as a mask over the aligned crop, every frame.

Hands, microphones, sleeves and the like must be neither warped nor painted. The stage reads the crop at
a low resolution (`occlusion.size`, 64² by default) in Lab colour and compares every pixel of the face
with the person's own skin tone: the Lab hue of the cheeks, forehead and nose bridge, sampled at mesh
landmarks and averaged per track over about a second. A colour far from that hue (measured across the
hue range, in Lab units) is something in front of the face; redder (lips, flushed skin) and yellower
(fair skin in warm light) hues within the configured range are skin, and so is anything grey, black or
white, which is how beards, brows, hair, teeth, the mouth's inside and shadows look. The eyes are never
occluders (blue and green irises), and neither is skin in coloured light (a blue stage light over half
the face): a hue region through which the lips still show redder than the region itself is lit skin,
since an object in front would hide them. A second cue finds what the hue cannot: where the mesh says
lips must be, lips are darker or redder than the skin; where both lips of a column look like skin,
something skin-coloured (a hand) lies over the mouth. The mask is grown by a margin so that the
occluder's own soft edge is inside it, and `hide_occluded` takes it out of an edit: the edit leaves
occluder pixels as they are, and no moved pixel shows what an occluder covered at its source, so nothing
is dragged across the face.

What colour can separate, and what it cannot:
- separated: anything of a clearly different hue from the skin (blue, green, cyan or purple objects,
  most clothing, coloured microphones and headsets, gloves) and a few pixels of the low-resolution read
  wide (thin coloured glasses frames blend into the skin around them);
- only over the lips: skin-coloured occluders (a hand is the person's own skin tone); the rest of such
  a hand is edited with the face;
- not separated: red ones (they pass as lips, and so does a hand redder than the face), and grey, black
  or white ones (black glasses frames, black or metal microphones, white paper), which look like hair,
  beard or teeth; a greyscale picture has no hue and gives no occluders at all. Hair over the face is
  separated only where its hue differs from the skin's (dyed hair).
MediaPipe's selfie segmentation (in the mediapipe wheel) was tried and not used: it separates a person
from the background and calls a patch held over the mouth "person" (p = 1.0).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..config import OcclusionConfig
from ..pipeline.stage import StageBase
from ..pipeline.types import AlignedFace, Edit, Packet
from .landmarks import FACE_OVAL, LEFT_EYE, LIPS_OUTER, RIGHT_EYE

# cheeks, forehead and nose bridge: skin on almost every face, away from brows, beard and hairline
SKIN_SAMPLES = (117, 346, 50, 280, 101, 330, 118, 347, 123, 352, 205, 425, 36, 266, 187, 411,
                151, 108, 337, 9, 6, 197, 195)
# a skin tone with less chroma than this (Lab) is a greyscale picture: there is no hue to go by
MIN_TONE_CHROMA = 4.0
# the lips at five columns across the mouth, upper and lower: (outer, inner) landmark pairs whose midpoint
# lies on the lip's body
LIP_COLUMNS = (((39, 81), (181, 178)), ((37, 82), (84, 87)), ((0, 13), (17, 14)), ((267, 312), (314, 317)),
               ((269, 311), (405, 402)))
# a lip is darker or redder than the person's skin by more than this (Lab units; on the shared faces and
# clips the upper lip is always by 7 or more); where both lips of a column are not, something
# skin-coloured lies over the mouth
LIP_CONTRAST = 3.5
# lips are redder (R/G) than the skin beside them under any light, which scales both alike: a hue region
# on or beside at least this many of the lip columns' samples, every one of them redder than the region off
# the lips, is coloured light on the skin; an object in front gives the lips it covers its own colour
# (a striped patch over half the mouth: its lips 0.15–0.3 below the patch's median log R/G, a blue stage
# light's lips 0.12–0.8 above)
MIN_LIT_LIPS = 3
# other regions within this of a lit region's colour (Lab a, b) are skin in the same light (the blue stage
# light's patch by the nose is 7 from the cheek it lights)
SAME_LIGHT = 10.0
_LIP_PAIRS = np.array(LIP_COLUMNS)
_AROUND = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1]), axis=-1).reshape(1, 9, 2)


@dataclass(frozen=True)
class SkinTone:
    """The person's skin colour as a Lab (a, b) chroma vector, and when it was last seen (pts seconds)."""

    ab: np.ndarray
    time: float


def not_skin(lab: np.ndarray, tone: np.ndarray, cfg: OcclusionConfig) -> np.ndarray:
    """Per pixel, how surely it is not skin of this tone, in [0, 1]: its chroma across the skin's hue range."""
    a, b = lab[..., 1], lab[..., 2]
    chroma = np.hypot(a, b)
    # hue relative to the skin's, wrapped to (−180°, 180°]
    rel = np.degrees(np.arctan2(b * tone[0] - a * tone[1], a * tone[0] + b * tone[1]))
    outside = np.maximum(np.maximum(rel - cfg.hue_above, -cfg.hue_below - rel), 0.0)
    distance = chroma * np.sin(np.radians(np.minimum(outside, 90.0)))
    t = np.clip((distance - cfg.min_distance) / max(cfg.full_distance - cfg.min_distance, 1e-6), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def covered_lips(lab: np.ndarray, pts: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """1 over the columns of the mouth where both lips look like skin (`skin`: its Lab): a skin-coloured
    occluder (a hand) that the hue cannot tell from the face, found where the face must show lips."""
    n = lab.shape[0]
    out = np.zeros((n, n), np.float32)
    lips = _sample(lab, _lip_middles(pts).reshape(-1, 2)).reshape(len(_LIP_PAIRS), 2, 3)
    lipness = np.maximum(skin[0] - lips[..., 0], lips[..., 1] - skin[1])
    covered = np.flatnonzero(np.all(lipness < LIP_CONTRAST, axis=1))
    if len(covered):
        # the covered columns, from the upper lip's top to the lower lip's bottom, a column wide
        width = max(1, int(round(np.linalg.norm(pts[_LIP_PAIRS[-1, 0, 0]] - pts[_LIP_PAIRS[0, 0, 0]]) / 4)))
        for top, bottom in pts[_LIP_PAIRS[covered, :, 0]]:
            cv2.line(out, tuple(np.round(top * 16).astype(int)), tuple(np.round(bottom * 16).astype(int)), 1.0,
                     width, shift=4)
    return out


def off_the_lips(hue: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """`hue` (not_skin over the low-resolution crop) without its regions that lie wholly on the lips (a pixel of
    the read's blur around them): lipstick of any hue (purple, blue) is no occluder, while anything in front
    of the mouth reaches past the lips."""
    found = (hue > 0).astype(np.uint8)
    if not found.any():
        return hue
    lips = _lips(pts, hue.shape[0])
    count, labels = cv2.connectedComponents(found, connectivity=8)
    reach = labels[(found > 0) & (cv2.dilate(lips, np.ones((3, 3), np.uint8)) == 0)]
    return hue * _among(labels, count, reach)


def lit_skin(hue: np.ndarray, lab: np.ndarray, rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """`hue` without its regions through which the lips still show redder than the region itself: skin in
    coloured light (a blue stage light over half a face), where an object in front would hide the lips;
    and without the regions of that lit skin's colour that do not reach the lips (the same light)."""
    n = hue.shape[0]
    mid = np.round(_lip_middles(pts)).astype(int).reshape(-1, 1, 2)
    # each lip sample with the pixels around it: a region there lies on or borders that lip (at 64² a
    # lip's middle is a pixel or two from its edge)
    around = np.clip(mid + _AROUND, 0, n - 1)
    if not hue[around[..., 1], around[..., 0]].any():
        return hue
    count, labels = cv2.connectedComponents((hue > 0).astype(np.uint8), connectivity=8)
    near = labels[around[..., 1], around[..., 0]].max(axis=1)
    reached, times = np.unique(near[near > 0], return_counts=True)
    if not (times >= MIN_LIT_LIPS).any():
        return hue
    at = np.clip(mid[:, 0], 0, n - 1)
    lips = _lips(pts, n)
    redness = np.log((rgb[..., 0] + np.float32(1)) / (rgb[..., 1] + np.float32(1)))
    lit = []
    for label in reached[times >= MIN_LIT_LIPS]:
        skin = (labels == label) & (lips == 0)
        seen = at[near == label]
        if skin.any() and redness[seen[:, 1], seen[:, 0]].min() > np.median(redness[skin]):
            lit.append(np.median(lab[skin][:, 1:], axis=0))
    if not lit:
        return hue
    colours = np.array([np.median(lab[labels == label][:, 1:], axis=0) for label in range(1, count)])
    gone = np.linalg.norm(colours[:, None] - np.array(lit)[None], axis=2).min(axis=1) <= SAME_LIGHT
    return hue * ~_among(labels, count, np.flatnonzero(gone) + 1)


def _lip_middles(pts: np.ndarray) -> np.ndarray:
    """(columns, upper/lower, 2): the middle of each lip column's lip, between its outer and inner point."""
    return 0.5 * (pts[_LIP_PAIRS[..., 0]] + pts[_LIP_PAIRS[..., 1]])


def _lips(pts: np.ndarray, n: int) -> np.ndarray:
    """(n, n) uint8: 1 inside the outer lip outline."""
    lips = np.zeros((n, n), np.uint8)
    cv2.fillPoly(lips, [np.round(pts[list(LIPS_OUTER)] * 16).astype(np.int32)], 1, shift=4)
    return lips


def _among(labels: np.ndarray, count: int, chosen: np.ndarray) -> np.ndarray:
    """Per pixel of a connected-components `labels` image (labels 0..count-1), whether its label is one of
    `chosen`: a table lookup, a third of np.isin's time."""
    table = np.zeros(count, bool)
    table[chosen] = True
    return table[labels]


def _sample(lab: np.ndarray, points: np.ndarray) -> np.ndarray:
    p = np.clip(np.round(points).astype(int), 0, lab.shape[0] - 1)
    return lab[p[:, 1], p[:, 0]]


_LAB8_OFFSET = np.float32([0, 128, 128])
_SKIN_AT = np.array(SKIN_SAMPLES)
assert len(SKIN_SAMPLES) % 2, "the skin's median is read as the middle sample"


class OcclusionStage(StageBase):
    requires = ("aligned",)
    provides = ("occlusion",)

    def __init__(self, cfg: OcclusionConfig = OcclusionConfig()):
        self.cfg = cfg
        self._tones: dict[int, SkinTone] = {}

    def reset(self) -> None:
        self._tones.clear()

    def occluded(self, aligned: AlignedFace, track_id: int = 0, t: float = 0.0) -> np.ndarray:
        """(S, S) float32 in [0, 1]: 1 where something in front of the face hides it."""
        size, n = aligned.size, self.cfg.size
        small = cv2.resize(aligned.crop, (n, n), interpolation=cv2.INTER_AREA)
        # 8-bit Lab (a table lookup, several times cheaper than float): L scaled to 0–255, a and b offset by 128
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32) - _LAB8_OFFSET
        lab[..., 0] *= np.float32(100 / 255)
        # landmarks at the low resolution (pixel centres stay centres)
        pts = (aligned.landmarks[:, :2] + 0.5) * (n / size) - 0.5
        # their median, as np.median has it for an odd count (the middle value), by a sort: 1.3 against 16 us
        skin = np.sort(_sample(lab, pts[_SKIN_AT]), axis=0)[len(SKIN_SAMPLES) // 2]
        tone = self._tone(track_id, t, skin[1:])
        out = np.zeros((size, size), np.float32)
        if np.hypot(*tone) < MIN_TONE_CHROMA:
            return out
        face = np.zeros((n, n), np.uint8)
        cv2.fillPoly(face, [np.round(pts[list(FACE_OVAL)] * 16).astype(np.int32)], 1, shift=4)
        for eye in (RIGHT_EYE, LEFT_EYE):
            cv2.fillPoly(face, [np.round(pts[list(eye)] * 16).astype(np.int32)], 0, shift=4)
        # the outline runs along the background's edge: what is found there counts only as part of
        # something that reaches into the face, a pixel or more in from it (a hand, not the wall behind)
        near = cv2.dilate(face, np.ones((5, 5), np.uint8))
        hue = lit_skin(off_the_lips(not_skin(lab, tone, self.cfg) * near, pts), lab, small, pts)
        hidden = np.maximum(hue, covered_lips(lab, pts, skin) * near)
        if not hidden.any():
            return out
        found = (hidden > 0).astype(np.uint8)
        count, labels = cv2.connectedComponents(found, connectivity=8)
        inside = labels[(found > 0) & (cv2.erode(face, np.ones((3, 3), np.uint8)) > 0)]
        if not inside.size:
            return out
        hidden *= _among(labels, count, inside)
        up = cv2.resize(hidden, (size, size), interpolation=cv2.INTER_LINEAR)
        grow = max(1, int(round(self.cfg.grow_frac * size)))
        return cv2.dilate(up, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))

    def _tone(self, track_id: int, t: float, seen: np.ndarray) -> np.ndarray:
        """The track's skin tone: an exponential average over time, restarted after a gap."""
        last = self._tones.get(track_id)
        if last is not None and 0 <= t - last.time <= 4 * self.cfg.tone_halflife_s:
            keep = 0.5 ** ((t - last.time) / max(self.cfg.tone_halflife_s, 1e-6))
            seen = keep * last.ab + (1 - keep) * seen
        self._tones[track_id] = SkinTone(seen, t)
        return seen

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time
        return packet.map_faces(lambda s: s.with_(occluded=self.occluded(s.aligned, s.face.track_id, t)))


def hide_occluded(edit: Edit, crop: np.ndarray, occluded: np.ndarray | None) -> Edit:
    """The edit without what it would do to occluders: their pixels keep their value, and a moved pixel
    whose source an occluder covered keeps its own (the occluder is not dragged over the face)."""
    if occluded is None or not cv2.hasNonZero(edit.mask) or not cv2.hasNonZero(occluded):
        return edit
    keep = 1.0 - occluded
    if edit.warp is not None:
        # what each output pixel samples (the warp's backward flow, relative to the pixel)
        under = cv2.remap(occluded, edit.warp.flow[0], edit.warp.flow[1], cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        keep *= 1.0 - under
    mask = edit.mask * keep
    out = np.where((mask > 0)[..., None], edit.crop, crop)
    return replace(edit, crop=out, mask=mask.astype(np.float32))
