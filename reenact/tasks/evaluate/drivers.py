"""The two evals, driving editors over stills and clips (the definitions are in the package docstring).

    from reenact.tasks import evaluate
    rows = evaluate.expression_eval("rig", images=["astronaut.png"], video="talking_man.mp4", save="out/eval")
    print(evaluate.markdown_table(rows))
    rows = evaluate.reconstruction_eval("talking_man.mp4", ["rig", "neural:engines/NAME"])
"""
from __future__ import annotations

import itertools
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ...stages.aligner import Aligner
from ...api import build_pipeline, with_edit
from ...stages.au import AUModel, load_model
from ...stages.compositor import Compositor, hull_mask
from ...config import Config, load_config
from ...editors import EditRequest, create_editor
from ...errors import CorruptMedia, NoFace
from ...io import load_image, open_source
from ...judge import EXPRESSIONS, default_judge
from ...stages.targets import Target, parse_target, presets as preset_table
from ...stages.tracker import FaceTracker
from ...pipeline.types import AU_INDEX, AUVector, Edit, Frame, Packet, largest
from .identity import IdentityModel
from .metrics import (_mean, _squared_error, au_errors, face_masks, frame_flicker, l1, mouth_region, psnr,
                      psnr_of_mse, ssim)
from .recognition import JUDGES, Recognition, judge_faces, recognition
from .report import ExpressionRow, ReconstructionRow, _save_dir, _slug, _write_png, side_by_side

log = logging.getLogger(__name__)


# the shared faces; NAME#N is frame N of a clip, read as a still
STILLS = ("astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm", "smile_man.mp4#0")
TRAIN_FRACTION = 0.7
NO_EDIT = "no edit"
BLUR = "blur control"
BLUR_SIGMA = 0.8
SAVED_PAIRS = 3
_SPEECH = [AU_INDEX["AU25"], AU_INDEX["AU26"]]


@dataclass(frozen=True)
class _Still:
    name: str
    image: np.ndarray
    landmarks: np.ndarray
    au: AUVector
    face: np.ndarray
    background: np.ndarray
    judged: dict[str, np.ndarray]   # each judge's probabilities on the input, by judge name


def expression_eval(editor: str = "rig", *, presets: Sequence[str] | None = None,
                    images: Iterable[str | os.PathLike] = (), video: str | os.PathLike | None = None,
                    video_frames: int | None = None, cfg: Config | None = None,
                    save: str | os.PathLike | None = None, progress: bool = False) -> list[ExpressionRow]:
    """One row per preset × image, and per preset for `video` (its first `video_frames` frames).

    presets: names from configs/presets.yaml or 'AU12=3,...' (default: every preset). `save`: a folder
    for input | output | |diff| PNGs of every preset on every still and on three frames of the video.
    A still without a face, or one that cannot be read, is skipped with a warning naming it; raises
    NoFace when no still is left and there is no video.
    """
    cfg = cfg or load_config()
    targets = {p: parse_target(p, cfg.edit.mode) for p in (presets or list(preset_table()))}
    for judge in JUDGES:    # a missing or altered judge weight file stops here, in one line, before any work
        default_judge(judge)
    out_dir = _save_dir(save)
    ident = IdentityModel.load()
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    try:
        stills = _read_stills(images, reader, model, cfg, alone=video is None)
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
                            _write_png(out_dir / f"{_picture_stem(still.name)}_{_slug(name)}.png",
                                       side_by_side([still.image, out], still.landmarks))
                        bar.update()
    finally:
        reader.close()
    if video is not None:
        rows += _video_rows(editor, Path(video), targets, video_frames, cfg, ident, out_dir, progress)
    return rows


def split_frame(spec: str | os.PathLike) -> tuple[Path, int | None]:
    """'clip.mp4#12' → (clip.mp4, 12): a clip's frame read as a still; anything else → (path, None)."""
    text = os.fspath(spec)
    head, sep, tail = text.rpartition("#")
    if sep and tail.isdigit():
        return Path(head), int(tail)
    return Path(text), None


def load_still(spec: str | os.PathLike) -> np.ndarray:
    """An image file, or frame N of a clip written 'clip.mp4#N' (RGB uint8)."""
    path, index = split_frame(spec)
    if index is None:
        return load_image(path)
    with open_source(path) as src:
        frame = next(itertools.islice(src, index, None), None)
    if frame is None:
        raise NoFace(f"the clip has no frame {index}", str(path))
    return frame.image


def _picture_stem(name: str) -> str:
    """A still's file-name stem for its PNGs: a clip's frame ('clip.mp4#0') is named as the video's frames are
    (clip_f0000), so it does not overwrite a picture of the same stem (clip.jpg)."""
    path, index = split_frame(name)
    return path.stem if index is None else f"{path.stem}_f{index:04d}"


