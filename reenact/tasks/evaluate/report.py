"""The eval's rows and how they are shown: Markdown and CSV tables, side-by-side PNGs."""
from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ...errors import OutputNotWritable
from ...files import write_atomic
from .identity import IDENTITY_NA


# |diff| panels are amplified: a one-level change would be invisible
DIFF_GAIN = 4


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
    speech_r: float           # clips: the least correlation of AU25, AU26 of the output with the input's
    judge_before: float       # the expression judge's P(asked class) on the input (NaN: not judged)
    judge_after: float        # … on the output
    judge_gain: float         # after − before
    judged_as: str            # the judge's top class on the output
    recognised: str           # yes | no | already (the input showed it: the pair does not count) | ''
    fer_gain: float           # the second judge ("fer", human's emotion net): P(asked) after − before
    fer_judged_as: str        # … its top class on the output
    fer_recognised: str       # … its verdict, as `recognised`


@dataclass(frozen=True)
class ReconstructionRow:
    editor: str
    clip: str
    pairs: int
    psnr: float               # face region (the target's hull)
    ssim: float
    l1: float
    mouth_psnr: float         # the lips' hull grown by metrics.MOUTH_GROW_PX
    mouth_ssim: float
    mouth_l1: float
    au_error: float
    identity: float | None


HEADERS = {
    "unedited_change": "unedited AU Δ", "au_error": "AU error", "face_ssim": "face SSIM",
    "background_psnr": "background PSNR (dB)", "flicker_added": "flicker added", "identity": "identity dist.",
    "psnr": "PSNR (dB)", "ssim": "SSIM", "l1": "L1", "speech_r": "speech r",
    "judge_before": "P before", "judge_after": "P after", "judge_gain": "P gain", "judged_as": "judged as",
    "recognised": "recognised", "fer_gain": "fer P gain", "fer_judged_as": "fer judged as",
    "fer_recognised": "fer recognised",
    "mouth_psnr": "mouth PSNR", "mouth_ssim": "mouth SSIM", "mouth_l1": "mouth L1",
}


TEXT_COLUMNS = ("editor", "preset", "media", "clip", "judged_as", "recognised", "fer_judged_as", "fer_recognised")

# reconstruction SSIMs of editors that beat "no edit" differ in the fourth decimal on a steady clip
DIGITS = {"ssim": 4, "mouth_ssim": 4}


def _cell(v, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if math.isinf(v):
            return "exact"
        return "–" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: Sequence[ExpressionRow] | Sequence[ReconstructionRow]) -> str:
    """Rows of one kind as a Markdown table; a note under it when identity could not be measured."""
    if not rows:
        return ""
    names = [f.name for f in fields(rows[0])]
    lines = ["| " + " | ".join(HEADERS.get(n, n) for n in names) + " |",
             "|" + "|".join("---" if n in TEXT_COLUMNS else "---:" for n in names) + "|"]
    lines += ["| " + " | ".join(_cell(getattr(r, n), DIGITS.get(n, 3)) for n in names) + " |" for r in rows]
    if any(r.identity is None for r in rows):
        lines.append(f"\nidentity: {IDENTITY_NA}")
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[ExpressionRow] | Sequence[ReconstructionRow], path: str | os.PathLike) -> None:
    if not rows:
        return
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=[x.name for x in fields(rows[0])])
    w.writeheader()
    w.writerows(asdict(r) for r in rows)
    try:
        write_atomic(Path(path), text.getvalue().encode("utf-8"))
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
