"""The rig editor: training-free AU editing by moving the person's own pixels along a FACS motion basis.

edit(): AU change (target − source) → per-AU coefficients → moved mesh in the canonical frame
(rig.deform) → dense backward flow → cv2.remap of the crop → fills for what the warp exposes (the
person's remembered texture when there is one, procedural otherwise) → soft change mask. Everything
outside the mask is the input crop, bit for bit; a zero edit returns the crop itself with an empty mask.

The flow uses the convention of the engines' `warp_blend` graph, so an engine can take over the warp and
blend: `flow` (2, S, S), `fill` and `fill_mask` are what `RigEditor.plan()` returns.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import cv2
import numpy as np

from ...engines import load
from ...engines.warp_blend import to_nchw
from .appearance import Appearance, Shading, laid_over, load_appearance
from .basis import Basis, gates, lids_shut, load_basis

from .deform import NARROWED_MIN, Deformation, HoleLayer, deform, dense_flow, index, points_box, union, warm
from .flow import warp, warped_crop
from .silhouette import soft_edges, warm as warm_edges
from .mesh import HOLE_CHAINS, HOLES, crop_mesh, hole_triangles
from .solve import coefficients, narrowed, smile_share
from . import lips
from .eyes import drawn, eye_fill, lid_margin, margins, upper_lid, warm as warm_eyes
from .fills import light, skin, warm as warm_fills
from .iris import iris
from .memory import TextureMemory, openness, recall
from .mouth import (TEETH_LUMA, curtains, deep, mouth_geometry, opening_flow, palette, placement, retracted, rim_flow,
                    stretched, teeth_visible, warm as warm_mouth)
from .teeth import interior, upright, warm as warm_teeth
from ...imaging import luma, match_color
from ...jit import compiled
from ...stages.landmarks import LIPS_OUTER, interocular
from ...pipeline.types import AU_INDEX, Edit, Warp
from ..base import EDITORS, EditRequest, unchanged

# flow magnitude (px) at which the change mask reaches 1: below it warped and original pixels differ
# by less than the interpolation itself
MASK_FULL_PX = 0.5
# inner-lip gap (IOD) from which a source mouth counts as open, its inside worth continuing
OPEN_MOUTH_IOD = 0.04
# a pasted closed mouth or eye fades in over this much of its edge (IOD)
REGION_FEATHER_IOD = 0.04
# lips this close (px) all along the mouth are sealed: nothing is drawn between them
SEALED_PX = 0.5
# forget a track's memory when it has not been seen for this long (seconds of pts)
MEMORY_TTL_S = 5.0
_AU12 = AU_INDEX["AU12"]


@dataclass(frozen=True)
class Plan:
    """One edit before pixels are touched: the flow, the fills and the box they all live in."""

    flow: np.ndarray          # (2, S, S) float32
    fill: np.ndarray          # (S, S, 3) float32, meaningful where fill_mask > 0
    fill_mask: np.ndarray     # (S, S) float32 in [0, 1]
    box: tuple[int, int, int, int]
    meta: Mapping[str, str]
    warped: np.ndarray        # (S, S, 3) uint8: the crop through the flow (flow.warped_crop)
    shading: Shading | None = None    # the ratio image the result is multiplied by (rig.appearance)
    painted: np.ndarray | None = None   # (S, S) float32: the share of the fill painted (Warp.painted)


@EDITORS.register("rig")
class RigEditor:
    """Warp-based AU editor. A request's `side` makes every change unilateral (contempt: R12+R14)."""

    needs_au = True

    def __init__(self, *, basis: Basis | None = None, memory: bool = True, backend: str = "auto",
                 appearance: bool | None = None):
        self.basis = basis or load_basis()
        self.use_memory = memory
        # creases, bulges and folds per AU; None: as configs/appearance.yaml's `enabled` says
        cfg = load_appearance()
        self.appearance = Appearance(cfg) if (cfg.enabled if appearance is None else appearance) else None
        if self.appearance is not None:
            self.appearance.warm()
        self._memory: dict[int, tuple[TextureMemory, float]] = {}
        _warm(self.basis)
        # the warp+blend step through the engine layer; the OpenCV path is the same op limited to the
        # edited box, which is what `auto` measures fastest on a CPU
        engine = load("warp_blend", backend=backend) if backend != "opencv" else None
        if engine is not None and engine.backend == "opencv":
            engine.close()
            engine = None
        self._engine = engine

    def reset(self) -> None:
        self._memory.clear()
        if self.appearance is not None:
            self.appearance.reset()

    def close(self) -> None:
        self.reset()
        if self._engine is not None:
            self._engine.close()

    def memory(self, track_id: int, t: float) -> TextureMemory:
        self._memory = {k: v for k, v in self._memory.items() if t - v[1] <= MEMORY_TTL_S and v[1] <= t}
        mem = self._memory.get(track_id, (TextureMemory(), t))[0]
        self._memory[track_id] = (mem, t)
        return mem

    def edit(self, req: EditRequest) -> Edit:
        right, left = coefficients(req.source, req.target, self.basis, req.side)
        return self.apply(req, right, left)

    def apply(self, req: EditRequest, right: np.ndarray, left: np.ndarray) -> Edit:
        """Edit with explicit per-side basis coefficients (each (17,)), bypassing the AU solve."""
        mem = self.memory(req.track_id, req.time) if self.use_memory else TextureMemory()
        # the source's inner-lip gap and eye aperture: the memory, the mouth's fill and the closing regions read them
        opened = openness(req.landmarks)
        # a hand over the mouth is not the person's closed mouth: occluded frames are not remembered
        if self.use_memory and (req.occluded is None or not req.occluded.any()):
            mem.observe(req.crop, req.landmarks, opened)
        plan = self.plan(req, right, left, mem, opened)
        if plan is None:
            return unchanged(req.crop)
        return self.render(req.crop, plan)

    def _blended(self, crop: np.ndarray, plan: Plan) -> np.ndarray | None:
        """The engine's warp(crop)·(1 − fill_mask) + fill·fill_mask over the plan's box, uint8 (the warp_blend op);
        None without an engine: the OpenCV path is the warp alone, _settle lays the fill as it settles the box."""
        if self._engine is None:
            return None
        x0, y0, x1, y1 = plan.box
        out = self._engine.run({"crop": to_nchw(crop)[None], "flow": plan.flow[None],
                                "mask": plan.fill_mask[None, None],
                                "fill": plan.fill.transpose(2, 0, 1)[None] / np.float32(255)})["out"][0]
        return np.clip(out[:, y0:y1, x0:x1].transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)

    def plan(self, req: EditRequest, right: np.ndarray, left: np.ndarray, mem: TextureMemory,
             opened: tuple[float, float]) -> Plan | None:
        """Geometry and fills for one request (`opened`: its landmarks' `openness`); None when nothing would change."""
        smile = smile_share(req.source, req.target, req.rest)
        # a whole-face target without a smile takes away one the reading missed even when no AU changes
        # (deform.SMILE_UNREAD: `neutral` on a turned, smirking face that reads AU12 0)
        if not (np.any(right) or np.any(left) or (smile > 0 and req.target.values[_AU12] <= 0)):
            return None
        size = req.crop.shape[0]
        d = deform(req.landmarks, right, left, self.basis, size, smile, lids_shut(req.target),
                   narrowed(req.source, NARROWED_MIN), gates(req.target))
        iod = d.iod
        flow, holes, moving = dense_flow(d, size)
        box = moving
        fill = np.zeros((size, size, 3), np.float32)
        fill_mask = np.zeros((size, size), np.float32)
        painted = np.zeros((size, size), np.float32)
        used = set()
        lips_at = d.dst
        if moving is not None:
            for hole in holes:
                if hole.name == "mouth":
                    src, mouth_box, lips_at = _fill_mouth(req, d, flow, hole, mem, fill, fill_mask, painted,
                                                          opened[0], iod)
                    used.update(src.split("+"))
                    box = union(box, mouth_box)
                else:
                    used.update(_fill_hole(req, d, flow, hole, mem, fill, fill_mask).split("+"))
            for name, region_box in _replace_regions(req, d, mem, fill, fill_mask, painted, opened):
                used.add(name)
                box = union(box, region_box)
        # the flow is final, and zero outside `box`: the crop through it, warped once for the shading, the lips'
        # pallor, the soft edges and the render (each had warped its own box again)
        warped = warped_crop(req.crop, flow, box)
        # the shading reads what it multiplies: the crop through the flow the lips settled and the fills laid
        # over it (read before them, a mouth corner the lips' corner tails had already lifted to skin was
        # lifted again by the dark lip corner's ratio, a yellow-green dot: sample1_face1's neutral)
        shading = (self.appearance.shading(req.crop, d, flow, moving, *_smile_taken(right, left, d),
                                           (req.track_id, req.time), (fill, fill_mask), warped)
                   if self.appearance else None)
        # a smile's upper lip stretched pale over the teeth (lips.paled), with the rest of the shading
        smile_up = float(max(right[_AU12], left[_AU12]))
        pale = (lips.paled(d.src, lips_at, iod, size, smile_up, skin(req.crop, req.landmarks),
                           lambda at: laid_over(warped, (fill, fill_mask), at)) if smile_up > 0 else None)
        if pale is not None:
            shading = _times(shading, *pale, size)
        if shading is not None:
            box = shading.box if box is None else union(box, shading.box)
        if box is None:
            return None
        edges = soft_edges(warped, flow, box, holes, d.dst[index(LIPS_OUTER)])
        if edges is not None:
            _paste(fill, fill_mask, edges[2], edges[0], edges[1])
            _mark(painted, edges[2], edges[1])
            box = union(box, edges[2])
        used.discard("")
        meta = {"editor": "rig", "fill": "+".join(sorted(used)) if used else "none",
                "fold_scale": f"{d.scale:.2f}", "side": req.side}
        return Plan(flow=flow, fill=fill, fill_mask=fill_mask, box=box, meta=meta, shading=shading, painted=painted,
                    warped=warped)

    def render(self, crop: np.ndarray, plan: Plan) -> Edit:
        """(warp(crop)·(1 − fill_mask) + fill·fill_mask)·shade inside the plan's box; the input elsewhere."""
        x0, y0, x1, y1 = plan.box
        out = crop.copy()
        mask = np.zeros(crop.shape[:2], np.float32)
        shade = plan.shading.image if plan.shading is not None else None
        blended = self._blended(crop, plan)
        seen = np.ascontiguousarray(plan.warped[y0:y1, x0:x1]) if blended is None else blended
        _settle(out, mask, seen, x0, y0, plan.flow, plan.fill, plan.fill_mask, _NO_SHADE if shade is None else shade,
                blended is None)
        return Edit(crop=out, mask=mask, meta=plan.meta, warp=Warp(plan.flow, plan.fill, plan.fill_mask, shade, plan.painted))


