"""Target stage: what AU intensities each face should show, from a preset, explicit values, a reference
face or a driving video; smoothed per track on pts time.

    --target-au happy               a preset from configs/presets.yaml (EMFACS prototypes)
    --target-au "AU12=3,AU6=2"      explicit intensities, FACS 0–5
    --ref face.jpg                  the reference face's AUs (those it shows clearly) as a preset
    --drive clip.mp4 | webcam[:N]   the source at rest plus the driver's AU change from its own neutral

A preset (and a reference face) is a whole face ("whole" mode): the AUs it names go to their values,
every other expressive AU goes to rest (0), so `sad` on a smiling face removes the smile and `neutral`
is simply every AU at rest. In video the speech and blink AUs (SPEECH_AUS) keep following the face: a
preset that names one opens from a share of its value (VIDEO_OPENING), the face's own motion scaled
into what is left of the 0–5 scale above it, so speech stays visible; lids held low for longer than a
blink (BLINK_MAX_S) are a state, and AU45 then goes to the preset's value; lips a smile holds apart over a
still jaw are the smile's, and go with it (SMILE_PARTING). On a still nothing
moves by itself and they go to the preset's value like the rest. `strength` blends from the face's own
expression (0) to the preset (1), and past it up to 1.5. The editor also gets that pull to rest
(FaceSample.target_rest, the strength up to 1), for what the reading missed: a smile on a turned face that
reads AU12 0 is still taken away under `neutral`.

Explicit values use edit.mode: relative (default) adds the named intensities to the face's own, a steady
offset that keeps speech, blinks and the person's own expression; absolute sets the named AUs. AUs an
explicit target does not name follow the face. Relative targets may exceed 5 where the estimator's
reading is already saturated: the rig applies the difference.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

import numpy as np

from ..config import Config, EditConfig, load_config, read_yaml
from ..errors import ConfigError, NoFace
from ..pipeline.smoothing import OneEuroFilter
from ..pipeline.stage import StageBase
from ..pipeline.types import AU_INDEX, AU_MAX, AU_NAMES, AUVector, Packet, au_key

log = logging.getLogger(__name__)

MODES = ("relative", "absolute")   # for explicit values; presets and references are "whole"
WHOLE = "whole"
# AUs that follow the face in video under a whole-face target: speech and blinks
SPEECH_AUS = ("AU25", "AU26", "AU45")
_SPEECH = np.array([AU_INDEX[a] for a in SPEECH_AUS])
# ... but lids held low are a state, not a blink: once the face's AU45 has stayed at HELD_LID_AU or more for
# longer than BLINK_MAX_S, AU45 goes to the preset's value as on a still (surprise opens eyes kept closed or
# lowered) until the lids lift again. talking_man.mp4's blinks read AU45 ≥ 1 for 0.2-0.3 s (frames 44-52, 87-91);
# a blink lasts 0.1-0.4 s
HELD_LID_AU = 1.0
BLINK_MAX_S = 0.6
_AU45 = AU_INDEX["AU45"]
SIDES = ("both", "right", "left")
# in video, the share of a preset's own AU25/AU26 that opens the mouth: the speech rides on it, and a
# mouth opened as wide as a still's prototype would leave the words no room (talking_man.mp4: the
# output's AU25/AU26 follow the input's at r ≈ 0.8 with 0.3, 0.7 with 0.5)
VIDEO_OPENING = 0.3
# ... but lips a smile holds apart over a still jaw are the smile's, not speech: a broad smile stretches them off
# the teeth (smile_man.mp4, frames 20-68: AU12 3.2-4.0 reads AU25 1.8-2.7 at AU26 0, teeth together; at rest, 0).
# Up to SMILE_PARTING per unit of AU12 of the face's AU25 above its AU26 goes with the share of its AU12 the target
# takes away, fading out as the jaw moves (AU26 up to JAW_MOVING_AU: talking_man.mp4 smiles as he talks, AU26
# 0.3-2.3, and his words stay); so `neutral` closes the smile's bared teeth, and anger or disgust open from closed
# lips as on his resting face instead of over the smile's two rows of teeth
SMILE_PARTING = 0.65
JAW_MOVING_AU = 1.0
_AU12, _AU25, _AU26 = AU_INDEX["AU12"], AU_INDEX["AU25"], AU_INDEX["AU26"]
STRENGTH_RANGE = (0.0, 1.5)
# a reference face's AU counts as part of its expression from this reading up; weaker readings are
# more likely the face's shape seen against the still prior than an expression
REF_MIN_AU = 1.0
# faces looked for in a reference image: the photo's subject is the reference (the face a still's edit takes:
# whole, big, nearest the middle), and the user is told of the others
REF_MAX_FACES = 10


@dataclass(frozen=True)
class Target:
    """A requested expression: intensities for the named AUs, how to apply them, and on which side."""

    name: str
    values: AUVector
    named: tuple[str, ...]
    mode: str = "relative"     # relative | absolute | whole (see the module docstring)
    side: str = "both"         # both | right | left: a unilateral expression moves one half of the face

    def rest(self, strength: float = 1.0) -> float:
        """How far (0-1) what this target leaves at 0 goes to rest, even where the face's reading saw nothing
        (FaceSample.target_rest): a whole-face target's strength up to 1; 0 for explicit values, whose unnamed
        AUs follow the face."""
        return min(strength, 1.0) if self.mode == WHOLE else 0.0

    def resolve(self, source: AUVector, strength: float = 1.0, *, video: bool = False,
                held: bool = False) -> AUVector:
        """The AUs this face should show. `video`: speech and blink AUs follow the face (whole mode);
        `held`: the lids have been low longer than a blink (BLINK_MAX_S), so AU45 does not."""
        src = source.values.astype(np.float32)
        idx = [AU_INDEX[a] for a in self.named]
        if self.mode == WHOLE:
            goal = self.values.values.copy()      # unnamed AUs are 0 there: at rest
            if video:
                # the face's own speech rides on (a share of) the preset's value, scaled into what is
                # left of the 0–5 scale above it: a mouth a preset opens still moves with the words,
                # never pinned at the top of the scale (an unnamed one simply follows the face)
                follow = _SPEECH[_SPEECH != _AU45] if held else _SPEECH
                own = _speech(src, float(goal[_AU12]))
                goal[follow] = VIDEO_OPENING * goal[follow]
                goal[follow] += own[follow] * (1 - goal[follow] / AU_MAX)
            return AUVector(np.clip(src + strength * (goal - src), 0.0, AU_MAX))
        out = src.copy()
        if self.mode == "absolute":
            out[idx] = src[idx] + strength * (self.values.values[idx] - src[idx])
        else:
            out[idx] = src[idx] + strength * self.values.values[idx]
        return AUVector(out)


def _speech(src: np.ndarray, smile: float) -> np.ndarray:
    """The face's AUs with the lip parting its smile holds over a still jaw taken away as far as the target takes
    the smile (its AU12 down to `smile`): what of its mouth's opening is speech (SMILE_PARTING)."""
    taken = min(max((src[_AU12] - smile) / src[_AU12], 0.0), 1.0) if src[_AU12] > 0 else 0.0
    out = src.copy()
    held = min(max(src[_AU25] - src[_AU26], 0.0), SMILE_PARTING * src[_AU12])
    out[_AU25] -= taken * held * max(1.0 - src[_AU26] / JAW_MOVING_AU, 0.0)
    return out


