"""Quality measurements of editors, as `reenact eval` reports them.

    from reenact import evaluate
    rows = evaluate.expression_eval("rig", images=["astronaut.png"], video="talking_man.mp4", save="out/eval")
    print(evaluate.markdown_table(rows))
    rows = evaluate.reconstruction_eval("talking_man.mp4", ["rig", "neural:engines/NAME"])

Expression eval (issue 4): each preset on each still, and on a clip's frames, through the full pipeline
(`api.build_pipeline`, so any editor), read back with the package's own tracker and AU estimator:
  au_error         mean over the preset's AUs of |reading on the output − intended|; intended is what the
                   edit asked: `Target.resolve` of the input's reading at the config's mode and strength,
                   clipped to 0–5 (the estimator reads no further)
  unedited_change  mean over the other AUs of |reading on the output − reading on the input|
  face_ssim        SSIM to the input (Wang et al. 2004: Gaussian 11×11, σ 1.5, on BT.601 luma), averaged
                   over the face region: where the compositor's hull mask is ≥ 0.5
  background_psnr  PSNR to the input outside the hull mask's support, where no edit may reach
                   (inf, shown "exact", when bit-exact)
  flicker_added    clips: mean |Δ luma| between consecutive frames in the face region, output minus input
  identity         dlib face-descriptor distance input → output (dlib calls < 0.6 the same person; on a
                   clip, the mean over frames ¼, ½ and ¾ in); None without dlib (`reenact[eval]`)
A still is read against the population neutral, as the pipeline reads it. A clip is read against one
neutral for the whole clip (the estimator's resting-side percentile over all its frames): a running
baseline would absorb a steady relative edit and read it back as no change.

Reconstruction eval (issue 6): a clip split by time, the first TRAIN_FRACTION for training; a seeded set
of (source, target) pairs of held-out frames; each editor gets the source crop with source AUs = the
source's reading and target AUs = the target's (absolute), and its output, blended as the compositor
blends it, is compared with the target crop in the target's face region: PSNR, SSIM, L1 (grey levels),
AU error (mean over all AUs of |reading on the output − target|) and identity distance to the target.
"no edit" returns the source as is. Every AU here is read the same way: the tracker on the 256² crop,
against the held-out frames' neutral.
"""
from __future__ import annotations

import csv
import importlib.util
import itertools
import logging
import math
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from .aligner import Aligner
from .api import build_pipeline, with_edit
from .au import AUModel, load_model
from .compositor import hull_mask
from .config import AUConfig, CompositorConfig, Config, load_config
from .editors import EditRequest, create_editor
from .errors import NoFace, OutputNotWritable
from .landmarks import to_ibug68
from .sources import load_image, open_source
from .targets import Target, parse_target, presets as preset_table
from .tracker import FaceTracker
from .types import AU_INDEX, AU_NAMES, AUVector, Edit, Frame, Packet

log = logging.getLogger(__name__)

STILLS = ("astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg")
TRAIN_FRACTION = 0.7
NO_EDIT = "no edit"
IDENTITY_NA = "n/a (install reenact[eval])"
# |diff| panels are amplified: a one-level change would be invisible
DIFF_GAIN = 4
SAVED_PAIRS = 3

_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
_SSIM_RADIUS = 5  # of the 11×11 window


# ---------------------------------------------------------------------------------------------------
# Metrics


def luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image as float64 (a grey image passes through)."""
    x = np.asarray(img, np.float64)
    return x if x.ndim == 2 else x @ np.array([0.299, 0.587, 0.114])


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two images' luma: Gaussian 11×11 window, σ 1.5, K1 0.01, K2 0.03, L 255."""
    x, y = luma(a), luma(b)

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    return ((2 * mx * my + _C1) * (2 * sxy + _C2)) / ((mx * mx + my * my + _C1) * (sxx + syy + _C2))


