"""The refiner: exact zero edit, training that learns, export that matches, checkpoints and models that
refuse what they should. Kept small: 64² models, a 24-frame clip enrolled once for the module, a few
steps."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reenact.cli import main  # noqa: E402
from reenact.config import load_config  # noqa: E402
from reenact.editors import EditRequest, create_editor  # noqa: E402
from reenact.editors.neural import ONNX_FILE, VERSION  # noqa: E402
from reenact.editors.neural.checkpoints import CHECKPOINT, CHECKPOINT_META, load_checkpoint, save_checkpoint  # noqa: E402
from reenact.editors.neural.data import load_clip, make_pairs  # noqa: E402
from reenact.editors.neural.export import export_refiner  # noqa: E402
from reenact.editors.neural.loop import PRESETS, Trainer, base_editor, neighbours, resolve_config, train  # noqa: E402
from reenact.editors.neural.model import Arch, Refiner  # noqa: E402
from reenact.editors.personal.bank import load_bank  # noqa: E402
from reenact.engines import load  # noqa: E402
from reenact.errors import ConfigError, IntegrityError, NoFace  # noqa: E402
from reenact.pipeline.types import AU_INDEX, AU_NAMES, AUVector  # noqa: E402
from reenact.tasks.enroll import enroll  # noqa: E402

from clips import cut_clip, make_clip  # noqa: E402
from conftest import media_path  # noqa: E402

SIZE = 64
CFG = replace(PRESETS["tiny"], size=SIZE, width=8, batch=2, lr=2e-3, pairs=12)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 24-frame talking clip, tracked into a private cache and enrolled: (folder, video, bank)."""
    d = tmp_path_factory.mktemp("neural")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REENACT_CACHE_DIR", str(d / "cache"))
        video = cut_clip(media_path("talking_man.mp4"), d / "talk.mp4", first_keyframe=0, frames=24)
        enroll([video], d / "me", progress=False)
        yield d, video, load_bank(d / "me")[0]


@pytest.fixture(scope="module")
def pairs(work):
    answer, _ = base_editor(work[0] / "me", "personal")
    bank = work[2]
    return make_pairs(bank.crops, bank.landmarks, bank.keys, neighbours(bank), answer, 8, SIZE,
                      np.random.default_rng(0), progress=False)


@pytest.fixture(scope="module")
def refiner():
    """An untrained refiner whose output layer is randomised, so it really paints."""
    torch.manual_seed(0)
    g = Refiner(Arch(SIZE, 8))
    torch.nn.init.normal_(g.net.out.weight, std=0.05)
    return g.eval()


def _made(bank_dir, **extra) -> dict:
    return {"size": SIZE, "au_names": list(AU_NAMES), "base": "personal",
            "bank_sha256": json.loads((bank_dir / "bank.json").read_text())["sha256"], **extra}


@pytest.fixture(scope="module")
def exported(work, refiner, pairs):
    """The randomised refiner exported beside the module's enrolment."""
    d = work[0] / "me"
    b = pairs.sample(2, np.random.default_rng(0))
    feeds = {"base": b.base, "crop": b.crop, "delta": b.delta}
    export_refiner(refiner, d, feeds, _made(d))
    return d, feeds


def test_zero_edit_is_exact_in_torch_and_a_real_edit_is_not(refiner, pairs):
    b = pairs.sample(2, np.random.default_rng(1))
    base, crop = torch.from_numpy(b.base), torch.from_numpy(b.crop)
    with torch.no_grad():
        out, mask, _ = refiner(base, crop, torch.zeros(2, 17))
        edited = refiner(base, crop, torch.from_numpy(np.full((2, 17), 0.5, np.float32)))[0]
    assert torch.equal(out, base) and float(mask.max()) == 0.0
    assert float((edited - base).abs().max()) > 1e-2


def test_export_runs_on_ort_like_torch_and_keeps_zero_edit_exact(exported, refiner):
    d, feeds = exported
    entry = json.loads((d / "manifest.json").read_text())["models"]["neural"]
    assert entry["made"]["opset"] >= 17 and entry["version"] == VERSION
    assert [i["name"] for i in entry["inputs"]] == ["base", "crop", "delta"]
    engine = load(d / ONNX_FILE, "onnxruntime", device="cpu")
    got = engine.run(feeds)
    with torch.no_grad():
        want = refiner(*(torch.from_numpy(feeds[k]) for k in ("base", "crop", "delta")))
    for name, w in zip(("out", "mask", "fill"), want):
        assert np.abs(got[name] - w.numpy()).max() < 1e-4, name
    zero = engine.run({**feeds, "delta": np.zeros_like(feeds["delta"])})
    assert np.array_equal(zero["out"], feeds["base"])