def _read_stills(images: Iterable[str | os.PathLike], reader: FaceTracker, model: AUModel, cfg: Config,
                 alone: bool) -> list[_Still]:
    """The stills with a readable face; the others are named in a warning, or in the one error when none
    is left and nothing else (`alone`: no video) would be evaluated."""
    stills, skipped = [], []
    for p in images:
        try:
            stills.append(_read_still(Path(p), reader, model, cfg))
        except (NoFace, CorruptMedia) as e:
            skipped.append(e)
    if alone and not stills and skipped:
        if len(skipped) == 1:
            raise skipped[0]
        raise NoFace(f"none of the {len(skipped)} stills has a face that can be read ({skipped[0]}, …)")
    for e in skipped:
        log.warning("eval: skipped %s", e)
    return stills


def _read_still(spec: Path, reader: FaceTracker, model: AUModel, cfg: Config) -> _Still:
    image = load_still(spec)
    lm = largest(reader.detect(image))
    if lm is None:
        raise NoFace("no face found", str(spec))
    face, may_change = face_masks(lm, image.shape, cfg.compositor)
    return _Still(spec.name, image, lm, model.intensities(model.features(lm)), face, ~may_change,
                  {j: judge_faces([image], [lm], j) for j in JUDGES})


def _still_row(editor: str, preset: str, target: Target, still: _Still, out: np.ndarray, reader: FaceTracker,
               model: AUModel, cfg: Config, ident: IdentityModel | None) -> ExpressionRow:
    lm = largest(reader.detect(out))
    if lm is None:
        log.warning("eval: the face is lost on %s with %s", still.name, preset)
        err = unedited = dist = math.nan
        verdicts = [recognition(preset, still.judged[j], np.full(len(EXPRESSIONS), np.nan)) for j in JUDGES]
    else:
        err, unedited = au_errors(target, cfg.edit.strength, still.au, model.intensities(model.features(lm)))
        dist = ident.distance(still.image, still.landmarks, out, lm) if ident else math.nan
        verdicts = [recognition(preset, still.judged[j], judge_faces([out], [lm], j)) for j in JUDGES]
    return ExpressionRow(editor, preset, still.name, 1, err, unedited, ssim(still.image, out, still.face),
                         psnr(still.image, out, still.background), math.nan, dist if ident else None,
                         math.nan, *_judge_cells(verdicts))


def _judge_cells(verdicts: Sequence[Recognition | None]) -> tuple:
    """A row's judge cells: (P before, P after, gain, judged as, recognised) of the first judge, then
    (gain, judged as, recognised) of the second."""
    cells = []
    for verdict in verdicts:
        if verdict is None:
            cells.append((math.nan, math.nan, math.nan, "", ""))
        else:
            said = "already" if verdict.already else ("yes" if verdict.recognised else "no")
            cells.append((verdict.before, verdict.after, verdict.gain, verdict.top, said))
    first, second = cells
    return first + second[2:]


