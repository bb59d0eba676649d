"""AU estimator on real media: the smile clip's time course, speech, stills, pose, neutral calibration."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pandas as pd
import pytest

from reenact.tasks import analyze
from reenact import config
from reenact.stages.au import STILL_PRIOR, AUEstimator, load_model, load_still_prior, parse_model
from reenact.cli import main
from reenact.config import AUConfig, OneEuroConfig, load_config, read_yaml
from reenact.errors import ConfigError, IntegrityError
from reenact.stages.geometry import canonical_mesh
from reenact.stages.landmarks import INNER_LIPS, interocular
from reenact.stages.tracker import FaceTracker
from reenact.pipeline.types import AU_NAMES, Frame, Packet

from conftest import load_rgb, media_path


def lip_gap(landmarks: np.ndarray) -> float:
    """The raw inner-lip gap in inter-ocular distances, straight from the tracker's landmarks."""
    return float(np.linalg.norm(landmarks[INNER_LIPS[0], :2] - landmarks[INNER_LIPS[1], :2]) / interocular(landmarks))


def clip(name: str) -> list[Packet]:
    packets = list(analyze.packets(media_path(name)))
    assert all(len(p.faces) == 1 for p in packets), f"{name}: a frame without exactly one face"
    return packets


@pytest.fixture(scope="module")
def smile_clip():
    return clip("smile_man.mp4")


@pytest.fixture(scope="module")
def talking_clip():
    return clip("talking_man.mp4")


def series(packets: list[Packet], au: str) -> np.ndarray:
    return np.array([p.faces[0].source_au[au] for p in packets])


@pytest.fixture(scope="module")
def still_tracker():
    tracker = FaceTracker(load_config().tracker, static=True)
    yield tracker
    tracker.close()


@pytest.fixture
def read_still(still_tracker):
    """AUs of the one face in a still, against the still prior or the estimator given."""

    def read(image: np.ndarray, estimator: AUEstimator | None = None):
        packet = (estimator or AUEstimator(static=True)).process(still_tracker.process(Packet(Frame(image, 0))))
        assert len(packet.faces) == 1
        return packet.faces[0].source_au

    return read


def test_smile_rises_holds_and_fades(smile_clip):
    # frames 0-17 neutral, 20-66 a broad smile, 70-71 near neutral again (media README)
    for au in ("AU12", "AU06"):
        x = series(smile_clip, au)
        peak = x[25:61].mean()
        assert x[:16].max() <= 0.5, au
        assert peak >= 2.5, au
        assert x[70:72].max() < peak / 2, au
    for au in ("AU04", "AU15"):
        assert series(smile_clip, au).max() <= 0.7, au


def test_speech_moves_the_mouth_not_the_brows(talking_clip):
    gap = np.array([lip_gap(p.faces[0].face.landmarks) for p in talking_clip])
    for au in ("AU25", "AU26"):
        assert np.corrcoef(series(talking_clip, au), gap)[0, 1] >= 0.8, au
    for au in ("AU01", "AU02", "AU04"):
        assert np.percentile(series(talking_clip, au), 95) <= 1.0, au


def first_frame(name: str) -> np.ndarray:
    with av.open(str(media_path(name))) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


# issue 11's bars for a still read against the still prior (configs/still_prior.npy)
def test_a_face_at_rest_reads_neutral_as_a_still(read_still):
    assert read_still(first_frame("smile_man.mp4")).values.max() <= 0.5


def test_smiles_read_as_smiles_on_stills(read_still):
    for name in ("astronaut.png", "smile_man.jpg"):
        au = read_still(load_rgb(name))
        assert au["AU12"] >= 3.0, name
        assert au["AU12"] > au["AU15"], name


def test_low_brows_do_not_read_as_a_frown(read_still):
    # portrait_man's brows sit ~0.1 IOD lower than the two-person population neutral: AU4 ≈ 3 against it
    assert read_still(load_rgb("portrait_man.jpg"))["AU04"] <= 1.0
    # the same face in video at rest (talking_man frame 0) read AU4 2.5 as a still before
    assert read_still(first_frame("talking_man.mp4"))["AU04"] <= 1.0