def test_editor_runs_the_export_without_torch(exported, work):
    bank = work[2]
    np.savez(work[0] / "req.npz", crop=bank.crops[0], lm=bank.landmarks[0], src=bank.keys[0])
    code = ("import sys; import numpy as np; from reenact.editors import create_editor, EditRequest; "
            "from reenact.pipeline.types import AUVector; "
            f"e = create_editor('neural:{exported[0]}'); r = np.load(sys.argv[1]); c = r['crop']; "
            "src = AUVector(r['src']); tgt = AUVector(r['src'] + np.eye(17, dtype=np.float32)[14] * 3); "
            "z = e.edit(EditRequest(c, r['lm'], src, src)); s = e.edit(EditRequest(c, r['lm'], src, tgt)); "
            "assert z.crop is c and not z.mask.any(); "
            "assert s.crop.shape == c.shape and s.mask.max() > 0 and (s.crop != c).any(); "
            "assert s.meta['editor'] == 'neural' and s.warp is not None; "
            "assert 'torch' not in sys.modules, 'torch imported at run time'")
    r = subprocess.run([sys.executable, "-c", code, str(work[0] / "req.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_few_steps_learn_what_the_base_lacks_and_the_mask_stays_open(pairs):
    """Targets 0.1 darker than the base's answers: only the residual branch can learn that."""
    b = pairs.sample(4, np.random.default_rng(2))
    moved = np.abs(b.delta).sum(1, keepdims=True) > 0
    batch = replace(b, target=np.clip(b.base - 0.1, 0, 1).astype(np.float32),
                    delta=np.where(moved, b.delta, np.float32(0.5)))
    trainer = Trainer(CFG)
    before = trainer.eval_losses(batch)["total"]
    rows = [trainer.train_step(batch) for _ in range(12)]
    assert trainer.eval_losses(batch)["total"] < 0.8 * before
    assert rows[-1]["mask_mean"] > 0.3 and rows[-1]["added"] > 0.05


def test_checkpoint_round_trips_through_safetensors(tmp_path, pairs):
    trainer = Trainer(CFG)
    trainer.train_step(pairs.sample(2, np.random.default_rng(3)))
    save_checkpoint(tmp_path, trainer, {"videos": [], "rng": {}})
    meta, tensors = load_checkpoint(tmp_path)
    assert meta["step"] == 1 and meta["config"]["size"] == SIZE and meta["au_names"][AU_INDEX["AU12"]] == "AU12"
    again = Trainer(CFG)
    again.load_state(tensors, meta["step"], "ckpt")
    for name, t in trainer.state().items():
        assert torch.equal(t, again.state()[name]), name


def test_corrupt_or_mismatched_checkpoint_is_refused_in_one_line(tmp_path):
    save_checkpoint(tmp_path, Trainer(CFG), {"videos": [], "rng": {}})
    data = bytearray((tmp_path / CHECKPOINT).read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / CHECKPOINT).write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256") as e:
        load_checkpoint(tmp_path)
    assert "\n" not in str(e.value)

    meta = json.loads((tmp_path / CHECKPOINT_META).read_text())
    (tmp_path / CHECKPOINT_META).write_text(json.dumps({**meta, "au_names": ["AU12"]}))
    with pytest.raises(IntegrityError, match="AUs"):
        load_checkpoint(tmp_path)
    with pytest.raises(ConfigError, match="size"):
        resolve_config(None, {"size": 256}, meta)
    other = Trainer(replace(CFG, width=16))
    with pytest.raises(IntegrityError, match="do not fit"):
        other.load_state(Trainer(CFG).state(), 0, "ckpt")


def test_a_mismatched_model_is_refused_in_one_line(exported, tmp_path, capsys):
    d, _ = exported
    manifest = json.loads((d / "manifest.json").read_text())
    for change, message in (({"version": 1}, "v1"), ({"made": {**manifest["models"]["neural"]["made"], "bank_sha256": "0" * 64}},
                                                     "another enrolment")):
        other = tmp_path / message.replace(" ", "_")
        other.mkdir()
        for f in ("bank.npz", "bank.json", ONNX_FILE):
            (other / f).write_bytes((d / f).read_bytes())
        entry = {**manifest["models"]["neural"], **change}
        (other / "manifest.json").write_text(json.dumps({**manifest, "models": {"neural": entry}}))
        with pytest.raises(IntegrityError, match=message) as e:
            create_editor(f"neural:{other}")
        assert "\n" not in str(e.value)
        assert main(["image", str(media_path("smile_man.jpg")), "-o", str(tmp_path / "o.png"),
                     "--editor", f"neural:{other}", "--target-au", "happy"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("reenact: error:") and message in err and "\n" not in err


def test_train_exports_a_usable_model_and_resumes(work, tmp_path):
    d, video, bank = work
    out = tmp_path / "me"
    enroll([video], out, progress=False)
    with pytest.raises(ConfigError, match="unknown base"):
        train(out, preset="tiny", steps=2, size=SIZE, base="nope", pairs=4, progress=False)
    res = train(out, preset="tiny", steps=2, size=SIZE, pairs=4, progress=False)
    assert res.steps == 2 and (out / ONNX_FILE).exists() and {"mask_mean", "mask_open"} <= set(res.losses)
    editor = create_editor(f"neural:{out}")
    req = EditRequest(bank.crops[0], bank.landmarks[0], AUVector(bank.keys[0]), AUVector(bank.keys[5]))
    assert editor.edit(req).crop.shape == bank.crops[0].shape
    with pytest.raises(ConfigError, match="--resume"):
        train(out, preset="tiny", steps=2, size=SIZE, pairs=4, progress=False)
    assert train(out, steps=3, resume=True, progress=False).steps == 3


def test_video_without_a_face_is_one_line_no_face(tmp_path, capsys):
    video = make_clip(tmp_path / "grey.mp4", frames=4, size=(96, 64), audio=None)
    with pytest.raises(NoFace):
        load_clip(video, load_config(), progress=False, cache=tmp_path / "cache")
    assert main(["train", "--video", str(video), "-o", str(tmp_path / "m"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reenact: error:") and "no face" in err and "\n" not in err
    assert main(["train", "-o", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "reenact enroll" in capsys.readouterr().err