def _speech_r(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """The least Pearson correlation, over AU25 and AU26, of the output's readings with the input's (NaN
    when either does not vary: nothing to follow)."""
    if len(before) < 3:
        return math.nan
    b, a = np.array(before), np.array(after)
    rs = [np.corrcoef(b[:, k], a[:, k])[0, 1] if b[:, k].std() > 0 and a[:, k].std() > 0 else math.nan
          for k in range(b.shape[1])]
    return float(min(rs))


def _video_rows(editor: str, path: Path, targets: dict[str, Target], max_frames: int | None, cfg: Config,
                ident: IdentityModel | None, out_dir: Path | None, progress: bool) -> list[ExpressionRow]:
    model = load_model(cfg.au.features)
    tracker = FaceTracker(cfg.tracker)
    try:
        with open_source(path) as src:
            lms = [largest(tracker.detect(f.image)) for f in itertools.islice(src, max_frames)]
    finally:
        tracker.close()
    feats = {i: model.features(lm) for i, lm in enumerate(lms) if lm is not None}
    if not feats:
        raise NoFace("no face found", str(path))
    neutral = model.baseline(np.stack(list(feats.values())), cfg.au.baseline_percentile)
    before = {i: model.intensities(f, neutral) for i, f in feats.items()}
    n = len(lms)
    shown = {n // 4, n // 2, 3 * n // 4}
    rows = []
    for name, target in tqdm(targets.items(), desc=f"eval {path.name}", unit="preset", disable=not progress):
        pcfg = with_edit(cfg, editor=editor, target=name)
        reader = FaceTracker(cfg.tracker)
        errs, unedited, ssims, dists, flick_in, flick_out = [], [], [], [], [], []
        speech_in, speech_out, judged_in, judged_out = [], [], [], []
        sse = count = 0.0
        prev = None
        try:
            with build_pipeline(pcfg, editor=editor) as pipe, open_source(path) as src:
                for i, frame in enumerate(itertools.islice(src, n)):
                    img = frame.image
                    out = pipe.process(Packet(frame)).output
                    lm_out = largest(reader.detect(out))
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
                            speech_in.append(before[i].values[_SPEECH])
                            speech_out.append(after.values[_SPEECH])
                            if i in shown:
                                judged_in.append((img, lms[i]))
                                judged_out.append((out, lm_out))
                            if ident and i in shown:
                                dists.append(ident.distance(img, lms[i], out, lm_out))
                        if out_dir is not None and i in shown:
                            _write_png(out_dir / f"{path.stem}_f{i:04d}_{_slug(name)}.png",
                                       side_by_side([img, out], lms[i]))
                    prev = (img, out)
        finally:
            reader.close()
        verdicts = [recognition(name, judge_faces(*zip(*judged_in), j), judge_faces(*zip(*judged_out), j))
                    if judged_in else None for j in JUDGES]
        rows.append(ExpressionRow(
            editor, name, path.name, len(ssims), _mean(errs), _mean(unedited), _mean(ssims),
            psnr_of_mse(sse / count) if count else math.nan, _mean(flick_out) - _mean(flick_in),
            _mean(dists) if ident else None, _speech_r(speech_in, speech_out), *_judge_cells(verdicts)))
    return rows


@dataclass(frozen=True)
class _Held:
    """A held-out frame's aligned face and its reading on the crop."""

    index: int                  # frame index in the clip
    time: float
    crop: np.ndarray
    landmarks: np.ndarray       # from the frame's tracking, in crop pixels: what an editor gets
    read: np.ndarray            # the tracker's landmarks on the crop itself
    au: AUVector


class _BlurControl:
    """Not an editor: the source blurred (σ BLUR_SIGMA px) over the face. Any resampling smooths the skin
    and beard texture that head motion misaligns between two frames, which alone raises SSIM; this row
    says how much."""

    def edit(self, req: EditRequest) -> Edit:
        return Edit(crop=cv2.GaussianBlur(req.crop, (0, 0), BLUR_SIGMA), mask=np.ones(req.crop.shape[:2], np.float32))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _control_or_editor(spec: str):
    if spec == BLUR:
        return _BlurControl()
    return create_editor("identity" if spec == NO_EDIT else spec)


def held_out_start(n_frames: int, train_fraction: float = TRAIN_FRACTION) -> int:
    """Index of the first held-out frame, the first at or after the cut (as neural.data.Clip.split)."""
    return math.ceil(train_fraction * n_frames)


def sample_pairs(n: int, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """`k` distinct ordered (source, target) pairs of different items out of `n`, the same for a seed."""
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    pick = np.random.default_rng(seed).choice(len(pairs), size=min(k, len(pairs)), replace=False)
    return [pairs[i] for i in sorted(pick)]


def held_out_faces(clip: Path, cfg: Config, train_fraction: float, max_frames: int | None,
                   model: AUModel, reader: FaceTracker, frames: Sequence[int] | None = None
                   ) -> tuple[list[_Held], np.ndarray]:
    """The held-out frames with a face, and their neutral: the clip's last 1 − train_fraction, or the
    frame indices `frames` when given."""
    with open_source(clip) as src:
        decoded = list(itertools.islice(src, max_frames))
    if frames is None:
        decoded = decoded[held_out_start(len(decoded), train_fraction):]
    else:
        decoded = [decoded[i] for i in sorted(set(frames)) if i < len(decoded)]
    tracker, aligner = FaceTracker(cfg.tracker), Aligner(cfg.aligner)
    faces = []
    try:
        for f in decoded:
            lm = largest(tracker.detect(f.image))
            if lm is None:
                continue
            a = aligner.align(f.image, lm)
            read = largest(reader.detect(a.crop))
            if read is not None:
                faces.append((f, a, read, model.features(read)))
    finally:
        tracker.close()
    if len(faces) < 2:
        raise NoFace(f"fewer than 2 held-out frames with a face (of {len(decoded)})", str(clip))
    neutral = model.baseline(np.stack([x[3] for x in faces]), cfg.au.baseline_percentile)
    return [_Held(f.index, f.time, a.crop, a.landmarks, read, model.intensities(feat, neutral))
            for f, a, read, feat in faces], neutral


def reconstruction_eval(clip: str | os.PathLike, editors: Sequence[str] = ("rig",), *, pairs: int = 40,
                        seed: int = 0, train_fraction: float = TRAIN_FRACTION, max_frames: int | None = None,
                        test_frames: Sequence[int] | None = None, cfg: Config | None = None,
                        save: str | os.PathLike | None = None, progress: bool = False) -> list[ReconstructionRow]:
    """The "no edit" and blur control rows, then one per editor spec ('rig', 'personal:engines/NAME',
    'neural:engines/NAME'), over the same seeded pairs of held-out frames (`test_frames`, when given,
    instead of the clip's last 1 − train_fraction).

    Each pair is independent: the editor is reset before it, so no memory carries between pairs.
    `save`: target | source | output | |output − target| PNGs of the first SAVED_PAIRS pairs.
    """
    cfg = cfg or load_config()
    clip = Path(clip)
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    try:
        held, neutral = held_out_faces(clip, cfg, train_fraction, max_frames, model, reader, test_frames)
        chosen = [(held[s], held[t]) for s, t in sample_pairs(len(held), pairs, seed)]
        return [_reconstruct(spec, clip, chosen, neutral, model, reader, cfg, _save_dir(save), progress)
                for spec in (NO_EDIT, BLUR, *editors)]
    finally:
        reader.close()


def transfer_eval(clip: str | os.PathLike, sources: Sequence[int], targets: Sequence[int],
                  editors: Sequence[str] = ("rig",), *, cfg: Config | None = None,
                  save: str | os.PathLike | None = None) -> list[ReconstructionRow]:
    """Every source frame edited to every target frame's AUs, scored against the target frame: the
    reconstruction eval across expressions (e.g. neutral frames of smile_man.mp4 to smile frames an
    enrolment left out: a smile the bank never saw). AUs are read against the neutral of all these frames."""
    cfg = cfg or load_config()
    clip = Path(clip)
    model = load_model(cfg.au.features)
    reader = FaceTracker(cfg.tracker, static=True)
    try:
        held, neutral = held_out_faces(clip, cfg, TRAIN_FRACTION, None, model, reader, [*sources, *targets])
        by_index = {h.index: h for h in held}
        lost = sorted(set([*sources, *targets]) - set(by_index))
        if lost:
            raise NoFace(f"no face in frame {', '.join(map(str, lost))}", str(clip))
        chosen = [(by_index[s], by_index[t]) for s in sources for t in targets]
        return [_reconstruct(spec, clip, chosen, neutral, model, reader, cfg, _save_dir(save), False)
                for spec in (NO_EDIT, BLUR, *editors)]
    finally:
        reader.close()


def _reconstruct(spec: str, clip: Path, chosen: Sequence[tuple[_Held, _Held]], neutral: np.ndarray,
                 model: AUModel, reader: FaceTracker, cfg: Config, out_dir: Path | None,
                 progress: bool) -> ReconstructionRow:
    """One row: `spec` rebuilds each target from its source and the target's AUs."""
    compositor = Compositor(cfg.compositor)
    ident = IdentityModel.load()
    editor = _control_or_editor(spec)
    m: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "l1", "mouth_psnr", "mouth_ssim", "mouth_l1",
                                                  "au", "id")}
    try:
        for k, (src, tgt) in enumerate(tqdm(chosen, desc=f"reconstruct {spec}", unit="pair", disable=not progress)):
            editor.reset()
            edit = editor.edit(EditRequest(crop=src.crop, landmarks=src.landmarks, source=src.au,
                                           target=tgt.au, time=src.time))
            out = compositor.blend_crop(src.crop, edit, src.landmarks)
            size = tgt.crop.shape[0]
            for prefix, region in (("", hull_mask(tgt.landmarks, size, cfg.compositor) >= 0.5),
                                   ("mouth_", mouth_region(tgt.landmarks, size))):
                m[prefix + "psnr"].append(psnr(out, tgt.crop, region))
                m[prefix + "ssim"].append(ssim(out, tgt.crop, region))
                m[prefix + "l1"].append(l1(out, tgt.crop, region))
            read = largest(reader.detect(out))
            if read is not None:
                after = model.intensities(model.features(read), neutral)
                m["au"].append(float(np.abs(after.values - tgt.au.values).mean()))
                if ident:
                    m["id"].append(ident.distance(out, read, tgt.crop, tgt.read))
            if out_dir is not None and k < SAVED_PAIRS:
                _write_png(out_dir / f"recon_{clip.stem}_{_slug(spec)}_{k}.png", side_by_side([tgt.crop, src.crop, out]))
    finally:
        editor.close()
    mean = {k: _mean(v) for k, v in m.items()}
    return ReconstructionRow(spec, clip.name, len(chosen), mean["psnr"], mean["ssim"], mean["l1"], mean["mouth_psnr"],
                             mean["mouth_ssim"], mean["mouth_l1"], mean["au"], mean["id"] if ident else None)
