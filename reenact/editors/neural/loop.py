"""`reenact train`: the refiner, trained on the user's own enrolled frames.

    from reenact.editors.neural.loop import train
    result = train("engines/me", preset="tiny")        # engines/me holds an enrolment (reenact enroll)

A pair (source, target) of the person's frames is the whole supervision: the base editor (the personal
bank in the same folder, or the rig) answers the source asked the target's AUs, with the target and its
neighbours in time kept out of the bank, as they would be at run time; the refiner must turn that answer
into the target, registered onto the source's head (`data.registered`). The base answers are computed
once, before training. The losses are in `.losses`,
checkpoints (for --resume) in `.checkpoints`; presets in configs/train_presets.yaml.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...config import load_presets
from ...errors import ConfigError, IntegrityError
from ...pipeline.types import AU_NAMES, Edit
from ..base import EditRequest
from ..personal.bank import Bank, load_bank, read_meta
from ..personal.editor import PersonalEditor
from ..rig.editor import RigEditor
from . import BASES
from .checkpoints import CHECKPOINT, CHECKPOINT_META, load_checkpoint, save_checkpoint
from .data import Batch, make_pairs
from .export import export_refiner
from .losses import Weights, ssim_map, tv, wmean
from .model import Arch, PatchDiscriminator, Refiner

log = logging.getLogger("reenact.neural")


LOSSES_CSV = "losses.csv"


@dataclass(frozen=True)
class TrainConfig:
    size: int = 256
    width: int = 32
    batch: int = 16
    steps: int = 20000
    lr: float = 2e-4
    pairs: int = 4000           # base edits computed before training
    base: str = "personal"      # the editor refined: personal (the folder's bank) or rig
    max_minutes: float = 0.0    # stop (and export) after this much training time; 0: no limit
    save_every: int = 200
    seed: int = 0
    weights: Weights = Weights()

    @property
    def arch(self) -> Arch:
        return Arch(self.size, self.width)


PRESETS: dict[str, TrainConfig] = load_presets("train_presets.yaml", TrainConfig)
# what --resume may change; everything else must match the checkpoint
RESUMABLE = ("steps", "max_minutes", "save_every")
# the mask counts as open above this, in the statistics logged with the losses
MASK_OPEN = 0.5
MASK_STATS = ("mask_mean", "mask_open", "added")
# largest gradient norm of one step
GRAD_CLIP = 1.0
# a target's frame and this many on either side of it are kept out of the bank for its base edit
EXCLUDE_FRAMES = 5


class Trainer:
    """The refiner (with a discriminator when the adversarial weight is > 0)."""

    def __init__(self, cfg: TrainConfig, device: str = "cpu"):
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.device = device
        self.w = cfg.weights
        self.g = Refiner(cfg.arch).to(device)
        self.d = PatchDiscriminator().to(device) if self.w.adversarial > 0 else None
        adam = lambda m: torch.optim.Adam(m.parameters(), cfg.lr, betas=(0.5, 0.999))  # noqa: E731
        self.nets = {"g": self.g} | ({"d": self.d} if self.d else {})
        self.opts = {k: adam(m) for k, m in self.nets.items()}
        self.step = 0

    def tensors(self, b: Batch) -> dict[str, torch.Tensor]:
        return {f.name: torch.from_numpy(getattr(b, f.name)).to(self.device) for f in fields(b)}

    def losses(self, t: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, float]]:
        """Every loss term (unweighted) and their weighted `total`, the refined outputs, and the mask's
        statistics over the targets' faces."""
        base, crop, y, d, w = t["base"], t["crop"], t["target"], t["delta"], t["weight"]
        n = base.shape[0]
        h = max(1, n // 4)  # self-reconstruction on a quarter of the batch: it is cheap to satisfy
        gates = torch.cat([self.g.gate(d), torch.ones(h, 1, 1, 1, device=self.device)])
        out, mask, fill = self.g(torch.cat([base, crop[:h]]), torch.cat([crop, crop[:h]]),
                                 torch.cat([d, torch.zeros_like(d[:h])]), gates)
        o, m = out[:n], mask[:n]
        added = m * (fill[:n] - base)
        out_losses = {
            "l1": wmean((o - y).abs(), w),
            "ssim": 1 - wmean(ssim_map(o, y), w),
            "self": (out[n:] - crop[:h]).abs().mean(),
            "change": added.abs().mean(),
            "mask_tv": tv(m),
        }
        if self.d is not None:
            out_losses["adversarial"] = -self.d(o).mean()
        out_losses["total"] = sum(getattr(self.w, k) * v for k, v in out_losses.items())
        with torch.no_grad():
            face = (w > 0.5).float()
            area = face.sum().clamp(min=1.0)
            stats = {"mask_mean": float((m * face).sum() / area),
                     "mask_open": float(((m > MASK_OPEN).float() * face).sum() / area),
                     "added": float((added.abs().mean(1, keepdim=True) * face).sum() / area)}
        return out_losses, o, stats

    def train_step(self, b: Batch) -> dict[str, float]:
        t = self.tensors(b)
        losses, fake, stats = self.losses(t)
        self._update("g", losses["total"])
        if self.d is not None:
            hinge = F.relu(1 - self.d(t["target"])).mean() + F.relu(1 + self.d(fake.detach())).mean()
            losses["discriminator"] = self._update("d", hinge)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()} | stats

    def _update(self, net: str, loss: torch.Tensor) -> torch.Tensor:
        opt = self.opts[net]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # one bad batch once blew the residual up and the mask's logits down to where the sigmoid has no
        # gradient left (the mask never reopened); a bounded step keeps that from happening
        torch.nn.utils.clip_grad_norm_(self.nets[net].parameters(), GRAD_CLIP)
        opt.step()
        return loss.detach()

    @torch.no_grad()
    def eval_losses(self, b: Batch) -> dict[str, float]:
        return {k: float(v) for k, v in self.losses(self.tensors(b))[0].items()}

    def state(self) -> dict[str, torch.Tensor]:
        """Weights and optimiser moments, flat, for safetensors."""
        out = {f"{k}.{n}": p.detach().cpu().contiguous() for k, m in self.nets.items() for n, p in m.state_dict().items()}
        for k, opt in self.opts.items():
            for i, st in opt.state_dict()["state"].items():
                out |= {f"opt_{k}.{i}.{n}": v.detach().cpu().contiguous() for n, v in st.items()}
        return out

    def load_state(self, tensors: Mapping[str, torch.Tensor], step: int, where: str) -> None:
        try:
            for k, m in self.nets.items():
                m.load_state_dict({n[len(k) + 1:]: v for n, v in tensors.items() if n.startswith(f"{k}.")})
            for k, opt in self.opts.items():
                state: dict[int, dict] = {}
                for n, v in tensors.items():
                    if n.startswith(f"opt_{k}."):
                        _, i, name = n.split(".")
                        state.setdefault(int(i), {})[name] = v.to(self.device)
                opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        except (RuntimeError, ValueError, KeyError) as e:
            raise IntegrityError(f"weights do not fit this model ({str(e).splitlines()[0]})", where) from None
        self.step = step