# what _settle reads where an edit has no shading
_NO_SHADE = np.ones((1, 1, 3), np.float32)


@compiled
def _settle(out, mask, blended, x0, y0, flow, fill, fill_mask, shade, mix):  # pragma: no cover (compiled)
    """The blended pixels (the plan's box from (x0, y0)) × the shade (rounded, as cv2.multiply) into `out`
    wherever they change, and the change `mask`: 1 from MASK_FULL_PX of flow, where the fill lies, and wherever
    the shade is not 1 (a (1, 1, 3) `shade` stands for none). With `mix`, `blended` is the warp alone and the
    fill is laid over it here where fill_mask > 0: (fill − warped)·mask + warped + ½ in float32, clipped to
    0 … 255 and truncated, numpy's steps in its order (every such pixel changes). Whole crops in, so their
    layouts never vary."""
    shaded = shade.shape[0] > 1
    h, w = blended.shape[0], blended.shape[1]
    for by in range(h):
        # rows as views from x0, indexed from 0: no check for negative indices per pixel
        y = y0 + by
        fxs, fys, ms, fills = flow[0, y, x0:x0 + w], flow[1, y, x0:x0 + w], fill_mask[y, x0:x0 + w], fill[y, x0:x0 + w]
        row, changes, bs = out[y, x0:x0 + w], mask[y, x0:x0 + w], blended[by]
        shades = shade[y, x0:x0 + w] if shaded else shade[0]
        for x in range(w):
            fx, fy, m = fxs[x], fys[x], ms[x]
            change = max(min(np.sqrt(fx * fx + fy * fy) * np.float32(1 / MASK_FULL_PX), np.float32(1)), m)
            if shaded and (shades[x, 0] != 1 or shades[x, 1] != 1 or shades[x, 2] != 1):
                change = np.float32(1)
            changes[x] = change
            if change > 0:
                for k in range(3):
                    b = np.float32(bs[x, k])
                    if mix and m > 0:
                        b = np.float32(np.uint8(min(max((fills[x, k] - b) * m + b + np.float32(0.5), np.float32(0)),
                                                    np.float32(255))))
                    v = b * shades[x, k] if shaded else b
                    row[x, k] = np.uint8(min(max(np.rint(v), 0), 255))


