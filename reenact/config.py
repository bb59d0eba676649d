"""One config loader: configs/default.yaml → nested frozen dataclasses whose fields are the schema.

The configs ship inside the package (reenact/configs/, read through importlib.resources), so an installed
wheel finds them; $REENACT_CONFIG_DIR replaces the folder. Unknown keys are errors naming their path; CLI
flags are dotted overrides applied by the same loader.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from .errors import ConfigError

if TYPE_CHECKING:
    from importlib.abc import Traversable

# a Path for an ordinary install or a checkout (tools that rebuild a config write through it)
CONFIG_DIR: "Traversable" = (Path(os.environ["REENACT_CONFIG_DIR"]) if os.environ.get("REENACT_CONFIG_DIR")
                             else resources.files(__package__) / "configs")
# the real test media (see its README): beside the checkout, or $REENACT_MEDIA
MEDIA_DIR = Path(os.environ.get("REENACT_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))


def config_path(name: str) -> "Traversable":
    p = CONFIG_DIR / name
    if not p.is_file():
        raise ConfigError("config file missing (set REENACT_CONFIG_DIR?)", str(p))
    return p


def read_yaml(name: str) -> Any:
    return load_yaml(config_path(name))


def load_yaml(path: "Path | Traversable", what: str = "config file") -> Any:
    """A YAML file's contents ({} when empty); a missing or malformed file is one ConfigError line."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", str(path)) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {str(e).splitlines()[0]}", str(path)) from None


def bounded(default: Any, low: float | None = None, high: float | None = None, *, above: bool = False) -> Any:
    """A field whose value must lie in [low, high] (`above`: strictly more than low); checked on load."""
    return field(default=default, metadata={"bounds": (low, high, above)})


def _check_bounds(where: str, value: Any, low: float | None, high: float | None, above: bool) -> None:
    if above and value <= low:
        why = f"must be more than {low:g}"
    elif (low is not None and value < low) or (high is not None and value > high):
        why = (f"must be from {low:g} to {high:g}" if low is not None and high is not None
               else f"must be at least {low:g}" if low is not None else f"must be at most {high:g}")
    else:
        return
    raise ConfigError(f"config {where}: {why}, got {value:g}", key=where, detail=f"{why}, got {value:g}")


@dataclass(frozen=True)
class OneEuroConfig:
    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0


@dataclass(frozen=True)
class TrackerConfig:
    max_faces: int = bounded(1, 1)
    min_detection_confidence: float = bounded(0.5, 0.0, 1.0)
    min_tracking_confidence: float = bounded(0.5, 0.0, 1.0)
    min_face_px: int = bounded(40, 0)
    # high beta: jitter at rest is filtered, but an expression change passes without lag
    smoothing: OneEuroConfig = OneEuroConfig(min_cutoff=1.0, beta=50.0, d_cutoff=1.0)
    # a track unseen for this many seconds is forgotten; a face returning later gets a new id
    max_track_gap_s: float = bounded(1.0, 0.0)
    # detect on a downscaled copy of huge frames; landmarks are mapped back to full resolution
    max_input_side: int = bounded(1920, 64)


@dataclass(frozen=True)
class AlignerConfig:
    size: int = bounded(256, 64, 1024)
    # fraction of the crop spanned by the five-point template; the rest is margin for brows and chin
    face_scale: float = 0.62
    vertical_offset: float = 0.02


@dataclass(frozen=True)
class AUConfig:
    features: str = "au_features.yaml"
    # on the AU series; light, because the dead zones in au_features.yaml already absorb rest jitter
    smoothing: OneEuroConfig = OneEuroConfig(min_cutoff=2.0, beta=2.0, d_cutoff=3.0)
    # automatic neutral: per feature, a percentile over a sliding window on its resting side
    baseline_window_s: float = 10.0
    baseline_percentile: float = 10.0
    # > 0: each face's first seconds are its neutral (a minute at most: longer is no rest pose)
    calibrate_s: float = bounded(0.0, 0.0, 60.0)


@dataclass(frozen=True)
class EditConfig:
    editor: str = "identity"
    target: str = ""
    ref: str = ""      # reference face image whose expression is the target
    drive: str = ""    # driving video or 'webcam[:N]'
    # for explicit AU values: relative (default) adds them to the face's own, a steady offset that
    # keeps speech and blinks; absolute replaces the face's own. Presets and --ref are whole faces
    # whatever the mode (see reenact/stages/targets.py)
    mode: str = "relative"
    strength: float = 1.0
    smoothing: OneEuroConfig = OneEuroConfig(min_cutoff=1.0, beta=0.1, d_cutoff=1.0)

    def __post_init__(self) -> None:
        given = [n for n in ("target", "ref", "drive") if getattr(self, n)]
        if len(given) > 1:
            raise ConfigError(f"config edit: {' and '.join(given)} both set; an edit has one target "
                              "(a preset or AU values, a reference face, or a driver)")


