"""The `personal` editor: AU edits answered with the person's own enrolled frames.

    --editor personal:engines/NAME        (made by `reenact enroll`)

Per region (brows, eyes, mouth) whose AUs change:
  1. Read the source face on the bank's scale (its AUs against the bank's neutral, from its own mesh),
     and add the requested change: the query. Working on the change keeps the edit independent of
     whatever neutral the caller's estimator settled on.
  2. Motion: the bank frames nearest the query, and those nearest the source's own reading, each
     averaged as pose-free canonical meshes; the region's vertices move by the difference. The face
     moves the way this person's face moves between those two expressions, in its own pose.
  3. Look: the frames nearest the query, blended in the atlas (texture.py) and carried onto the moved
     mesh, take the source's light (the ratio of the two, blurred to the scale of shading) and replace
     the warped source in proportion to how much the region is asked to change: a small change mostly
     moves the person's own pixels, a large one (an open mouth from a closed one) shows real teeth.
Everything outside the moved and repainted area is the input crop, bit for bit; a zero change returns
the crop itself. Retrieval is deterministic and, in video, cross-faded over pts time (retrieve.py).
The Edit carries the warp and the paint as a Warp, so the compositor replays the warp on the frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...errors import ConfigError
from ...pipeline.types import AU_MAX, Edit, Warp
from ...stages.au import load_model
from ...stages.geometry import pose_from_rotation, to_canonical
from ...stages.landmarks import interocular
from ..base import EDITORS, EditRequest, unchanged
from ..rig.deform import points_box, union
from ..rig.flow import rasterize_flow, warp
from ..rig.mesh import HOLES, signed_areas
from . import bank_dir
from .bank import load_bank
from .regions import REGIONS, pixel_canonical, side_weight, vertex_weights
from .retrieve import Fade, Retriever
from ..rig.mesh import crop_vertices
from .texture import build_atlas, carry, carry_triangles, region_box

# frames averaged for a region's motion (both ends), and blended for its look
K_SHAPE = 12
K_LOOK = 8
# a region's AU change (sum of |Δ|, FACS units) from which its look is all the exemplars'
TRUST_AU = 1.0
# the exemplars take the source's light at scales above this Gaussian σ (inter-ocular distances)
LIGHT_SIGMA_IOD = 0.1
# keeps the light ratio finite in black pixels (grey levels)
LIGHT_FLOOR = 8.0
# vertex moves below this (crop px) are none, so an edit has a finite reach. Finer than the rig's 0.1 px:
# the person's own small motions (a smile held a little wider) are most of what a small change is
MIN_MOVE_PX = 0.02


@EDITORS.register("personal")
class PersonalEditor:
    needs_au = True

    def __init__(self, bank: str = ""):
        if not bank:
            raise ConfigError("the personal editor needs an enrolment: --editor personal:engines/NAME "
                              "(make one with `reenact enroll --video YOURS.mp4 -o engines/NAME`)")
        directory = bank_dir(bank)
        self.bank, manifest = load_bank(directory)
        self.sha256 = str(manifest["sha256"])
        self.atlas = build_atlas(self.bank)
        self.retriever = Retriever(self.bank)
        self.model = load_model()
        self.meta = {"editor": "personal", "bank": directory.name}
        self._fades: dict[int, Fade] = {}

    def reset(self) -> None:
        self._fades.clear()

    def close(self) -> None:
        self._fades.clear()

    def edit(self, req: EditRequest, exclude: np.ndarray | None = None) -> Edit:
        """`exclude`: (N,) bool, bank frames that may not answer (training leaves a target's neighbours out)."""
        delta = (req.target - req.source).values.astype(np.float64)
        if not np.any(delta):
            return unchanged(req.crop)
        size = req.crop.shape[0]
        canon, r, s, t = to_canonical(req.landmarks)
        q_src = self.model.intensities(self.model.features_canonical(canon), self.bank.neutral).values
        q_tgt = np.clip(q_src + delta, 0.0, AU_MAX)
        head = pose_from_rotation(r)
        pose = np.array([head.yaw, head.pitch])
        fade = self._fades.setdefault(req.track_id, Fade(req.time))
        share = fade.step(req.time)

        def ask(region, role: str, query: np.ndarray, k: int) -> np.ndarray:
            key = (region.name, role)
            new = self.retriever.nearest(query, region, pose, k, favour=fade.answers.get(key), exclude=exclude)
            return fade.ease(key, new, share)

        moved = canon.astype(np.float64)
        side = side_weight(canon[:, 0], req.side)
        looks, used = [], []
        for k, region in enumerate(REGIONS):
            change = np.abs(delta[region.index]).sum()
            if change == 0:
                continue
            shift = self._mean_mesh(ask(region, "to", q_tgt, K_SHAPE)) - self._mean_mesh(ask(region, "from", q_src, K_SHAPE))
            moved += (vertex_weights()[k] * side)[:, None] * shift
            look = ask(region, "look", q_tgt, K_LOOK)
            looks.append((k, min(1.0, change / TRUST_AU), look))
            used.append(f"{region.name}:{int(self.bank.frames[np.argmax(look)])}")
        # canonical = s·R·crop + t  ⇒  crop = (canonical − t)·R / s
        dst = ((moved - t) @ r / s)[:, :2]
        flow, dst_all, box = self._motion(req, dst)
        fill = np.zeros((size, size, 3), np.float32)
        fill_mask = np.zeros((size, size), np.float32)
        for k, trust, weights in looks:
            painted = self._paint(req, k, trust, weights, flow, dst_all, fill, fill_mask)
            box = painted if box is None else union(box, painted)
        if box is None:
            return unchanged(req.crop)
        filled = fill_mask > 0
        fill[filled] /= fill_mask[filled][:, None]
        meta = {**self.meta, "exemplars": ",".join(used)}
        return _render(req.crop, flow, fill, fill_mask, box, meta)

    def _mean_mesh(self, weights: np.ndarray) -> np.ndarray:
        nz = np.flatnonzero(weights)
        return np.tensordot(weights[nz], self.bank.canonical[nz].astype(np.float64), 1)

    def _motion(self, req: EditRequest, dst: np.ndarray):
        """Backward flow of the crop onto the moved mesh, the moved crop-mesh vertices, and the box the
        flow lives in (None: nothing moved).

        No fold limiting: the mesh moves as real meshes of this person do, and where a real smile
        folds skin over skin in the picture (a mouth corner, a cheek bulging past the face's outline)
        the triangles are drawn far to near, as the rig draws them, so the nearer skin shows."""
        size = req.crop.shape[0]
        src = crop_vertices(req.landmarks, size)
        moved = src.copy()
        moved[:478] = dst
        still = np.abs(moved - src).max(1) < MIN_MOVE_PX
        moved[still] = src[still]
        tris = carry_triangles(size)
        active = tris[np.any(~still[tris], axis=1)]
        flow = np.zeros((2, size, size), np.float32)
        if not len(active):
            return flow, src, None
        z = np.concatenate([req.landmarks[:, 2], np.full(len(src) - 478, req.landmarks[:, 2].max())])
        shown = (signed_areas(src, active) > 0) & (signed_areas(moved, active) > 0)
        active = active[np.lexsort((-z[active].mean(1), shown))]
        rasterize_flow(flow, src, moved, active)
        return flow, moved, points_box(moved[active].reshape(-1, 2), size)

    def _paint(self, req: EditRequest, k: int, trust: float, weights: np.ndarray, flow: np.ndarray,
               dst: np.ndarray, fill: np.ndarray, fill_mask: np.ndarray) -> tuple[int, int, int, int]:
        """Add region k's look to the running weighted sums `fill` (·weight) and `fill_mask`; returns its box."""
        size = req.crop.shape[0]
        box = region_box(dst, k, size)
        x0, y0, x1, y1 = self.atlas.boxes[k]
        nz = np.flatnonzero(weights)
        blend = np.tensordot(weights[nz].astype(np.float32), self.atlas.textures[nz, y0:y1, x0:x1].astype(np.float32), 1)
        look = carry(blend, self.atlas.template, dst, carry_triangles(self.bank.size), box, origin=(x0, y0))
        look *= _light_gain(warp(req.crop, flow, box).astype(np.float32), look, dst, box,
                            LIGHT_SIGMA_IOD * interocular(req.landmarks))
        where = pixel_canonical(req.landmarks, box)
        weight = REGIONS[k].weight(where[1]) * side_weight(where[0], req.side) * np.float32(trust)
        bx0, by0, bx1, by1 = box
        fill[by0:by1, bx0:bx1] += weight[..., None] * look
        fill_mask[by0:by1, bx0:bx1] += weight
        return box


def _light_gain(here: np.ndarray, look: np.ndarray, dst: np.ndarray, box: tuple[int, int, int, int],
                sigma: float) -> np.ndarray:
    """Per-pixel gain that gives `look` the light of `here` (both on the moved mesh, box-sized): the
    ratio of their blurs over the skin alone. Inside the eyes and mouth the two show different things
    (closed lips against teeth), which is the edit, not the light."""
    x0, y0, x1, y1 = box
    skin = np.ones((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(skin, [np.round((dst[list(c)] - (x0, y0)) * 16).astype(np.int32) for c in HOLES.values()], 0, shift=4)
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), sigma)[..., None] + 1e-3
    mean = lambda img: cv2.GaussianBlur(img * skin[..., None], (0, 0), sigma) / weight  # noqa: E731
    return (mean(here) + LIGHT_FLOOR) / (mean(look) + LIGHT_FLOOR)


def _render(crop: np.ndarray, flow: np.ndarray, fill: np.ndarray, fill_mask: np.ndarray,
            box: tuple[int, int, int, int], meta: dict) -> Edit:
    """warp(crop)·(1 − fill_mask) + fill·fill_mask inside box, the crop elsewhere. The change mask is 1
    wherever anything moved (a sub-pixel move is this person's motion, to be shown in full, not faded
    in as the rig's mask does) and the paint's weight where only paint changed."""
    x0, y0, x1, y1 = box
    fm = fill_mask[y0:y1, x0:x1, None]
    blended = warp(crop, flow, box).astype(np.float32) * (1 - fm) + fill[y0:y1, x0:x1] * fm
    moved = np.any(flow[:, y0:y1, x0:x1] != 0, axis=0)
    change = np.where(moved, np.float32(1), fill_mask[y0:y1, x0:x1])
    out = crop.copy()
    np.copyto(out[y0:y1, x0:x1], np.clip(blended + 0.5, 0, 255).astype(np.uint8), where=(change > 0)[..., None])
    mask = np.zeros(crop.shape[:2], np.float32)
    mask[y0:y1, x0:x1] = change
    return Edit(crop=out, mask=mask, meta=meta, warp=Warp(flow, fill, fill_mask))