_warmed = False


def _warm(basis: Basis) -> None:
    """Compile (or load) the compiled loops once per process, not per editor: numba keeps them."""
    global _warmed
    if _warmed:
        return
    warm(basis)
    warm_eyes()
    warm_teeth()
    warm_edges()
    warm_mouth()
    warm_fills()
    lips.warm()
    # the fills' loops for a box of a fill, as plan() and render run them
    fill, fill_mask = np.zeros((2, 3, 3), np.float32), np.zeros((2, 3), np.float32)
    _paste(fill, fill_mask, (0, 0, 2, 2), np.zeros((2, 2, 3), np.float32), np.zeros((2, 2), np.float32))
    _settle(np.zeros((2, 2, 3), np.uint8), fill_mask[:, :2].copy(), np.zeros((1, 1, 3), np.uint8), 0, 0,
            np.zeros((2, 2, 2), np.float32), fill[:, :2].copy(), fill_mask[:, :2].copy(), _NO_SHADE, True)
    _warmed = True


def _smile_taken(right: np.ndarray, left: np.ndarray, d: Deformation) -> tuple[np.ndarray, np.ndarray]:
    """The per-side AU changes with AU12 falling as far as the deformation took the mouth's smile away, if
    further than the reading: a still's reading of a smile depends on the face's proportions, and a closed
    smile read at AU12 1.3 (sample faces) came down to rest twice as far while its creases were lifted as
    for a hint of one."""
    out = []
    for change, taken in zip((right, left), d.smile):
        if -taken < change[_AU12] <= 0 < taken:
            change = change.copy()
            change[_AU12] = -taken
        out.append(change)
    return out[0], out[1]