@dataclass(frozen=True)
class OcclusionConfig:
    # find what hides the face (hands, microphones, sleeves) and leave it untouched (stages/occlusion.py)
    enabled: bool = True
    size: int = bounded(64, 16, 256)  # the crop is read at this resolution (px a side)
    # the skin's hue range, around the person's own (degrees of Lab hue): lips and flushed skin are redder
    # (lower), fair skin in warm light yellower (higher)
    hue_below: float = bounded(45.0, 0.0, 180.0)
    hue_above: float = bounded(35.0, 0.0, 180.0)
    # how far (Lab units, perpendicular to that range) a colour must lie to count as not skin, and where
    # it counts fully
    min_distance: float = bounded(10.0, 0.0)
    full_distance: float = bounded(20.0, 0.0)
    grow_frac: float = bounded(0.02, 0.0, 0.2)  # of the crop: margin kept untouched around what is found
    tone_halflife_s: float = bounded(1.0, 0.0, above=True)  # a track's skin tone is averaged over about this long


@dataclass(frozen=True)
class CompositorConfig:
    erode_frac: float = bounded(0.03, 0.0, 0.5)
    feather_frac: float = bounded(0.06, 0.0, 0.5)
    color_match: bool = False
    # a shading ratio more than lift_from above 1 levels what is narrower than two crop pixels at frame
    # resolution, in full from lift_full
    lift_from: float = bounded(0.2, 0.0)
    lift_full: float = bounded(0.4, 0.0, above=True)
    # how much a painted fill's edges (the mouth's teeth), drawn at crop resolution, are steepened on a face larger
    # than its crop, where the photo there is sharper than they are (0: not). 2: jesper.jpg's teeth (4.5×) as
    # soft as a Gaussian's σ 1.7 px, 2.4 unsteepened, his lips' edge 1.3; 4 drew a dark outline round each tooth
    fill_sharpen: float = bounded(2.0, 0.0)


@dataclass(frozen=True)
class VideoConfig:
    codec: str = "libx264"
    crf: int = bounded(18, 0, 51)   # H.264/H.265's scale: 0 lossless, 51 worst
    preset: str = "veryfast"
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class LiveConfig:
    camera: int = bounded(0, 0)
    width: int = bounded(1280, 1)
    height: int = bounded(720, 1)
    fps: float = bounded(30.0, 0.0, 1000.0, above=True)
    # seconds without a frame before the camera is declared gone
    read_timeout_s: float = bounded(2.0, 0.0, above=True)
    # a camera that went away is reopened this often; meanwhile the outputs get the last frame, marked
    reconnect_s: float = bounded(1.0, 0.0, above=True)
    # a change of target or strength eases in over this long, and a lost face fades out
    ease_s: float = bounded(0.2, 0.0, 5.0)


@dataclass(frozen=True)
class EngineConfig:
    backend: str = "auto"


@dataclass(frozen=True)
class Config:
    version: int = 1
    tracker: TrackerConfig = TrackerConfig()
    aligner: AlignerConfig = AlignerConfig()
    au: AUConfig = AUConfig()
    edit: EditConfig = EditConfig()
    occlusion: OcclusionConfig = OcclusionConfig()
    compositor: CompositorConfig = CompositorConfig()
    video: VideoConfig = VideoConfig()
    live: LiveConfig = LiveConfig()
    engine: EngineConfig = EngineConfig()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def dump(self, path: str | os.PathLike) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


_KIND = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config {path}: expected a mapping, got {value!r}")
        return _build(tp, value, path)
    if origin is dict and is_dataclass(typing.get_args(tp)[1]):
        # named entries of one schema (e.g. appearance patterns)
        if not isinstance(value, Mapping):
            raise ConfigError(f"config {path}: expected a mapping of names, got {value!r}")
        return {str(k): _build(typing.get_args(tp)[1], v or {}, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    try:
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        if tp in (int, float, str):
            value = tp(value)
            if tp is float and not math.isfinite(value):  # nan slips through every range check
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"config {path}: expected {_KIND[tp]}, got {value!r}", key=path,
                          detail=f"expected {_KIND[tp]}, got {value!r}") from None
    return value


def _build(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key {where!r}; known here: {', '.join(sorted(known))}")
    kwargs = {}
    for f in fields(cls):
        if f.name in data:
            where = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(hints[f.name], data[f.name], where)
            if "bounds" in f.metadata:
                _check_bounds(where, kwargs[f.name], *f.metadata["bounds"])
    base = cls()
    return dataclasses.replace(base, **kwargs) if kwargs else base


def load_presets(name: str, cls: type) -> dict[str, Any]:
    """Named presets of dataclass `cls` from configs/NAME: each one's fields over the defaults."""
    data = read_yaml(name) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{name}: expected a mapping of preset names")
    return {k: _build(cls, v or {}, k) for k, v in data.items()}


def load_dataclass(name: str, cls: type) -> Any:
    """configs/NAME as dataclass `cls`: its own file, the same schema rules as default.yaml."""
    data = read_yaml(name) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{name}: expected a mapping")
    return _build(cls, data)


def _merge(base: dict, extra: Mapping[str, Any]) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _nest(dotted: Mapping[str, Any]) -> dict:
    out: dict = {}
    for key, value in dotted.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read the default config (or `path`), then apply dotted overrides like {'video.crf': 20}."""
    data = load_yaml(Path(path) if path else config_path("default.yaml"))
    data = _merge(data, _nest({k: v for k, v in (overrides or {}).items() if v is not None}))
    return _build(Config, data)