def _bbox(mask: np.ndarray, pad: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (slice(max(ys.min() - pad, 0), min(ys.max() + pad + 1, h)),
            slice(max(xs.min() - pad, 0), min(xs.max() + pad + 1, w)))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean SSIM, over `mask` (bool) when given; NaN for an empty mask."""
    if mask is None:
        return float(ssim_map(a, b).mean())
    if not mask.any():
        return math.nan
    # the window's reach around the mask: the same values as on the whole image, at a fraction of the cost
    box = _bbox(mask, _SSIM_RADIUS)
    return float(ssim_map(a[box], b[box])[mask[box]].mean())


def psnr_of_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _squared_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return (d if mask is None else d[mask]) ** 2


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over all channels (over `mask` when given); inf when bit-exact."""
    return psnr_of_mse(float(_squared_error(a, b, mask).mean()))


def l1(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference in grey levels over all channels (over `mask` when given)."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return float((d if mask is None else d[mask]).mean())


def frame_flicker(prev: np.ndarray, cur: np.ndarray, mask: np.ndarray) -> float:
    """Mean |Δ luma| between two consecutive frames inside `mask`."""
    box = _bbox(mask, 0)
    return float(np.abs(luma(cur[box]) - luma(prev[box]))[mask[box]].mean())


def flicker(frames: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None) -> float:
    """Mean frame-to-frame |Δ luma| of a clip, frame t against t−1 inside mask t (whole frame when
    `masks` is None; a None mask skips the pair)."""
    vals = [frame_flicker(frames[t - 1], frames[t],
                          np.ones(frames[t].shape[:2], bool) if masks is None else masks[t])
            for t in range(1, len(frames)) if masks is None or masks[t] is not None]
    return float(np.mean(vals)) if vals else math.nan


def face_masks(landmarks: np.ndarray, shape: tuple[int, ...], cfg: CompositorConfig = CompositorConfig()
               ) -> tuple[np.ndarray, np.ndarray]:
    """(face region, may change) as bool (H, W): the compositor's hull mask ≥ 0.5, and > 0.

    The hull mask's Gaussian tail reaches about 4σ (a few pixels more where it is blurred at reduced
    resolution) and the compositor stops at 1/512 (2.9σ), so outside the support is background with a
    margin for the crop↔image resampling.
    """
    h, w = shape[:2]
    m = hull_mask(landmarks, max(h, w), cfg)[:h, :w]
    return m >= 0.5, m > 0


def clip_neutral(features: np.ndarray, model: AUModel, cfg: AUConfig = AUConfig()) -> np.ndarray:
    """One neutral for a whole clip: the estimator's baseline rule (each feature's percentile on its
    resting side) over all of the clip's (N, F) features."""
    p = cfg.baseline_percentile / 100.0
    q = np.array([p, 0.5, 1.0 - p])[model.rest]
    return np.array([np.quantile(features[:, k], q[k]) for k in range(features.shape[1])], np.float32)


def au_errors(target: Target, strength: float, before: AUVector, after: AUVector,
              video: bool = False) -> tuple[float, float]:
    """(AU error on the target's AUs, mean |change| of the others) of one reading pair."""
    intended = target.resolve(before, strength, video=video).clipped().values
    named = np.zeros(len(AU_NAMES), bool)
    named[[AU_INDEX[a] for a in target.named]] = True
    err = np.abs(after.values - intended)[named]
    other = np.abs(after.values - before.values)[~named]
    return float(err.mean()) if err.size else math.nan, float(other.mean()) if other.size else math.nan


# ---------------------------------------------------------------------------------------------------
# Identity


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


# ---------------------------------------------------------------------------------------------------
# Rows and reports


@dataclass(frozen=True)
class ExpressionRow:
    editor: str
    preset: str
    media: str
    frames: int               # frames measured: 1 for a still
    au_error: float
    unedited_change: float
    face_ssim: float
    background_psnr: float    # inf: bit-exact
    flicker_added: float      # NaN for a still
    identity: float | None    # None: dlib not installed


@dataclass(frozen=True)
class ReconstructionRow:
    editor: str
    clip: str
    pairs: int
    psnr: float
    ssim: float
    l1: float
    au_error: float
    identity: float | None


HEADERS = {
    "unedited_change": "unedited AU Δ", "au_error": "AU error", "face_ssim": "face SSIM",
    "background_psnr": "background PSNR (dB)", "flicker_added": "flicker added", "identity": "identity dist.",
    "psnr": "PSNR (dB)", "ssim": "SSIM", "l1": "L1",
}


def _cell(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if math.isinf(v):
            return "exact"
        return "–" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def markdown_table(rows: Sequence[ExpressionRow] | Sequence[ReconstructionRow]) -> str:
    """Rows of one kind as a Markdown table; a note under it when identity could not be measured."""
    if not rows:
        return ""
    names = [f.name for f in fields(rows[0])]
    lines = ["| " + " | ".join(HEADERS.get(n, n) for n in names) + " |",
             "|" + "|".join("---" if n in ("editor", "preset", "media", "clip") else "---:" for n in names) + "|"]
    lines += ["| " + " | ".join(_cell(getattr(r, n)) for n in names) + " |" for r in rows]
    if any(r.identity is None for r in rows):
        lines.append(f"\nidentity: {IDENTITY_NA}")
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[ExpressionRow] | Sequence[ReconstructionRow], path: str | os.PathLike) -> None:
    if not rows:
        return
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=[x.name for x in fields(rows[0])])
            w.writeheader()
            w.writerows(asdict(r) for r in rows)
    except OSError as e:
        raise OutputNotWritable(e.strerror or str(e), os.fspath(path)) from None


def side_by_side(panels: Sequence[np.ndarray], landmarks: np.ndarray | None = None, margin: float = 0.3,
                 min_height: int = 384) -> np.ndarray:
    """Panels next to each other, then DIFF_GAIN·|last − first|; cut to the face (+ margin) when given,
    enlarged by an integer factor to at least `min_height`."""
    imgs = list(panels)
    if landmarks is not None:
        h, w = imgs[0].shape[:2]
        (x0, y0), (x1, y1) = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
        pad = margin * max(x1 - x0, y1 - y0)
        ys = slice(max(int(y0 - pad), 0), min(int(y1 + pad) + 1, h))
        xs = slice(max(int(x0 - pad), 0), min(int(x1 + pad) + 1, w))
        imgs = [im[ys, xs] for im in imgs]
    diff = np.abs(imgs[-1].astype(np.int16) - imgs[0].astype(np.int16)) * DIFF_GAIN
    out = np.hstack(imgs + [np.clip(diff, 0, 255).astype(np.uint8)])
    # small faces (video) are blown up by whole pixels, so what is seen is what was made
    k = math.ceil(min_height / out.shape[0])
    return cv2.resize(out, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST) if k > 1 else out


def _write_png(path: Path, rgb: np.ndarray) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OutputNotWritable("cannot write image", str(path))


def _save_dir(save: str | os.PathLike | None) -> Path | None:
    if save is None:
        return None
    p = Path(save)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputNotWritable(e.strerror or str(e), str(p)) from None
    return p


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _largest(faces: list[np.ndarray]) -> np.ndarray | None:
    return max(faces, key=lambda p: float(np.ptp(p[:, :2], 0).max())) if faces else None


# ---------------------------------------------------------------------------------------------------
# Expression eval


@dataclass(frozen=True)
class _Still:
    name: str
    image: np.ndarray
    landmarks: np.ndarray
    au: AUVector
    face: np.ndarray
    background: np.ndarray


def expression_eval(editor: str = "rig", *, presets: Sequence[str] | None = None,
                    images: Iterable[str | os.PathLike] = (), video: str | os.PathLike | None = None,
                    video_frames: int | None = None, cfg: Config | None = None,
                    save: str | os.PathLike | None = None, progress: bool = False) -> list[ExpressionRow]:
    """One row per preset × image, and per preset for `video` (its first `video_frames` frames).

    presets: names from configs/presets.yaml or 'AU12=3,...' (default: every preset). `save`: a folder
    for input | output | |diff| PNGs of every preset on every still and on three frames of the video.
    Raises NoFace when an input has no face.
    """
    cfg = cfg or load_config()
    targets = {p: parse_target(p, cfg.edit.mode) for p in (presets or list(preset_table()))}
    out_dir = _save_dir(save)
    ident = IdentityModel.load()
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    try:
        stills = [_read_still(Path(p), reader, model, cfg) for p in images]
        rows = []
        with tqdm(total=len(targets) * len(stills), desc="eval stills", unit="edit", disable=not progress) as bar:
            for name, target in targets.items():
                pcfg = with_edit(cfg, editor=editor, target=name)
                with build_pipeline(pcfg, editor=editor, static=True) as pipe:
                    for still in stills:
                        pipe.reset()
                        out = pipe.process(Packet(Frame(still.image, 0, 0))).output
                        rows.append(_still_row(editor, name, target, still, out, reader, model, cfg, ident))
                        if out_dir is not None:
                            _write_png(out_dir / f"{Path(still.name).stem}_{_slug(name)}.png",
                                       side_by_side([still.image, out], still.landmarks))
                        bar.update()
    finally:
        reader.close()
    if video is not None:
        rows += _video_rows(editor, Path(video), targets, video_frames, cfg, ident, out_dir, progress)
    return rows


def _read_still(path: Path, reader: FaceTracker, model: AUModel, cfg: Config) -> _Still:
    image = load_image(path)
    lm = _largest(reader.detect(image))
    if lm is None:
        raise NoFace("no face found", str(path))
    face, may_change = face_masks(lm, image.shape, cfg.compositor)
    return _Still(path.name, image, lm, model.intensities(model.features(lm)), face, ~may_change)


def _still_row(editor: str, preset: str, target: Target, still: _Still, out: np.ndarray, reader: FaceTracker,
               model: AUModel, cfg: Config, ident: IdentityModel | None) -> ExpressionRow:
    lm = _largest(reader.detect(out))
    if lm is None:
        log.warning("eval: the face is lost on %s with %s", still.name, preset)
        err = unedited = dist = math.nan
    else:
        err, unedited = au_errors(target, cfg.edit.strength, still.au, model.intensities(model.features(lm)))
        dist = ident.distance(still.image, still.landmarks, out, lm) if ident else math.nan
    return ExpressionRow(editor, preset, still.name, 1, err, unedited, ssim(still.image, out, still.face),
                         psnr(still.image, out, still.background), math.nan, dist if ident else None)


def _video_rows(editor: str, path: Path, targets: dict[str, Target], max_frames: int | None, cfg: Config,
                ident: IdentityModel | None, out_dir: Path | None, progress: bool) -> list[ExpressionRow]:
    model = load_model(cfg.au.features)
    tracker = FaceTracker(cfg.tracker)
    try:
        with open_source(path) as src:
            lms = [_largest(tracker.detect(f.image)) for f in itertools.islice(src, max_frames)]
    finally:
        tracker.close()
    feats = {i: model.features(lm) for i, lm in enumerate(lms) if lm is not None}
    if not feats:
        raise NoFace("no face found", str(path))
    neutral = clip_neutral(np.stack(list(feats.values())), model, cfg.au)
    before = {i: model.intensities(f, neutral) for i, f in feats.items()}
    n = len(lms)
    shown = {n // 4, n // 2, 3 * n // 4}
    rows = []
    for name, target in tqdm(targets.items(), desc=f"eval {path.name}", unit="preset", disable=not progress):
        pcfg = with_edit(cfg, editor=editor, target=name)
        reader = FaceTracker(cfg.tracker)
        errs, unedited, ssims, dists, flick_in, flick_out = [], [], [], [], [], []
        sse = count = 0.0
        prev = None
        try:
            with build_pipeline(pcfg, editor=editor) as pipe, open_source(path) as src:
                for i, frame in enumerate(itertools.islice(src, n)):
                    img = frame.image
                    out = pipe.process(Packet(frame)).output
                    lm_out = _largest(reader.detect(out))
                    if lms[i] is not None:
                        face, may_change = face_masks(lms[i], img.shape, cfg.compositor)
                        ssims.append(ssim(img, out, face))
                        bg = _squared_error(img, out, ~may_change)
                        sse, count = sse + float(bg.sum()), count + bg.size
                        if prev is not None:
                            flick_in.append(frame_flicker(prev[0], img, face))
                            flick_out.append(frame_flicker(prev[1], out, face))
                        if lm_out is not None:
                            after = model.intensities(model.features(lm_out), neutral)
                            e, u = au_errors(target, cfg.edit.strength, before[i], after, video=True)
                            errs.append(e)
                            unedited.append(u)
                            if ident and i in shown:
                                dists.append(ident.distance(img, lms[i], out, lm_out))
                        if out_dir is not None and i in shown:
                            _write_png(out_dir / f"{path.stem}_f{i:04d}_{_slug(name)}.png",
                                       side_by_side([img, out], lms[i]))
                    prev = (img, out)
        finally:
            reader.close()
        rows.append(ExpressionRow(
            editor, name, path.name, len(ssims), _mean(errs), _mean(unedited), _mean(ssims),
            psnr_of_mse(sse / count) if count else math.nan, _mean(flick_out) - _mean(flick_in),
            _mean(dists) if ident else None))
    return rows


def _mean(xs: Sequence[float]) -> float:
    return float(np.nanmean(xs)) if len(xs) and not np.all(np.isnan(xs)) else math.nan


# ---------------------------------------------------------------------------------------------------
# Reconstruction eval


@dataclass(frozen=True)
class _Held:
    """A held-out frame's aligned face and its reading on the crop."""

    time: float
    crop: np.ndarray
    landmarks: np.ndarray       # from the frame's tracking, in crop pixels: what an editor gets
    read: np.ndarray            # the tracker's landmarks on the crop itself
    au: AUVector


def held_out_start(n_frames: int, train_fraction: float = TRAIN_FRACTION) -> int:
    """Index of the first held-out frame, the first at or after the cut (as neural.data.Clip.split)."""
    return math.ceil(train_fraction * n_frames)


def sample_pairs(n: int, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """`k` distinct ordered (source, target) pairs of different items out of `n`, the same for a seed."""
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    pick = np.random.default_rng(seed).choice(len(pairs), size=min(k, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(pick)]


def composite_crop(crop: np.ndarray, edit: Edit, landmarks: np.ndarray, cfg: CompositorConfig) -> np.ndarray:
    """The edit blended into its own crop with the compositor's weight (hull mask × edit mask)."""
    w = (hull_mask(landmarks, crop.shape[0], cfg) * edit.mask)[..., None]
    return np.clip(crop * (1.0 - w) + edit.crop * w + 0.5, 0, 255).astype(np.uint8)


def _held_out_faces(clip: Path, cfg: Config, train_fraction: float, max_frames: int | None,
                    model: AUModel, reader: FaceTracker) -> tuple[list[_Held], np.ndarray]:
    """The held-out frames with a face, and their neutral."""
    with open_source(clip) as src:
        frames = list(itertools.islice(src, max_frames))
    frames = frames[held_out_start(len(frames), train_fraction):]
    tracker, aligner = FaceTracker(cfg.tracker), Aligner(cfg.aligner)
    faces = []
    try:
        for f in frames:
            lm = _largest(tracker.detect(f.image))
            if lm is None:
                continue
            a = aligner.align(f.image, lm)
            read = _largest(reader.detect(a.crop))
            if read is not None:
                faces.append((f, a, read, model.features(read)))
    finally:
        tracker.close()
    if len(faces) < 2:
        raise NoFace(f"fewer than 2 held-out frames with a face (of {len(frames)})", str(clip))
    neutral = clip_neutral(np.stack([x[3] for x in faces]), model, cfg.au)
    return [_Held(f.time, a.crop, a.landmarks, read, model.intensities(feat, neutral))
            for f, a, read, feat in faces], neutral


def reconstruction_eval(clip: str | os.PathLike, editors: Sequence[str] = ("rig",), *, pairs: int = 40,
                        seed: int = 0, train_fraction: float = TRAIN_FRACTION, max_frames: int | None = None,
                        cfg: Config | None = None, save: str | os.PathLike | None = None,
                        progress: bool = False) -> list[ReconstructionRow]:
    """A "no edit" row, then one per editor spec ('rig', 'neural:engines/NAME'), over the same pairs.

    Each pair is independent: the editor is reset before it, so no memory carries between pairs.
    `save`: target | source | output | |output − target| PNGs of the first SAVED_PAIRS pairs.
    """
    cfg = cfg or load_config()
    clip = Path(clip)
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    out_dir = _save_dir(save)
    ident = IdentityModel.load()
    rows = []
    try:
        held, neutral = _held_out_faces(clip, cfg, train_fraction, max_frames, model, reader)
        chosen = sample_pairs(len(held), pairs, seed)
        for spec in (NO_EDIT, *editors):
            editor = create_editor("identity" if spec == NO_EDIT else spec)
            m: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "l1", "au", "id")}
            try:
                for k, (s, t) in enumerate(tqdm(chosen, desc=f"reconstruct {spec}", unit="pair",
                                                disable=not progress)):
                    src, tgt = held[s], held[t]
                    editor.reset()
                    edit = editor.edit(EditRequest(crop=src.crop, landmarks=src.landmarks, source=src.au,
                                                   target=tgt.au, time=src.time))
                    out = composite_crop(src.crop, edit, src.landmarks, cfg.compositor)
                    region = hull_mask(tgt.landmarks, tgt.crop.shape[0], cfg.compositor) >= 0.5
                    m["psnr"].append(psnr(out, tgt.crop, region))
                    m["ssim"].append(ssim(out, tgt.crop, region))
                    m["l1"].append(l1(out, tgt.crop, region))
                    read = _largest(reader.detect(out))
                    if read is not None:
                        after = model.intensities(model.features(read), neutral)
                        m["au"].append(float(np.abs(after.values - tgt.au.values).mean()))
                        if ident:
                            m["id"].append(ident.distance(out, read, tgt.crop, tgt.read))
                    if out_dir is not None and k < SAVED_PAIRS:
                        _write_png(out_dir / f"recon_{clip.stem}_{_slug(spec)}_{k}.png",
                                   side_by_side([tgt.crop, src.crop, out]))
            finally:
                editor.close()
            rows.append(ReconstructionRow(spec, clip.name, len(chosen), _mean(m["psnr"]), _mean(m["ssim"]),
                                          _mean(m["l1"]), _mean(m["au"]), _mean(m["id"]) if ident else None))
    finally:
        reader.close()
    return rows