def _times(shading: Shading | None, box, ratio: np.ndarray, size: int) -> Shading:
    """The shading with `ratio` (over crop `box`) multiplied in."""
    x0, y0, x1, y1 = box
    image = np.ones((size, size, 3), np.float32) if shading is None else shading.image
    image[y0:y1, x0:x1] *= ratio
    return Shading(image=image, box=box if shading is None else union(shading.box, box))


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Antialias a binary region's edge without letting it grow past itself."""
    m = mask.astype(np.float32)
    return np.minimum(cv2.GaussianBlur(m, (0, 0), sigma), m) if sigma > 0 else m


def _paste(fill: np.ndarray, fill_mask: np.ndarray, box, patch: np.ndarray, alpha: np.ndarray) -> None:
    """Lay `patch` (h, w, 3) with weight `alpha` (h, w) over whatever an earlier step put in `fill`/`fill_mask`
    at box, normalised by the weights' sum (compiled: _over)."""
    x0, y0, x1, y1 = box
    _over(fill[y0:y1, x0:x1], fill_mask[y0:y1, x0:x1], patch, alpha, alpha.dtype.type(1))


def _mark(painted: np.ndarray, box, alpha: np.ndarray, share=0.0) -> None:
    """`painted` (Warp.painted) over box after a _paste with weight `alpha` of a patch painted by `share` (0: resampled
    from the photo, 1: painted; or per pixel), laid over what it had as the patch is over the fill."""
    x0, y0, x1, y1 = box
    a = np.maximum(alpha, 0)
    painted[y0:y1, x0:x1] += a * (share - painted[y0:y1, x0:x1])


@compiled
def _over(f, fm, patch, alpha, one):  # pragma: no cover (compiled)
    """_paste per pixel, in the precision of numpy's whole-array steps it replaced (`one`: 1 in alpha's
    type), each step's result rounded to the fill's float32 where numpy stored it."""
    for y in range(f.shape[0]):
        for x in range(f.shape[1]):
            a = alpha[y, x]
            if a < 0:
                a = a - a
            keep = fm[y, x] * (one - a)
            total = keep + a
            norm = total if total > 0 else one
            for k in range(3):
                f[y, x, k] = np.float32(np.float32(f[y, x, k] * keep) + patch[y, x, k] * a) / norm
            fm[y, x] = total