@lru_cache(maxsize=1)
def presets() -> dict[str, Target]:
    """configs/presets.yaml as Targets, by lower-case name."""
    data = read_yaml("presets.yaml")
    out = {}
    for name, spec in (data.get("presets") or {}).items():
        where = f"presets.yaml: {name}"
        extra = set(spec) - {"aus", "side"}
        if extra:
            raise ConfigError(f"{where}: unknown keys {sorted(extra)}; known: aus, side")
        try:
            values = _checked_values(spec.get("aus") or {}, where)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        side = spec.get("side", "both")
        if side not in SIDES:
            raise ConfigError(f"{where}: side must be one of {', '.join(SIDES)}")
        out[name.lower()] = Target(name=name.lower(), values=AUVector.from_dict(values), named=tuple(values),
                                   mode=WHOLE, side=side)
    return out


def _checked_values(values: dict, where: str) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        key = au_key(str(k))
        x = float(v)
        if not 0.0 <= x <= AU_MAX:
            raise ValueError(f"{where}: {key}={x:g} is outside 0–{AU_MAX:g}")
        out[key] = x
    return out


def parse_target(spec: str, mode: str = "relative") -> Target:
    """'happy' (a whole-face preset) or 'AU12=3,AU6=2' (explicit values, in `mode`) → Target.

    Raises ConfigError with one line naming the valid presets and AUs.
    """
    if mode not in MODES:
        raise ConfigError(f"edit mode {mode!r} unknown; known: {', '.join(MODES)}")
    text = spec.strip()
    table = presets()
    if text.lower() in table:
        return table[text.lower()]
    try:
        if "=" not in text:
            raise ValueError(f"no preset named {text!r}")
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        values = _checked_values({k.strip(): v.strip() for k, v in pairs}, "--target-au")
        if not values:
            raise ValueError("no AU given")
    except ValueError as e:
        raise ConfigError(
            f"bad --target-au {spec!r} ({e}); use a preset ({', '.join(sorted(table))}) or "
            f"'AU12=3,AU6=2' with AUs from {', '.join(AU_NAMES)} and values 0–{AU_MAX:g}") from None
    return Target(name=text, values=AUVector.from_dict(values), named=tuple(values), mode=mode)


