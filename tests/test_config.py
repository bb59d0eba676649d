from __future__ import annotations

import dataclasses

import pytest

from reenact.config import Config, load_config
from reenact.errors import ConfigError
from reenact.pipeline.types import AUVector, au_key


def test_defaults_file_matches_schema():
    """configs/default.yaml and the dataclass defaults say the same: a change to one alone fails here."""
    assert load_config() == Config()


@pytest.mark.parametrize("key, value, words", [
    ("video.crf", 99, "from 0 to 51, got 99"),
    ("video.crf", -5, "from 0 to 51, got -5"),
    ("tracker.max_faces", 0, "at least 1, got 0"),
    ("au.calibrate_s", 999, "from 0 to 60, got 999"),
    ("live.fps", 0, "more than 0, got 0"),
    ("live.fps", "nan", "expected a number"),
    ("tracker.max_faces", 2.5, "expected a whole number"),
])
def test_out_of_range_values_name_their_key(tmp_path, key, value, words):
    for how in ("override", "file"):
        section, leaf = key.split(".")
        p = tmp_path / "c.yaml"
        p.write_text(f"{section}:\n  {leaf}: {value}\n")
        with pytest.raises(ConfigError) as err:
            load_config(p) if how == "file" else load_config(overrides={key: value})
        assert f"config {key}: " in str(err.value) and words in str(err.value)
        assert err.value.key == key


def test_one_target_at_a_time():
    with pytest.raises(ConfigError, match="target and ref"):
        load_config(overrides={"edit.target": "happy", "edit.ref": "face.jpg"})


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


def test_one_yaml_loader_gives_one_line_for_a_bad_or_missing_file(tmp_path):
    from reenact.config import load_yaml

    bad = tmp_path / "presets.yaml"
    bad.write_text("presets: [: bad\n")
    with pytest.raises(ConfigError, match=r"presets\.yaml: invalid YAML: "):
        load_yaml(bad)
    with pytest.raises(ConfigError, match=r"spec file not found"):
        load_yaml(tmp_path / "none.yaml", "spec file")
    (tmp_path / "empty.yaml").write_text("")
    assert load_yaml(tmp_path / "empty.yaml") == {}
