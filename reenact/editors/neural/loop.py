"""`reenact train`: self-supervised training of the neural editor on the user's own footage.

    from reenact.editors.neural.loop import train
    result = train(["me.mp4"], "engines/me", preset="tiny")

A pair (source, target) of frames of one video is the whole supervision: the generator gets the source
crop and AU(target) − AU(source), read by our own estimator, and must reproduce the target crop.
The losses are in `.losses`, checkpoints (for --resume) in `.checkpoints`; presets in
configs/train_presets.yaml.
"""
from __future__ import annotations

import csv
import logging
import math
import os
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ...config import Config, load_config, load_presets
from ...errors import ConfigError, IntegrityError
from ...pipeline.types import AU_MAX, AU_NAMES
from .data import Batch, PairSampler, load_clip
from .export import export_generator
from .model import Arch, AURegressor, Generator, PatchDiscriminator
from .checkpoints import CHECKPOINT, CHECKPOINT_META, load_checkpoint, save_checkpoint
from .losses import Weights, ssim_map, tv, wmean

log = logging.getLogger("reenact.neural")


LOSSES_CSV = "losses.csv"
# a personal model is trained on someone's face: nothing in its directory is ever committed
GITIGNORE = "# personal model (trained on someone's footage): never committed\n*\n"


@dataclass(frozen=True)
class TrainConfig:
    size: int = 256
    width: int = 32
    batch: int = 16
    steps: int = 20000
    lr: float = 2e-4
    holdout: float = 0.0        # the last fraction of each video is never trained on (for `reenact eval`)
    max_minutes: float = 0.0    # stop (and export) after this much training time; 0: no limit
    rig_prior: bool = True      # flow_prior pulls towards the rig's flow; False: towards zero
    save_every: int = 200
    seed: int = 0
    weights: Weights = Weights()

    @property
    def arch(self) -> Arch:
        return Arch(self.size, self.width)


PRESETS: dict[str, TrainConfig] = load_presets("train_presets.yaml", TrainConfig)
# what --resume may change; everything else must match the checkpoint
RESUMABLE = ("steps", "max_minutes", "save_every")