def check_strength(strength: float) -> float:
    lo, hi = STRENGTH_RANGE
    if not lo <= strength <= hi:
        raise ConfigError(f"--strength {strength:g} is outside {lo:g}..{hi:g}")
    return float(strength)


def reference_target(image: np.ndarray, name: str = "ref", cfg: Config | None = None) -> Target:
    """A reference face's expression as a whole-face Target.

    A single image has no history, so its AUs are read against the estimator's still prior
    (configs/still_prior.npy, faces at rest and their spread); only AUs it reads at REF_MIN_AU or
    more are named, so the reference's face shape does not leak into the edit; the rest go to rest.
    """
    from .au import load_model
    from .tracker import FaceTracker

    cfg = cfg or load_config()
    tracker = FaceTracker(replace(cfg.tracker, max_faces=REF_MAX_FACES), static=True)
    try:
        faces = tracker.detect(image)
    finally:
        tracker.close()
    if not faces:
        raise NoFace("no face found in the reference image", name)
    if len(faces) > 1:
        log.warning("%s: %d faces; the subject (the big whole face nearest the middle) is the reference",
                    name, len(faces))
    model = load_model(cfg.au.features)
    au = model.intensities(model.features(faces[0]))   # the static tracker puts the subject first
    named = tuple(n for n in AU_NAMES if au[n] >= REF_MIN_AU)
    values = AUVector.from_dict({n: au[n] for n in named})
    return Target(name=f"ref:{name}", values=values, named=named, mode=WHOLE)


class AUDriver(Protocol):
    """Where a driven target comes from: the driver's AU change at a stream time (None: no face yet)."""

    def read(self, t: float) -> AUVector | None: ...

    def close(self) -> None: ...


class Driver:
    """A driving face's AU change from its own neutral, followed on its own tracker and estimator.

    `read` is called with the processed stream's time; a file advances to the frame at that time (and
    holds its last AUs after it ends), a webcam hands over its newest frame.
    """

    def __init__(self, spec: str, cfg: Config):
        from .au import AUEstimator
        from ..io import open_source
        from ..pipeline.mailbox import LatestFrameReader
        from .tracker import FaceTracker

        self._source = open_source(spec, live_cfg=cfg.live)
        self._live = self._source.kind == "webcam"
        self._frames = LatestFrameReader(self._source, timeout_s=cfg.live.read_timeout_s).start() \
            if self._live else iter(self._source)
        self._tracker = FaceTracker(cfg.tracker, static=self._source.kind == "image")
        self._estimator = AUEstimator(cfg.au, static=self._source.kind == "image")
        self._pending = None
        self._au: AUVector | None = None
        self._t0: float | None = None

    @property
    def seen_face(self) -> bool:
        """Whether the driver has shown a face yet; without one it drives nothing."""
        return self._au is not None

    def _next(self):
        if self._live:
            return self._frames.get()
        return next(self._frames, None)

    def read(self, t: float) -> AUVector | None:
        if self._live:
            frames = [self._next()]
        else:
            frames = []
            while True:
                f = self._pending if self._pending is not None else self._next()
                self._pending = None
                if f is None:
                    break
                self._t0 = f.time if self._t0 is None else self._t0
                if frames and f.time - self._t0 > t:
                    self._pending = f
                    break
                frames.append(f)
        for frame in frames:
            if frame is None:
                continue
            faces = self._tracker.process(Packet(frame=frame)).faces
            if faces:
                self._au = self._estimator.estimate(faces[0].face, frame.time)
        return self._au

    def close(self) -> None:
        if self._live:
            self._frames.stop.set()
        self._tracker.close()
        self._source.close()


