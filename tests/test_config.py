from __future__ import annotations

import dataclasses

import pytest

from reenact.config import Config, load_config
from reenact.errors import ConfigError
from reenact.pipeline.types import AUVector, au_key


def test_defaults_file_matches_schema():
    cfg = load_config()
    assert isinstance(cfg, Config)
    assert cfg.aligner.size in (256, 512)


def test_unknown_key_names_its_path(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("tracker:\n  smoothing:\n    min_cutof: 2\n")
    with pytest.raises(ConfigError, match="tracker.smoothing.min_cutof"):
        load_config(p)


def test_overrides_use_the_same_loader():
    cfg = load_config(overrides={"video.crf": "20", "compositor.color_match": "true"})
    assert cfg.video.crf == 20 and cfg.compositor.color_match is True
    with pytest.raises(ConfigError, match="video.crf"):
        load_config(overrides={"video.crf": "high"})
    with pytest.raises(ConfigError, match="video.nope"):
        load_config(overrides={"video.nope": 1})


def test_config_is_frozen(tmp_path):
    cfg = load_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.video.crf = 0  # type: ignore[misc]
    cfg.dump(tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == cfg


def test_au_vector_arithmetic_and_names():
    a = AUVector.from_dict({"AU12": 3, "au6": 2})
    assert a["AU06"] == 2 and a["12"] == 3
    assert (a - a).is_zero()
    assert (a.scaled(2) - a)["AU12"] == 3
    with pytest.raises(ValueError):
        au_key("AU99")
    with pytest.raises(ValueError):
        a.values[0] = 1  # frozen array
