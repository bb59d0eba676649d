"""The neural editor: exact zero edit, training that learns, export that matches, checkpoints that refuse
what they should. Kept small: 64² crops, a 24-frame clip tracked once for the module, a few steps."""
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
from reenact.engines import load  # noqa: E402
from reenact.errors import ConfigError, IntegrityError, NoFace  # noqa: E402
from reenact.editors.neural import ONNX_FILE  # noqa: E402
from reenact.editors.neural.data import PairSampler, load_clip  # noqa: E402
from reenact.editors.neural.export import export_generator  # noqa: E402
from reenact.editors.neural.model import Arch, Generator  # noqa: E402
from reenact.editors.neural.checkpoints import CHECKPOINT, CHECKPOINT_META, load_checkpoint, save_checkpoint  # noqa: E402
from reenact.editors.neural.loop import PRESETS, Trainer, resolve_config, train  # noqa: E402
from reenact.pipeline.types import AU_INDEX, AU_NAMES, AUVector  # noqa: E402

from clips import cut_clip, make_clip  # noqa: E402
from conftest import media_path  # noqa: E402

SIZE = 64
CFG = replace(PRESETS["tiny"], size=SIZE, width=8, batch=2, lr=2e-3, rig_prior=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A 24-frame talking clip, tracked once into a private cache."""
    d = tmp_path_factory.mktemp("neural")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REENACT_CACHE_DIR", str(d / "cache"))
        video = cut_clip(media_path("talking_man.mp4"), d / "talk.mp4", first_keyframe=0, frames=24)
        yield d, video, load_clip(video, load_config(), progress=False)


@pytest.fixture(scope="module")
def sampler(work):
    clip = work[2].resized(SIZE)
    return PairSampler([clip], [np.arange(len(clip))])


@pytest.fixture(scope="module")
def generator():
    """An untrained generator whose output layers are randomised, so it really warps and paints."""
    torch.manual_seed(0)
    g = Generator(Arch(SIZE, 8))
    for head in (g.motion.out, g.texture.out):
        torch.nn.init.normal_(head.weight, std=0.05)
    return g.eval()


@pytest.fixture(scope="module")
def exported(work, generator, sampler):
    d = work[0] / "exported"
    b = sampler.sample(2, np.random.default_rng(0))
    feeds = {"crop": b.source, "delta": b.au_target - b.au_source}
    export_generator(generator, d, feeds, {"size": SIZE, "au_names": list(AU_NAMES)})
    return d, feeds


def test_zero_edit_is_exact_in_torch_and_a_real_edit_is_not(generator, sampler):
    b = sampler.sample(2, np.random.default_rng(1))
    crop = torch.from_numpy(b.source)
    with torch.no_grad():
        out, flow, mask, _ = generator(crop, torch.zeros(2, 17))
        edited = generator(crop, torch.from_numpy(np.full((2, 17), 0.5, np.float32)))[0]
    assert float((out - crop).abs().max()) <= 1e-3
    assert float(flow.abs().max()) == 0.0 and float(mask.max()) == 0.0
    assert float((edited - crop).abs().max()) > 1e-2


def test_export_runs_on_ort_like_torch_and_keeps_zero_edit_exact(exported, generator):
    d, feeds = exported
    entry = json.loads((d / "manifest.json").read_text())["models"]["neural"]
    assert entry["made"]["opset"] >= 17 and entry["inputs"][0]["shape"] == ["batch", 3, SIZE, SIZE]
    engine = load(d / ONNX_FILE, "onnxruntime", device="cpu")
    got = engine.run(feeds)
    with torch.no_grad():
        want = generator(*(torch.from_numpy(feeds[k]) for k in ("crop", "delta")))
    for name, w in zip(("out", "flow", "mask", "fill"), want):
        assert np.abs(got[name] - w.numpy()).max() < 1e-4, name
    zero = engine.run({"crop": feeds["crop"], "delta": np.zeros_like(feeds["delta"])})
    assert np.abs(zero["out"] - feeds["crop"]).max() <= 1e-3


def test_editor_runs_the_export_without_torch(exported, work):
    code = ("import sys; import numpy as np; from reenact.editors import create_editor, EditRequest; "
            "from reenact.pipeline.types import AUVector; "
            f"e = create_editor('neural:{exported[0]}'); c = np.load(sys.argv[1]); lm = np.zeros((478, 3), np.float32); "
            "z = e.edit(EditRequest(c, lm, AUVector(), AUVector())); "
            "s = e.edit(EditRequest(c, lm, AUVector(), AUVector.from_dict({'AU12': 3, 'AU25': 2}))); "
            "assert (z.crop == c).all() and not z.mask.any() and s.crop.shape == c.shape and s.mask.max() > 0; "
            "assert 'torch' not in sys.modules, 'torch imported at run time'")
    crop = work[0] / "crop.npy"
    np.save(crop, work[2].crops[0])  # a 256² crop: the editor scales the 64² model's flow up
    r = subprocess.run([sys.executable, "-c", code, str(crop)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_few_training_steps_lower_the_loss(sampler):
    trainer = Trainer(CFG)
    batch = sampler.sample(4, np.random.default_rng(2))
    before = trainer.eval_losses(batch)["total"]
    for _ in range(8):
        trainer.train_step(batch)
    assert trainer.eval_losses(batch)["total"] < 0.9 * before


def test_checkpoint_round_trips_through_safetensors(tmp_path, sampler):
    trainer = Trainer(CFG)
    trainer.train_step(sampler.sample(2, np.random.default_rng(3)))
    save_checkpoint(tmp_path, trainer, {"videos": [], "rng": {}})
    meta, tensors = load_checkpoint(tmp_path)
    assert meta["step"] == 1 and meta["config"]["size"] == SIZE and meta["au_names"][AU_INDEX["AU12"]] == "AU12"
    again = Trainer(CFG)
    again.load_state(tensors, meta["step"], "ckpt")
    for name, t in trainer.state().items():
        assert torch.equal(t, again.state()[name]), name


def test_corrupt_or_mismatched_checkpoint_is_refused_in_one_line(tmp_path, sampler):
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


def test_train_exports_a_usable_model_and_resumes(work, tmp_path):
    _, video, clip = work
    out = tmp_path / "me"
    res = train([video], out, preset="tiny", steps=2, size=SIZE, progress=False)
    assert res.steps == 2 and (out / ONNX_FILE).exists() and (out / ".gitignore").read_text().strip().endswith("*")
    editor = create_editor(f"neural:{out}")
    req = EditRequest(clip.crops[0], clip.landmarks[0], AUVector(clip.aus[0]), AUVector(clip.aus[5]))
    assert editor.edit(req).crop.shape == clip.crops[0].shape
    with pytest.raises(ConfigError, match="--resume"):
        train([video], out, preset="tiny", steps=2, size=SIZE, progress=False)
    assert train([video], out, steps=3, resume=True, progress=False).steps == 3


def test_video_without_a_face_is_one_line_no_face(tmp_path, capsys):
    video = make_clip(tmp_path / "grey.mp4", frames=4, size=(96, 64), audio=None)
    with pytest.raises(NoFace):
        load_clip(video, load_config(), progress=False, cache=tmp_path / "cache")
    assert main(["train", "--video", str(video), "-o", str(tmp_path / "m"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reenact: error:") and "no face" in err and "\n" not in err