def test_a_stills_smile_raises_its_cheeks(read_still):
    # portrait_man smiles with raised cheeks and crow's feet the cheek feature misses against the population
    # (AU6 read 0): his AU6 is at least his AU12, so a preset that takes the smile away lowers them too
    au = read_still(load_rgb("portrait_man.jpg"))
    assert au["AU12"] > 0.5 and au["AU06"] >= au["AU12"]
    # a known neutral (video) reads the cheek itself
    m = load_model()
    f = m.population_neutral.copy()
    f[m.au_feature[AU_NAMES.index("AU12")]] += m.feature_delta("AU12", 3.0)
    assert m.intensities(f, m.population_neutral)["AU06"] == 0.0
    assert m.intensities(f)["AU06"] == m.intensities(f)["AU12"] > 0.0


def test_still_onsets_widen_by_the_measured_identity_spread():
    m = load_model()
    prior = load_still_prior(m.feature_names)
    brows = m.au_feature[AU_NAMES.index("AU04")]
    assert np.isfinite(prior.sd[brows]) and prior.sd[brows] > 0.02     # brow height differs between people
    assert m.still_onset[AU_NAMES.index("AU04")] > 2 * m.onset[AU_NAMES.index("AU04")]
    # unmeasured features keep the population neutral and their onset
    unmeasured = np.isnan(prior.mean)
    np.testing.assert_array_equal(m.still_neutral[unmeasured], m.population_neutral[unmeasured])
    assert np.all(m.still_onset >= m.onset)
    # a known neutral reads as before: the still prior only applies without one
    f = m.population_neutral.copy()
    f[brows] += m.feature_delta("AU04", 2.0)
    assert m.intensities(f, m.population_neutral)["AU04"] == pytest.approx(2.0, abs=1e-3)
    assert m.intensities(f)["AU04"] < 1.0


def test_still_prior_is_hash_checked(tmp_path, monkeypatch):
    names = load_model().feature_names
    for name in ("assets.yaml", STILL_PRIOR):
        (tmp_path / name).write_bytes((config.CONFIG_DIR / name).read_bytes())
    monkeypatch.setattr(config, "CONFIG_DIR", tmp_path)
    assert load_still_prior.__wrapped__(names).sd.shape == (len(names),)
    data = bytearray((tmp_path / STILL_PRIOR).read_bytes())
    data[-1] ^= 1
    (tmp_path / STILL_PRIOR).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        load_still_prior.__wrapped__(names)
    with pytest.raises(ConfigError, match="other AU features"):
        load_still_prior.__wrapped__(names[:-1])


def test_readings_survive_rotation_shift_and_scale(read_still):
    img = load_rgb("portrait_man.jpg")
    h, w = img.shape[:2]
    base = read_still(img).values
    for angle, scale, shift in ((15, 1.0, (0, 0)), (-15, 1.0, (0, 0)), (0, 0.8, (40, 40))):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        m[:, 2] += shift
        moved = read_still(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)).values
        assert np.abs(moved - base).max() <= 0.4, (angle, scale, dict(zip(AU_NAMES, moved - base)))