def _within(image: np.ndarray, box, inner) -> np.ndarray:
    """The part of `image` (which covers `box`) that covers `inner`, a box inside it."""
    return image[inner[1] - box[1]:inner[3] - box[1], inner[0] - box[0]:inner[2] - box[0]]


def _fill_mouth(req: EditRequest, d: Deformation, flow: np.ndarray, hole: HoleLayer, mem: TextureMemory,
                fill: np.ndarray, fill_mask: np.ndarray, painted: np.ndarray,
                gap: float, iod: float) -> tuple[str, tuple[int, int, int, int], np.ndarray]:
    """The moved mouth: lips settled (sealed where the target keeps them together, never thinned away; see
    lips.py), then the interior as two curtains (see mouth.curtains): the source's own inside, carried by
    the flow, over a procedural interior (teeth.py, the fill); a remembered open mouth of the same person
    takes the place of a closed source's; `painted` marks the painted interior (Warp.painted); `gap`: the source's
    inner-lip gap (`openness`); `iod`: interocular(req.landmarks), which deform reads once (Deformation.iod).
    Returns (where the texture came from, box it touched, the crop mesh with the lips settled)."""
    size = req.crop.shape[0]
    contour = index(HOLES["mouth"])
    x0, y0, x1, y1 = box = points_box(np.concatenate([d.dst[contour], d.src[contour]]), size, 2)
    used = ["procedural"]
    seal, keep = lips.seal_share(req.source, req.target)
    dst, lip_src = lips.settle(d.src, d.dst, seal, keep, iod)
    settled = bool(np.any(dst != d.dst))
    if settled:
        lips.carry(flow, lip_src, dst)
        box = union(box, points_box(dst[index(LIPS_OUTER)], size, 1))
        used.append("lips")
    g = mouth_geometry(dst, (x0, y0, x1, y1))
    sel = g.cover > 0
    fx, fy = flow[0, y0:y1, x0:x1], flow[1, y0:y1, x0:x1]
    sealed = float((g.bottom - g.top).max()) < SEALED_PX
    if sealed:
        # the lips meet all along: nothing between them to draw; slivers between the two lips' edges
        # (chords between different vertices) take the lips' flow
        rim_flow(fx, fy, g.cover, sel)
    if "lips" in used:
        # the whole red of both lips and the shadow below them: the seam redraws their inner bands
        # (and, where a smile was taken away, its corners): one warp of the crop over all they redraw
        sbox = union(box, points_box(dst[index(LIPS_OUTER)], size, 5))
        gone = lips.smile_gone(d.src, dst, seal, max(d.smile))
        cbox = lips.corner_box(dst, iod, size) if gone > 0 else None
        box = sbox if cbox is None else union(sbox, cbox)
        warped = warp(req.crop, flow, box)
        _paste(fill, fill_mask, sbox, *lips.seam(d.src, d.dst, dst, _within(warped, box, sbox), sbox, gone))
        if cbox is not None:
            cx0, cy0, cx1, cy1 = cbox
            m = fill_mask[cy0:cy1, cx0:cx1, None]
            seen = fill[cy0:cy1, cx0:cx1] * m + _within(warped, box, cbox) * (1 - m)
            _paste(fill, fill_mask, cbox, *lips.corner_tails(dst, gone, seen, cbox, iod))
    if sealed:
        return "lips", box, dst
    colours = palette(req.crop, req.landmarks)
    teeth = (req.crop, TEETH_LUMA * float(luma(colours.teeth))) if colours.shows_teeth else None
    cavity = deep(d.src, dst, iod, max(d.relaxed, stretched(req.target)))
    xs, ys, w, hu, hl = curtains(d.src, g, 1.0, iod, teeth, cavity)
    # real layers travel in the flow; where they show nothing the lips' own flow stays, so the rim of the
    # opening blends the drawn interior with the lip instead of with whatever a curtain finds there
    # pixels the hole's mask took but no lip triangle drew (its rounding) count as rim too, unless settled
    # lips were drawn over them or a real layer shows there (it has its own flow); so do those the drawn
    # outline leaves out of the polygon (see opening_flow)
    took = np.zeros(g.cover.shape, bool) if settled else _cut(hole.inside, hole.box, (x0, y0, x1, y1))
    opening_flow(fx, fy, g.cover, g.outline, w, xs, ys, g.gx[0], g.gy[:, 0], took)
    # heights in the mouth (how far the teeth hang, how long their crowns) run along the face's vertical: a head
    # turned aside shows them longer than its width, one tilted down shorter
    tall = upright(d.rotation)
    at = placement(d.src, dst, d.jaw, g, hu, hl, iod * tall, retracted(req.target), cavity)
    patch = interior(g, colours, at, iod, (x0, y0, x1, y1), tall)
    if gap > OPEN_MOUTH_IOD:
        used.append("own")
    share = 1.0
    example = mem.get("mouth", "open")
    if example is not None and gap < 0.5 * example.openness[0]:
        # the person's own teeth from an open-mouth frame, lit like this one
        ex_scale = interocular(example.landmarks) / iod
        ex, ey, ew, _, _ = curtains(example.landmarks, g, ex_scale, iod, (example.crop, TEETH_LUMA * float(luma(example.teeth))),
                                    cavity)
        real = cv2.remap(example.crop, ex, ey, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        real *= light(req.crop, req.landmarks) / np.maximum(example.light, 1e-3)
        patch = patch + ew[..., None] * (real - patch)
        share = 1 - ew
        used.append("memory")
    drawn = g.outline * (1 - w)
    _paste(fill, fill_mask, (x0, y0, x1, y1), patch, drawn)
    _mark(painted, (x0, y0, x1, y1), drawn, share)
    return "+".join(used), box, dst


def _cut(mask: np.ndarray, box, to) -> np.ndarray:
    """Boolean `mask` over `box` re-cut to box `to` (False where box does not reach)."""
    out = np.zeros((to[3] - to[1], to[2] - to[0]), bool)
    x0, y0, x1, y1 = max(box[0], to[0]), max(box[1], to[1]), min(box[2], to[2]), min(box[3], to[3])
    if x1 > x0 and y1 > y0:
        out[y0 - to[1]:y1 - to[1], x0 - to[0]:x1 - to[0]] = mask[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]]
    return out