class TargetStage(StageBase):
    """source_au → target_au per face.

    `target` is a fixed Target; `driver` makes it avatar mode: each face's AUs on its first frame plus
    the driver's change (a lost driver face holds its last AUs). `set_target` swaps the target between
    frames (live control). The edit (target − source) is smoothed per track with a One Euro filter on
    pts time: a steady preset in relative mode is then a constant offset however the estimator's
    reading of the face jitters (the source AUs are smoothed by the estimator stage), and a switch of
    preset or a jittery driver eases in.
    """

    requires = ("source_au",)
    provides = ("target_au",)

    def __init__(self, cfg: EditConfig = EditConfig(), *, target: Target | None = None,
                 driver: AUDriver | None = None, static: bool = False):
        self.cfg = cfg
        self.static = static
        self.strength = check_strength(cfg.strength)
        self.target = target
        self.driver = driver
        self._filters: dict[int, OneEuroFilter] = {}
        self._rest: dict[int, AUVector] = {}
        self._lids_low: dict[int, float] = {}     # per track: since when its lids have been low (pts s)

    def set_target(self, target: Target | None) -> None:
        self.target = target

    def reset(self) -> None:
        self._filters.clear()
        self._rest.clear()
        self._lids_low.clear()

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()

    def held(self, track_id: int, source: AUVector, t: float) -> bool:
        """Whether this face's lids have been low (AU45 ≥ HELD_LID_AU) for longer than a blink, at time t."""
        if source.values[_AU45] < HELD_LID_AU:
            self._lids_low.pop(track_id, None)
            return False
        return t - self._lids_low.setdefault(track_id, t) > BLINK_MAX_S

    def want(self, track_id: int, source: AUVector, drive: AUVector | None = None, t: float = 0.0) -> AUVector:
        """The unsmoothed target for one face at time t; `drive` is the driver's change this frame."""
        if self.driver is not None:
            rest = self._rest.setdefault(track_id, source)
            # until the driver shows a face there is nothing to follow: the face stays as it is
            return source if drive is None else rest + drive.scaled(self.strength)
        if self.target is None:
            return source
        video = not self.static
        return self.target.resolve(source, self.strength, video=video,
                                   held=video and self.held(track_id, source, t))

    def process(self, packet: Packet) -> Packet:
        t = packet.frame.time
        seen = {s.face.track_id for s in packet.faces}
        for tid in list(self._filters):
            if tid not in seen:  # a lost face: never smooth across the gap
                del self._filters[tid]
                self._rest.pop(tid, None)
                self._lids_low.pop(tid, None)
        # one driver frame per packet, shared by every face in it
        drive = self.driver.read(t) if self.driver is not None and packet.faces else None

        def run(s):
            source = s.source_au or AUVector.zeros()
            tid = s.face.track_id
            if tid not in self._filters:
                self._filters[tid] = OneEuroFilter(self.cfg.smoothing)
            edit = self._filters[tid]((self.want(tid, source, drive, t) - source).values, t)
            preset = self.target is not None and self.driver is None
            side = self.target.side if preset else "both"
            rest = self.target.rest(self.strength) if preset else 0.0
            return s.with_(target_au=source + AUVector(edit), target_side=side, target_rest=rest)

        return packet.map_faces(run)


def build_target_stage(cfg: Config, static: bool = False) -> TargetStage:
    """The target stage a config asks for: --drive, else --ref, else --target-au (else no change).

    static: every packet is an unrelated still, so speech and blink AUs do not follow the face.
    """
    e = cfg.edit
    if e.mode not in MODES:
        raise ConfigError(f"edit.mode {e.mode!r} unknown; known: {', '.join(MODES)}")
    if e.drive:
        return TargetStage(e, driver=Driver(e.drive, cfg), static=static)
    if e.ref:
        from ..io import load_image

        return TargetStage(e, target=reference_target(load_image(e.ref), e.ref, cfg), static=static)
    return TargetStage(e, target=parse_target(e.target, e.mode) if e.target else None, static=static)