class Trainer:
    """The generator with its AU regressor (and discriminator when the adversarial weight is > 0)."""

    def __init__(self, cfg: TrainConfig, device: str = "cpu"):
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.device = device
        self.w = cfg.weights
        self.g = Generator(cfg.arch).to(device)
        self.r = AURegressor().to(device)
        self.d = PatchDiscriminator().to(device) if self.w.adversarial > 0 else None
        adam = lambda m: torch.optim.Adam(m.parameters(), cfg.lr, betas=(0.5, 0.999))
        self.nets = {"g": self.g, "r": self.r} | ({"d": self.d} if self.d else {})
        self.opts = {k: adam(m) for k, m in self.nets.items()}
        self.step = 0

    def tensors(self, b: Batch) -> dict[str, torch.Tensor]:
        return {f.name: torch.from_numpy(getattr(b, f.name)).to(self.device)
                for f in fields(b) if getattr(b, f.name) is not None}

    def losses(self, t: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Every generator loss term (unweighted) and their weighted `total`, with the edited targets."""
        s, y, y1 = t["source"], t["target"], t["target_next"]
        d, d1 = t["au_target"] - t["au_source"], t["au_next"] - t["au_source"]
        n = s.shape[0]
        h = max(1, n // 2)  # cycle and self-reconstruction on half the batch: they are cheap to satisfy
        gates = torch.cat([self.g.gate(d), self.g.gate(d1), torch.ones(h, 1, 1, 1, device=self.device)])
        out, flow, mask, _ = self.g(torch.cat([s, s, s[:h]]), torch.cat([d, d1, torch.zeros_like(d[:h])]), gates)
        o, o1, o_self = out[:n], out[n:2 * n], out[2 * n:]
        back = self.g(o[:h], -d[:h])[0]
        both, real, w = torch.cat([o, o1]), torch.cat([y, y1]), torch.cat([t["weight"], t["weight_next"]])
        scale = self.g.flow_scale
        prior = t.get("rig_flow", torch.zeros_like(flow[:n]))
        out_losses = {
            "l1": wmean((both - real).abs(), w),
            "ssim": 1 - wmean(ssim_map(both, real), w),
            "temporal": wmean(((o1 - o) - (y1 - y)).abs(), t["weight"] * t["weight_next"]),
            "cycle": (back - s[:h]).abs().mean(),
            "self": (o_self - s[:h]).abs().mean(),
            "mask": mask[:2 * n].mean(),
            "mask_tv": tv(mask[:2 * n]),
            "flow_tv": tv(flow[:2 * n]) / scale,
            "flow_prior": ((flow[:n] - prior) / scale).pow(2).mean(),
            "au": (self.r(o) - t["au_target"]).abs().mean() / AU_MAX,
        }
        if self.d is not None:
            out_losses["adversarial"] = -self.d(o).mean()
        out_losses["total"] = sum(getattr(self.w, k) * v for k, v in out_losses.items())
        return out_losses, o

    def train_step(self, b: Batch) -> dict[str, float]:
        t = self.tensors(b)
        losses, fake = self.losses(t)
        self._update("g", losses["total"])
        # the helpers learn after the generator, on real frames (and its detached output)
        real, au = torch.cat([t["target"], t["source"]]), torch.cat([t["au_target"], t["au_source"]])
        losses["au_regressor"] = self._update("r", (self.r(real) - au).abs().mean() / AU_MAX)
        if self.d is not None:
            hinge = F.relu(1 - self.d(t["target"])).mean() + F.relu(1 + self.d(fake.detach())).mean()
            losses["discriminator"] = self._update("d", hinge)
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    def _update(self, net: str, loss: torch.Tensor) -> torch.Tensor:
        opt = self.opts[net]
        opt.zero_grad(set_to_none=True)
        loss.backward()
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


def train(videos: Sequence[str | os.PathLike], out: str | os.PathLike, *, preset: str | None = None,
          steps: int | None = None, size: int | None = None, holdout: float | None = None,
          adversarial: float | None = None, resume: bool = False, cfg: Config | None = None, device: str | None = None,
          progress: bool = True, command: str | None = None) -> TrainResult:
    """Track and cache the videos, train (or resume), checkpoint, then export engines/NAME/neural.onnx."""
    out = Path(out)
    if not videos:
        raise ConfigError("give at least one --video of the person")
    if (out / CHECKPOINT_META).exists() and not resume:
        raise ConfigError("already holds a trained model: pass --resume to continue it, or choose another -o",
                          str(out))
    meta, tensors = load_checkpoint(out) if resume else (None, None)
    tcfg = resolve_config(preset, {"steps": steps, "size": size, "holdout": holdout, "adversarial": adversarial},
                          meta)
    if not 0.0 <= tcfg.holdout < 1.0:
        raise ConfigError(f"holdout must be in [0, 1), got {tcfg.holdout}")
    device = device or default_device()
    cfg = cfg or load_config()
    clips = [load_clip(v, cfg, progress=progress).resized(tcfg.size) for v in videos]
    if device == "cpu" and tcfg.size > 128:  # once the footage is known to be usable
        log.warning("training at %d² on the CPU takes hours; --preset tiny trains in minutes", tcfg.size)
    data = [{"name": Path(c.path).name, "sha256": c.sha256, "frames": c.frame_count} for c in clips]
    if meta is not None and [d["sha256"] for d in meta["videos"]] != [d["sha256"] for d in data]:
        raise ConfigError("the checkpoint was trained on other videos; resume with the same --video files "
                          "in the same order, or train into a new -o", str(out))
    sampler = PairSampler(clips, [c.split(tcfg.holdout)[0] for c in clips], rig_prior=tcfg.rig_prior)

    trainer = Trainer(tcfg, device)
    rng = np.random.default_rng(tcfg.seed)
    if meta is not None:
        trainer.load_state(tensors, meta["step"], str(out / CHECKPOINT))
        rng.bit_generator.state = meta["rng"]
    out.mkdir(parents=True, exist_ok=True)
    (out / ".gitignore").write_text(GITIGNORE, encoding="utf-8")

    def checkpoint() -> str:
        return save_checkpoint(out, trainer, {"videos": data, "rng": rng.bit_generator.state})

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
            row = trainer.train_step(sampler.sample(tcfg.batch, rng))
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
            bar.set_postfix({k: f"{row[k]:.3f}" for k in ("total", "l1", "ssim", "au")})
            if trainer.step % tcfg.save_every == 0:
                checkpoint()
    seconds = time.monotonic() - t0
    sha = checkpoint()
    feeds = sampler.sample(2, np.random.default_rng(0))
    made = {"tool": command or "reenact train", "size": tcfg.size, "au_names": list(AU_NAMES),
            "steps": trainer.step, "holdout": tcfg.holdout, "videos": data, "checkpoint_sha256": sha}
    export_generator(trainer.g, out, {"crop": feeds.source, "delta": feeds.au_target - feeds.au_source}, made)
    plot_losses(out / LOSSES_CSV, out / "losses.png")
    tail = history[-20:]
    return TrainResult(out, trainer.step, trainer.step - first, seconds,
                       {k: float(np.mean([h[k] for h in tail])) for k in tail[0]} if tail else {}, stopped)


def plot_losses(csv_path: Path, png: Path) -> None:
    """Each loss term against step (log scale), smoothed over 20 steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.read_csv(csv_path)
    if df.empty:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # a dozen terms: the default ten colours would repeat
    for col in df.columns[1:]:
        ax.plot(df["step"], df[col].rolling(20, min_periods=1).mean(), label=col)
    ax.set(xlabel="step", ylabel="loss (20-step mean)", yscale="log")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
