"""Quality metrics against known cases, and both evals on real media."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reenact.tasks import evaluate
from reenact.io.image import ASTRONAUT
from reenact.stages.targets import parse_target
from reenact.pipeline.types import AU_INDEX, AUVector


def _texture(seed: int = 0, shape=(64, 64, 3)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.kron(rng.integers(40, 216, (shape[0] // 8, shape[1] // 8, shape[2])), np.ones((8, 8, 1)))
    return smooth.astype(np.uint8)


def _noised(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_ssim_is_one_for_identical_and_falls_with_noise():
    img = _texture()
    assert evaluate.ssim(img, img) == 1.0
    scores = [evaluate.ssim(img, _noised(img, s)) for s in (2, 8, 32)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_ssim_inside_a_mask_matches_the_whole_image_map():
    img, other = _texture(0), _noised(_texture(0), 10)
    mask = np.zeros(img.shape[:2], bool)
    mask[20:40, 10:30] = True
    assert evaluate.ssim(img, other, mask) == pytest.approx(evaluate.ssim_map(img, other)[mask].mean(), abs=1e-12)
    assert math.isnan(evaluate.ssim(img, other, np.zeros_like(mask)))


def test_psnr_exact_and_finite():
    img = _texture()
    assert evaluate.psnr(img, img) == math.inf
    off = img.copy()
    off[0, 0, 0] ^= 1
    assert math.isfinite(evaluate.psnr(img, off))
    # MSE 1 ↔ 48.13 dB
    assert evaluate.psnr(np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8)) == pytest.approx(48.1308, abs=1e-3)
    assert evaluate.l1(np.zeros((4, 4), np.uint8), np.full((4, 4), 3, np.uint8)) == 3.0


def test_flicker_of_static_clip_is_zero_and_noise_adds_it():
    img = _texture()
    mask = np.ones(img.shape[:2], bool)
    assert evaluate.flicker([img] * 5, [mask] * 5) == 0.0
    noisy = [_noised(img, 6, seed=i) for i in range(5)]
    assert evaluate.flicker(noisy, [mask] * 5) > 3.0
    assert evaluate.flicker(noisy) == pytest.approx(evaluate.flicker(noisy, [mask] * 5))


def test_au_errors_follow_the_target_definition():
    happy = parse_target("AU06=3,AU12=4,AU25=2")  # relative: AU06 +3, AU12 +4, AU25 +2
    before = AUVector.from_dict({"AU12": 2.0, "AU04": 1.0})
    exact = happy.resolve(before).clipped()
    assert evaluate.au_errors(happy, 1.0, before, exact) == (0.0, 0.0)
    vals = exact.values.copy()
    vals[AU_INDEX["AU12"]] = 4.0  # intended 2 + 4 is clipped to 5, the most the estimator reads
    vals[AU_INDEX["AU04"]] = 2.4  # an unnamed AU moved by 1.4
    err, unedited = evaluate.au_errors(happy, 1.0, before, AUVector(vals))
    assert err == pytest.approx(1.0 / 3)
    assert unedited == pytest.approx(1.4 / 14)


def test_identity_editor_is_exact_on_a_real_face(tmp_path):
    rows = evaluate.expression_eval("identity", presets=["happy"], images=[ASTRONAUT], save=tmp_path)
    (row,) = rows
    assert row.background_psnr == math.inf
    assert row.face_ssim == 1.0
    assert row.unedited_change == 0.0
    assert row.au_error > 0.5  # nothing moved, so the smile asked for is missing
    assert row.identity == (0.0 if evaluate.IdentityModel.load() else None)
    # the judge sees the smile astronaut.png already shows: the pair does not count
    assert row.recognised == "already" and row.judged_as == "happy"
    assert row.judge_before == row.judge_after > 0.99 and row.judge_gain == 0.0
    assert (tmp_path / "astronaut_happy.png").is_file()
    table = evaluate.markdown_table(rows)
    assert "| identity | happy | astronaut.png |" in table and "exact" in table
    evaluate.write_csv(rows, tmp_path / "rows.csv")
    assert (tmp_path / "rows.csv").read_text().splitlines()[1].startswith("identity,happy,astronaut.png,1,")


def test_judge_column_counts_only_pairs_whose_face_did_not_show_it(media):
    rows = evaluate.expression_eval("identity", presets=["sad", "happy", "contempt"],
                                    images=[ASTRONAUT, f"{media('smile_man.mp4')}#0"])
    got = {(r.preset, r.media): r for r in rows}
    assert got["sad", "astronaut.png"].recognised == "no"          # nothing moved: still happy
    assert got["happy", "astronaut.png"].recognised == "already"
    assert got["happy", "smile_man.mp4#0"].judged_as == "neutral"  # frame 0 of the clip, at rest
    assert got["contempt", "astronaut.png"].recognised == ""        # the judge has no contempt class
    assert evaluate.summary(rows).startswith("expression recognised: 0/3 pairs (0 %)")
    assert "sad 0/2" in evaluate.summary(rows)
    # the second judge (human's FER2013 net) gives its own verdicts and its own summary line
    sad = got["sad", "astronaut.png"]
    assert sad.fer_recognised == "no" and sad.fer_judged_as == "happy"
    assert got["happy", "smile_man.mp4#0"].fer_judged_as == "neutral"
    assert got["contempt", "astronaut.png"].fer_recognised == ""
    second = evaluate.summary(rows).splitlines()[1]
    assert second.startswith("expression recognised by the second judge (fer): 0/3 pairs (0 %)")
    assert "| fer recognised |" in evaluate.markdown_table(rows)


def test_a_clip_frame_is_a_still(media):
    assert evaluate.split_frame("a/b.mp4#12") == (Path("a/b.mp4"), 12)
    assert evaluate.split_frame("a/b#c.png") == (Path("a/b#c.png"), None)
    frame = evaluate.load_still(f"{media('smile_man.mp4')}#3")
    assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8


def test_a_clip_frame_and_a_picture_of_the_same_name_are_saved_apart(media, tmp_path):
    evaluate.expression_eval("identity", presets=["happy"], save=tmp_path,
                             images=[media("smile_man.jpg"), f"{media('smile_man.mp4')}#0"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smile_man_f0000_happy.png", "smile_man_happy.png"]


def test_reconstruction_without_edit_on_a_real_clip(media):
    rows = evaluate.reconstruction_eval(media("talking_man.mp4"), [], pairs=4, max_frames=24)
    row, blur = rows
    assert row.editor == evaluate.NO_EDIT and blur.editor == evaluate.BLUR and row.pairs == blur.pairs == 4
    assert 15.0 < row.psnr < math.inf  # different frames of one person: close, never identical
    assert 0.3 < row.ssim < 1.0 and 0.1 < row.mouth_ssim < row.ssim  # the mouth is what speech changes
    assert 0.0 < row.l1 < row.mouth_l1 < 40.0
    assert math.isfinite(row.au_error)
    assert blur.ssim != row.ssim and blur.psnr != row.psnr  # the control really blurs


def test_pairs_are_seeded_and_distinct():
    a = evaluate.sample_pairs(10, 40, seed=3)
    assert a == evaluate.sample_pairs(10, 40, seed=3) != evaluate.sample_pairs(10, 40, seed=4)
    assert len(set(a)) == 40 and all(s != t for s, t in a)
    assert len(evaluate.sample_pairs(3, 40)) == 6
    assert evaluate.held_out_start(237) == 166  # 165.9: frame 165 is a training frame


def test_cli_writes_table_and_csv(tmp_path, capsys):
    from reenact.cli import main

    md, rows = tmp_path / "eval.md", tmp_path / "eval.csv"
    assert main(["eval", "--editor", "identity", "--presets", "sad", "--images", str(ASTRONAUT),
                 "--markdown", str(md), "--csv", str(rows), "--no-progress"]) == 0
    assert "| identity | sad | astronaut.png | 1 |" in md.read_text()
    assert md.read_text() in capsys.readouterr().out
    assert len(rows.read_text().splitlines()) == 2


def test_eval_with_altered_judge_weights_stops_in_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    from reenact.cli import main
    from reenact.judge import default_judge, weights

    for name in (weights.BIN, weights.MANIFEST):
        shutil.copy(weights.WEIGHTS_DIR / name, tmp_path / name)
    data = bytearray((tmp_path / weights.BIN).read_bytes())
    data[5000] ^= 1
    (tmp_path / weights.BIN).write_bytes(bytes(data))
    original = weights.read_files
    monkeypatch.setattr(weights, "read_files", lambda directory=tmp_path: original(directory))
    default_judge.cache_clear()
    weights.load_weights.cache_clear()
    try:
        assert main(["eval", "--editor", "identity", "--presets", "sad", "--images", str(ASTRONAUT),
                     "--no-progress"]) == 2
    finally:
        default_judge.cache_clear()
        weights.load_weights.cache_clear()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and weights.BIN in err and "sha256" in err



def test_an_output_whose_face_is_lost_is_a_miss_judged_as_lost_not_as_a_class():
    from reenact.tasks.evaluate.recognition import LOST, recognition
    before = np.eye(7)[1]                      # the input read happy
    lost = recognition("anger", before, np.full(7, np.nan))
    assert lost.top == LOST and lost.recognised is False and math.isnan(lost.gain)
    seen = recognition("anger", before, np.eye(7)[3])
    assert seen.top == "angry" and seen.recognised