def _fill_hole(req: EditRequest, d: Deformation, flow: np.ndarray, hole: HoleLayer, mem: TextureMemory,
               fill: np.ndarray, fill_mask: np.ndarray) -> str:
    """Fill what an eye's layer cannot show; returns where the texture came from ('' if nothing).

    The person's remembered open eye where there is one, procedural sclera and iris for the rest.
    """
    hole = drawn(hole, req.landmarks, d)
    if not hole.missing.any():
        return ""
    top = upper_lid(hole, d.dst)
    # the source's iris, read once for the margins and the eyeball
    eye = iris(req.landmarks, hole.name)
    alpha = lid_margin(_soft(margins(hole, req.landmarks, d, eye), 0.6), hole, req.landmarks, top)
    x0, y0, x1, y1 = hole.box
    example = mem.get("eyes", "open")
    patch = eye_fill(req.crop, req.landmarks, d, hole, top, eye)
    used = ["procedural"]
    if example is not None:
        seen = (hole.inside & ~hole.missing).astype(np.float32)
        dst, cover = _natural_opening(example, d, hole)
        mem_patch = recall(example, dst, hole_triangles(hole.name), hole.box)
        mem_patch = match_color(mem_patch, req.crop[y0:y1, x0:x1], cover * alpha, seen)
        patch = patch + cover[..., None] * (mem_patch - patch)
        used.append("memory")
    _paste(fill, fill_mask, hole.box, patch, alpha)
    return "+".join(used)