def _config_from(meta: dict) -> TrainConfig:
    c = dict(meta["config"])
    return TrainConfig(**{**c, "weights": Weights(**c["weights"])})


_WEIGHTS = {f.name for f in fields(Weights)}


def _overridden(base: TrainConfig, given: Mapping[str, object]) -> TrainConfig:
    """`base` with the given TrainConfig fields and loss weights (e.g. 'adversarial')."""
    weights = {k: v for k, v in given.items() if k in _WEIGHTS}
    return replace(base, **{k: v for k, v in given.items() if k not in _WEIGHTS},
                   weights=replace(base.weights, **weights))


def resolve_config(preset: str | None, overrides: Mapping[str, object], resumed: dict | None) -> TrainConfig:
    """The preset (default 'default') with overrides (TrainConfig fields or loss weights); on resume the
    checkpoint's config, which only RESUMABLE fields may change."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if resumed is None:
        return _overridden(PRESETS[preset or "default"], given)
    stored = _config_from(resumed)
    asked = _overridden(PRESETS[preset] if preset else stored, given)
    differ = [f.name for f in fields(TrainConfig)
              if f.name not in RESUMABLE and getattr(asked, f.name) != getattr(stored, f.name)]
    if differ:
        raise ConfigError(f"the checkpoint was trained with other {', '.join(differ)} "
                          f"({', '.join(f'{k}={getattr(stored, k)}' for k in differ)}); drop those options "
                          "to resume, or train into a new -o")
    return replace(stored, **{k: getattr(asked, k) for k in RESUMABLE})


@dataclass(frozen=True)
class TrainResult:
    directory: Path
    steps: int                  # total steps the model has had
    trained_steps: int          # in this run
    seconds: float              # this run's training time (tracking and export excluded)
    losses: dict[str, float]    # mean of the last steps of this run
    stopped_early: bool         # hit max_minutes


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def base_editor(directory: Path, base: str):
    """(the base editor's answer function for make_pairs, the enrolment's sha256 it stands on)."""
    if base == "rig":
        rig = RigEditor()

        def answer(req: EditRequest, excluded: np.ndarray) -> Edit:
            rig.reset()
            return rig.edit(req)

        return answer, read_meta(directory)["sha256"]
    bank = PersonalEditor(str(directory))

    def answer(req: EditRequest, excluded: np.ndarray) -> Edit:
        bank.reset()
        return bank.edit(req, exclude=excluded)

    return answer, bank.sha256


def neighbours(bank: Bank) -> np.ndarray:
    """(N, N) bool: frame j may not answer for target i (the same video, within EXCLUDE_FRAMES)."""
    same = bank.clips[:, None] == bank.clips[None, :]
    return same & (np.abs(bank.frames[:, None] - bank.frames[None, :]) <= EXCLUDE_FRAMES)


def train(out: str | os.PathLike, *, preset: str | None = None, steps: int | None = None, size: int | None = None,
          base: str | None = None, pairs: int | None = None, adversarial: float | None = None, resume: bool = False,
          device: str | None = None, progress: bool = True, command: str | None = None) -> TrainResult:
    """Train (or resume) the refiner on the enrolment in `out`, checkpoint, then export out/neural.onnx."""
    out = Path(out)
    if (out / CHECKPOINT_META).exists() and not resume:
        raise ConfigError("already holds a trained model: pass --resume to continue it, or choose another -o",
                          str(out))
    meta, tensors = load_checkpoint(out) if resume else (None, None)
    tcfg = resolve_config(preset, {"steps": steps, "size": size, "base": base, "pairs": pairs,
                                   "adversarial": adversarial}, meta)
    if tcfg.base not in BASES:
        raise ConfigError(f"unknown base editor {tcfg.base!r}; known: {', '.join(BASES)}")
    device = device or default_device()
    if device == "cpu" and tcfg.size > 128:
        log.warning("training at %d² on the CPU takes hours; --preset tiny trains in minutes", tcfg.size)
    bank, _ = load_bank(out)
    answer, bank_sha = base_editor(out, tcfg.base)
    if meta is not None and meta.get("bank_sha256") != bank_sha:
        raise ConfigError("the checkpoint was trained on another enrolment; train into a new -o", str(out))
    data = make_pairs(bank.crops, bank.landmarks, bank.keys, neighbours(bank), answer, tcfg.pairs, tcfg.size,
                      np.random.default_rng(tcfg.seed), progress)

    trainer = Trainer(tcfg, device)
    rng = np.random.default_rng(tcfg.seed + 1)
    if meta is not None:
        trainer.load_state(tensors, meta["step"], str(out / CHECKPOINT))
        rng.bit_generator.state = meta["rng"]

    def checkpoint() -> str:
        return save_checkpoint(out, trainer, {"bank_sha256": bank_sha, "videos": list(bank.videos),
                                              "rng": rng.bit_generator.state})

    history: list[dict[str, float]] = []
    first = trainer.step
    t0 = time.monotonic()
    stopped = False
    with open(out / LOSSES_CSV, "a" if resume else "w", newline="", encoding="utf-8") as f, \
            tqdm(total=tcfg.steps, initial=first, unit="step", desc=f"train {out.name}", disable=not progress,
                 dynamic_ncols=True) as bar:
        writer = None
        while trainer.step < tcfg.steps:
            if tcfg.max_minutes and time.monotonic() - t0 > 60 * tcfg.max_minutes:
                stopped = True
                log.warning("stopped at step %d: the %g-minute limit", trainer.step, tcfg.max_minutes)
                break
            row = trainer.train_step(data.sample(tcfg.batch, rng))
            if not all(map(math.isfinite, row.values())):
                raise IntegrityError(f"training diverged at step {trainer.step} (loss {row['total']}); "
                                     "resume from the last checkpoint with a lower learning rate", str(out))
            history.append(row)
            if writer is None:
                writer = csv.DictWriter(f, ["step", *row])
                if f.tell() == 0:
                    writer.writeheader()
            writer.writerow({"step": trainer.step, **{k: f"{v:.5f}" for k, v in row.items()}})
            bar.update()
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("total", "l1", "ssim", "mask_mean")})
            if trainer.step % tcfg.save_every == 0:
                checkpoint()
    seconds = time.monotonic() - t0
    sha = checkpoint()
    feeds = data.sample(2, np.random.default_rng(0))
    made = {"tool": command or "reenact train", "size": tcfg.size, "au_names": list(AU_NAMES), "base": tcfg.base,
            "bank_sha256": bank_sha, "steps": trainer.step, "videos": list(bank.videos), "checkpoint_sha256": sha}
    export_refiner(trainer.g, out, {"base": feeds.base, "crop": feeds.crop, "delta": feeds.delta}, made)
    plot_losses(out / LOSSES_CSV, out / "losses.png")
    tail = history[-20:]
    return TrainResult(out, trainer.step, trainer.step - first, seconds,
                       {k: float(np.mean([h[k] for h in tail])) for k in tail[0]} if tail else {}, stopped)


def plot_losses(csv_path: Path, png: Path) -> None:
    """Each loss term against step (log scale) and the mask's statistics (linear), smoothed over 20 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_csv(csv_path)
    if df.empty:
        return
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)
    smooth = lambda col: df[col].rolling(20, min_periods=1).mean()  # noqa: E731
    for col in df.columns[1:]:
        (bx if col in MASK_STATS else ax).plot(df["step"], smooth(col), label=col)
    ax.set(xlabel="step", ylabel="loss (20-step mean)", yscale="log")
    bx.set(xlabel="step", ylabel="over the target's face (20-step mean)", ylim=(0, 1))
    for a in (ax, bx):
        a.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
