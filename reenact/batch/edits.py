"""Edit specs of a batch: presets, explicit AU targets, reference faces and sweeps of them.

    happy                        a preset from configs/presets.yaml (a whole face, whatever the mode)
    AU12=3,AU6=2                 explicit FACS intensities, absolute by default in a batch
    AU12=0:5:1                   a sweep: every value from 0 to 5 in steps of 1 (6 edits)
    AU06=0:3:1 x AU12=0:5:1      terms crossed: every combination (4 × 6 = 24 edits)
    AU06=0:3:1,AU12=0:5:1        the same: every sweep in a spec is crossed with the others
    ref:face.jpg                 the expression of a reference face (also `--ref face.jpg`)

Explicit targets are absolute intensities in a batch: the label is the intensity asked for, whatever the
face showed before (the rig's readback rises monotonically with an absolute target, see README). A
preset or a reference is a whole face (reenact/stages/targets.py), whatever the mode.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ConfigError
from ..stages.targets import MODES, WHOLE, presets
from ..pipeline.types import AU_MAX, AU_NAMES, au_key

# one spec may not expand to more edits than this: a typo such as a step of 0.0001 fails at once
MAX_EDITS = 10_000
EXPLICIT_MODE = "absolute"
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9=.+_-]+")

SYNTAX = ("use a preset ({presets}), 'AU12=3,AU6=2', a sweep 'AU12=0:5:1' (start:stop:step), "
          "terms crossed with ' x ' ('AU06=0:3:1 x AU12=0:5:1') or 'ref:IMAGE'")


@dataclass(frozen=True)
class Edit:
    """One edit of a batch: what the target stage is given, and how outputs and labels name it.

    target: a preset name or 'AU06=2,AU12=3' (canonical AU order), empty for a reference face.
    ref: a reference image path (shared storage when run on a cluster); ref_sha256 its bytes' hash,
    filled in when the run is planned, so a changed reference redoes its outputs.
    editor / strength: None takes the run's.
    """

    name: str
    target: str = ""
    ref: str = ""
    mode: str = "relative"
    editor: str | None = None
    strength: float | None = None
    ref_sha256: str = ""

    @property
    def default_mode(self) -> str:
        """The mode an edit of this kind gets unless told otherwise; another mode shows in file names."""
        if "=" in self.target:
            return EXPLICIT_MODE
        return WHOLE   # presets and references are whole faces

    @property
    def explicit_mode(self) -> str:
        """The mode explicit values are applied in; presets and references are whole faces regardless."""
        return self.mode if self.mode in MODES else "relative"

    @property
    def kind(self) -> str:
        return "ref" if self.ref else ("aus" if "=" in self.target else "preset")

    def slug(self, default_editor: str, default_strength: float) -> str:
        """File-name part: the name, then the mode, editor and strength where they are not the defaults."""
        base = f"ref-{Path(self.ref).stem}" if self.ref else self.name
        parts = [base]
        if self.mode != self.default_mode:
            parts.append(self.mode[:3])
        if (self.editor or default_editor) != default_editor:
            parts.append(self.editor)
        strength = self.strength if self.strength is not None else default_strength
        if strength != default_strength:
            parts.append(f"s{strength:g}")
        # 'AU06=2,AU12=3' → 'AU06=2+AU12=3': no commas in file names that labels.csv lists
        return "__".join(_SLUG_UNSAFE.sub("-", p.replace(",", "+")).strip("-") or "edit" for p in parts)


def _values(text: str, where: str) -> list[float]:
    """'3' → [3.0]; '0:5:1' → [0, 1, 2, 3, 4, 5] (stop included); '0:5' steps by 1."""
    parts = text.split(":")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a number or start:stop:step") from None
    if len(nums) == 1:
        vals = nums
    elif len(nums) in (2, 3):
        start, stop, step = (*nums, 1.0) if len(nums) == 2 else nums
        if not (math.isfinite(step) and step > 0):
            raise ConfigError(f"{where}: the step of {text!r} must be > 0")
        if stop < start:
            raise ConfigError(f"{where}: {text!r} runs backwards (start {start:g} > stop {stop:g})")
        n = math.floor((stop - start) / step + 1e-9) + 1
        if n > MAX_EDITS:
            raise ConfigError(f"{where}: {text!r} has {n} values, more than {MAX_EDITS}")
        vals = [round(start + i * step, 9) for i in range(n)]
    else:
        raise ConfigError(f"{where}: {text!r} has {len(nums)} parts; a sweep is start:stop:step")
    for v in vals:
        if not 0.0 <= v <= AU_MAX:
            raise ConfigError(f"{where}: {v:g} is outside 0–{AU_MAX:g}")
    return vals


def _assignments(term: str, where: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for part in (p.strip() for p in term.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"{where}: {part!r} is not AUxx=VALUE")
        key, _, val = part.partition("=")
        try:
            au = au_key(key)
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
        if au in out:
            raise ConfigError(f"{where}: {au} is given twice")
        out[au] = _values(val.strip(), f"{where}: {au}")
    if not out:
        raise ConfigError(f"{where}: no AU given")
    return out


def parse_edit(spec: str, *, mode: str | None = None, editor: str | None = None,
               strength: float | None = None) -> list[Edit]:
    """One spec → its edits, in a stable order (the last AU of a cross varies fastest).

    `mode` None: explicit targets are absolute, a preset keeps its own mode or is relative.
    Raises ConfigError with one line naming the mistake and the syntax.
    """
    text = spec.strip()
    table = presets()
    where = f"bad --edit {spec!r}"
    if mode is not None and mode not in MODES:
        raise ConfigError(f"{where}: mode {mode!r} unknown; known: {', '.join(MODES)}")
    if text.lower().startswith("ref:"):
        ref = text[4:].strip()
        if not ref:
            raise ConfigError(f"{where}: no image after 'ref:'")
        return [Edit(name=f"ref:{ref}", ref=ref, mode=WHOLE, editor=editor, strength=strength)]
    if text.lower() in table:
        preset = table[text.lower()]
        return [Edit(name=preset.name, target=preset.name, mode=preset.mode,
                     editor=editor, strength=strength)]
    if "=" not in text:
        raise ConfigError(f"{where}: no preset named {text!r}; " + SYNTAX.format(presets=", ".join(sorted(table))))
    merged: dict[str, list[float]] = {}
    for term in re.split(r"\s+[xX×]\s+", text):
        for au, vals in _assignments(term, where).items():
            if au in merged:
                raise ConfigError(f"{where}: {au} is given twice")
            merged[au] = vals
    n = math.prod(len(v) for v in merged.values())
    if n > MAX_EDITS:
        raise ConfigError(f"{where}: expands to {n} edits, more than {MAX_EDITS}")
    order = [au for au in AU_NAMES if au in merged]
    out = []
    for combo in itertools.product(*(merged[au] for au in order)):
        target = ",".join(f"{au}={v:g}" for au, v in zip(order, combo))
        out.append(Edit(name=target, target=target, mode=mode or EXPLICIT_MODE, editor=editor, strength=strength))
    return out


def ref_edit(path: str, *, mode: str | None = None) -> Edit:
    return parse_edit(f"ref:{path}", mode=mode)[0]


def with_defaults(edit: Edit, editor: str, strength: float) -> Edit:
    """The edit with the run's editor and strength filled in where it names none."""
    return replace(edit, editor=edit.editor or editor,
                   strength=edit.strength if edit.strength is not None else strength)