def _natural_opening(example, d: Deformation, hole: HoleLayer) -> tuple[np.ndarray, np.ndarray]:
    """Where a remembered interior goes without being stretched: the remembered opening hung from the
    moved upper chain at its own height (scaled to this face), cut to the moved hole. Returns the
    crop-mesh positions to carry it with and the (soft) part of the hole box it covers."""
    _, upper, lower, _ = HOLE_CHAINS[hole.name]
    u, low = list(upper), list(lower)
    scale = interocular(d.dst[:478]) / interocular(example.landmarks)
    dst = d.dst.copy()
    dst[low] = dst[u] + np.minimum(scale * (example.landmarks[low, :2] - example.landmarks[u, :2]),
                                   np.maximum(d.dst[low] - d.dst[u], 0))
    x0, y0, x1, y1 = hole.box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    ring = np.concatenate([dst[[HOLE_CHAINS[hole.name][0]] + u + [HOLE_CHAINS[hole.name][3]]], dst[low[::-1]]])
    cv2.fillPoly(m, [np.round((ring - (x0, y0)) * 16).astype(np.int32)], 1, shift=4)
    return dst, _soft(m.astype(bool) & hole.inside, 0.8)


# (region, hole, the skin around it that the remembered patch replaces) for closing edits
_REGIONS = {
    "mouth": ("mouth", LIPS_OUTER),
    "right_eye": ("eyes", (33, 246, 161, 160, 159, 158, 157, 173, 133, 243, 112, 26, 22, 23, 24, 110, 25, 130)),
    "left_eye": ("eyes", (263, 466, 388, 387, 386, 385, 384, 398, 362, 463, 341, 256, 252, 253, 254, 339, 255,
                          359)),
}


def _outline_ring(pts: np.ndarray, outline, box, feather: float,
                  alpha: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
    """Inside of an outline in a box, feathered inwards (None without `alpha`: only the ring is wanted), and
    the band just inside its edge."""
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((pts[list(outline)] - (x0, y0)) * 16).astype(np.int32)], 1, shift=4)
    inner = cv2.erode(m, np.ones((3, 3), np.uint8), iterations=max(1, int(round(feather))))
    soft = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), feather) * m if alpha else None
    return soft, ((m > 0) & (inner == 0)).astype(np.float32)


@lru_cache(maxsize=8)
def _region_triangles(name: str, size: int) -> np.ndarray:
    """The crop-mesh triangles wholly inside region `name`'s outline and hole, and the hole's own strips:
    what carries a remembered patch over it (the same every frame: made once)."""
    region, outline = _REGIONS[name]
    inside = list(set(outline) | set(HOLES[name]))
    skin = crop_mesh(size).triangles
    return np.concatenate([skin[np.all(np.isin(skin, inside), axis=1)], hole_triangles(name)])


def _replace_regions(req: EditRequest, d: Deformation, mem: TextureMemory, fill: np.ndarray, fill_mask: np.ndarray,
                     painted: np.ndarray, opened: tuple[float, float]) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Closing a mouth that shows teeth, or an open eye, pastes the person's own closed lips or lids (`opened`:
    the source's `openness`)."""
    if mem.get("mouth", "closed") is None and mem.get("eyes", "closed") is None:
        return []
    gap_src, eye_src = opened
    gap_dst, eye_dst = openness(np.concatenate([d.dst[:478], req.landmarks[:, 2:]], axis=1))
    closing = {
        "mouth": gap_src > OPEN_MOUTH_IOD and gap_dst < 0.5 * gap_src and teeth_visible(req.crop, req.landmarks),
        "right_eye": eye_src > 0.1 and eye_dst < 0.5 * eye_src,
        "left_eye": eye_src > 0.1 and eye_dst < 0.5 * eye_src,
    }
    out = []
    size = req.crop.shape[0]
    feather = max(REGION_FEATHER_IOD * d.iod, 1.0)
    for name, (region, outline) in _REGIONS.items():
        example = mem.get(region, "closed") if closing[name] else None
        if example is None:
            continue
        box = points_box(d.dst[list(outline)], size, 3)
        patch = recall(example, d.dst, _region_triangles(name, size), box)
        alpha, ring = _outline_ring(d.dst, outline, box, feather)
        src_box = points_box(d.src[list(outline)], size, 3)
        _, src_ring = _outline_ring(d.src, outline, src_box, feather, alpha=False)
        sx0, sy0, sx1, sy1 = src_box
        patch = match_color(patch, req.crop[sy0:sy1, sx0:sx1], ring, src_ring)
        _paste(fill, fill_mask, box, patch, alpha)
        _mark(painted, box, alpha)
        out.append(("memory", box))
    return out