def test_two_people_at_rest_read_neutral(smile_clip, talking_clip):
    for packets in (smile_clip, talking_clip):
        # from the start while the lips touch, and within smile_man's neutral frames 0-15
        closed = [lip_gap(p.faces[0].face.landmarks) < 0.03 for p in packets[:16]] + [False]
        rest = packets[:closed.index(False)]
        assert len(rest) >= 6
        # automatic: the running neutral built from these very frames
        assert max(p.faces[0].source_au.values.max() for p in rest) <= 0.7
        # explicit: calibrate on the first half, read the second
        est = AUEstimator(AUConfig(calibrate_s=rest[len(rest) // 2 - 1].frame.time))
        later = [est.process(p).faces[0].source_au for p in rest][len(rest) // 2:]
        assert max(a.values.max() for a in later) <= 0.7
    # the population neutral cannot do this: the two faces differ from it, and from each other
    m = load_model()
    at_rest = [m.intensities(m.features(c[0].faces[0].face.landmarks), m.population_neutral).values
               for c in (smile_clip, talking_clip)]
    assert max(a.max() for a in at_rest) > 0.7


def test_neutral_image_is_the_zero(read_still):
    est = AUEstimator(static=True)
    est.set_neutral(analyze.neutral_features(media_path("smile_man.jpg")))
    assert read_still(load_rgb("smile_man.jpg"), est).is_zero()


def test_lost_face_restarts_smoothing_and_time_comes_from_pts(smile_clip):
    rest, smile = smile_clip[:16], smile_clip[40]

    def final_au12(smile_time: float, cfg: AUConfig = AUConfig(), gap: bool = False) -> float:
        est = AUEstimator(cfg)
        for p in rest:
            est.process(p)
        if gap:
            est.process(Packet(Frame(smile.frame.image, 16, rest[-1].frame.pts + 1, rest[-1].frame.time_base)))
        t = Frame(smile.frame.image, 17, round(smile_time / smile.frame.time_base), smile.frame.time_base)
        return est.process(smile.with_(frame=t)).faces[0].source_au["AU12"]

    next_frame = rest[-1].frame.time + 2 / 30
    unfiltered = final_au12(next_frame, AUConfig(smoothing=OneEuroConfig(min_cutoff=float("inf"))))
    smoothed = final_au12(next_frame)
    assert smoothed < unfiltered                                # the filter holds the jump back a little
    assert final_au12(next_frame, gap=True) == pytest.approx(unfiltered)   # a lost face: nothing to blend
    assert smoothed < final_au12(next_frame + 1.0) < unfiltered  # a second later by pts: less held back


def test_feature_delta_inverts_the_read_out():
    # the rig's contract: moving a neutral face's feature by feature_delta(au, x) reads x
    m = load_model()
    n = m.population_neutral
    for k, au in enumerate(AU_NAMES):
        for x in (0.5, 2.0, 5.0):
            f = n.copy()
            f[m.au_feature[k]] += m.feature_delta(au, x)
            assert m.intensities(f, n)[au] == pytest.approx(x, abs=1e-3), au


def test_features_do_not_see_head_pose():
    m = load_model()
    mesh = canonical_mesh().astype(np.float64)
    yaw, pitch = np.radians(25), np.radians(-15)
    r = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]]) @ \
        np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    posed = 180.0 * mesh @ r.T + np.array([320.0, 240.0, 15.0])
    np.testing.assert_allclose(m.features(posed.astype(np.float32)), m.population_neutral, atol=1e-4)


def test_sparse_features_equal_the_dense_product():
    m = load_model()
    rng = np.random.default_rng(0)
    dense = m.matrix.reshape(len(m.feature_names), -1)
    for mesh in (canonical_mesh(), canonical_mesh() + rng.normal(0, 0.05, canonical_mesh().shape)):
        mesh = mesh.astype(np.float32)
        np.testing.assert_allclose(m.features_canonical(mesh), dense @ mesh.reshape(-1), rtol=1e-6, atol=1e-7)


def test_model_file_is_checked():
    data = read_yaml("au_features.yaml")
    with pytest.raises(ConfigError, match="version"):
        parse_model({**data, "version": 99})
    with pytest.raises(ConfigError, match="unknown feature"):
        parse_model({**data, "aus": {**data["aus"], "AU12": {"feature": "smile", "onset": 0, "full": 1}}})


def test_cli_writes_csv_and_plot(tmp_path, capsys):
    csv, png = tmp_path / "au.csv", tmp_path / "au.png"
    assert main(["analyze", str(media_path("smile_man.jpg")), "--csv", str(csv), "--plot", str(png),
                 "--no-progress"]) == 0
    df = pd.read_csv(csv)
    assert tuple(df.columns) == analyze.COLUMNS
    assert len(df) == 1 and df.loc[0, "AU12_r"] >= 2.5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "AU12_r" in capsys.readouterr().out


def test_records_follow_frame_time(smile_clip):
    df = analyze.to_dataframe(analyze.records(smile_clip))
    assert len(df) == len(smile_clip)
    np.testing.assert_allclose(df["timestamp"], [p.frame.time for p in smile_clip])
    assert df[list(analyze.AU_COLUMNS)].to_numpy().min() >= 0.0
