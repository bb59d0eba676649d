"""`reenact batch`: sweeps, labels, failed rows, resuming, and the same outputs from every executor.

Everything here runs the real rig editor and estimator on the bundled astronaut (and takeo.ppm from
the shared media). Only `test_ray_matches_local_pool` starts Ray.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reenact import api, batch, load_config
from reenact.batch.edits import parse_edit
from reenact.cli import main
from reenact.errors import ConfigError

from conftest import ROOT, media_path

ASTRONAUT = ROOT / "reenact" / "data" / "astronaut.png"


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def corrupt(folder: Path) -> Path:
    p = folder / "corrupt.png"
    p.write_bytes(ASTRONAUT.read_bytes()[:3000])  # a PNG cut short: its header, then nothing
    return p


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".png", ".mp4")}


# ---------------------------------------------------------------------------------------------------
# Edit specs


def test_sweep_expands_to_absolute_targets():
    edits = parse_edit("AU12=0:5:1")
    assert [e.target for e in edits] == [f"AU12={v}" for v in range(6)]
    assert {e.mode for e in edits} == {"absolute"}
    assert [e.name for e in parse_edit("au12=0:1:0.25")] == ["AU12=0", "AU12=0.25", "AU12=0.5", "AU12=0.75", "AU12=1"]
    crossed = parse_edit("AU06=0:3:1 x AU12=0:5:1")
    assert len(crossed) == 24 and crossed[0].target == "AU06=0,AU12=0" and crossed[1].target == "AU06=0,AU12=1"
    assert [e.target for e in parse_edit("AU12=0:5:1,AU6=0:3:1")] == [e.target for e in crossed]
    assert parse_edit("AU12=3,AU6=2")[0].target == "AU06=2,AU12=3"
    happy, = parse_edit("happy")
    assert (happy.target, happy.mode) == ("happy", "whole")
    assert parse_edit("neutral", mode="relative")[0].mode == "whole"  # presets are whole faces


@pytest.mark.parametrize("spec, needle", [
    ("AU12=0:5:0", "step"), ("AU12=5:0:1", "backwards"), ("AU12=0:9:1", "outside"), ("AU12=a:5:1", "not a number"),
    ("AU99=1", "unsupported"), ("AU12=1 x AU12=2", "twice"), ("hapy", "no preset"), ("AU12=0:5:0.0001", "more than"),
    ("AU12=1:2:3:4", "parts"), ("ref:", "no image"),
])
def test_bad_edit_specs(spec, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_edit(spec)


def test_sweep_error_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    rc, _, err = run_cli(capsys, "batch", ASTRONAUT, "--edit", "AU12=0:5:0", "-o", out, "--workers", "0")
    lines = [l for l in err.splitlines() if l.startswith("reenact")]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("reenact: error: bad --edit 'AU12=0:5:0'"), err
    assert "Traceback" not in err
    assert not out.exists()  # nothing made before the spec is known to be good


def test_bad_spec_file_and_missing_input(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("inputs: [x.png]\nedits: [happy]\noutput: out\nworkrs: 2\n")
    rc, _, err = run_cli(capsys, "batch", "--spec", spec)
    assert rc == 2 and "unknown spec keys ['workrs']" in err
    rc, _, err = run_cli(capsys, "batch", tmp_path / "nope", "--edit", "happy", "-o", tmp_path / "o")
    assert rc == 2 and "no such file, folder or glob" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------
# Labels on real stills


def test_au12_sweep_reads_back_monotonically(tmp_path):
    """Each still × AU12=0:5:1: six outputs, and the AU12 read back rises with the target."""
    stills = [ASTRONAUT, media_path("takeo.ppm")]
    bad = corrupt(tmp_path)
    df = batch.run({"inputs": [*map(str, stills), str(bad)], "edits": ["AU12=0:5:1"],
                    "output": str(tmp_path / "out"), "workers": 0, "progress": False})
    assert len(df) == 18
    ok = df[df.status == "ok"]
    for still in stills:
        rows = ok[ok.source.map(lambda s: Path(s).resolve()) == Path(still).resolve()].sort_values("target_AU12_r")
        assert list(rows.target_AU12_r) == [0, 1, 2, 3, 4, 5]
        assert all((tmp_path / "out" / o).is_file() for o in rows.output)
        assert np.all(np.diff(rows.AU12_r) > 0), rows[["target_AU12_r", "AU12_r"]]
        assert (rows.background_psnr == np.inf).all()  # an AU12 edit never reaches the background
    failed = df[df.source == str(bad)]
    assert len(failed) == 6 and (failed.status == "failed").all()
    assert failed.error.str.contains("corrupt.png: not a readable image").all()
    assert not any((tmp_path / "out" / o).exists() for o in failed.output)
    on_disk = pd.read_csv(tmp_path / "out" / "labels.csv")
    assert list(on_disk.columns) == list(df.columns) and list(on_disk.output) == list(df.output)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["seed"] == 0 and run["spec"]["editor"] == "rig" and "edit" in run["config"] and "mediapipe" in run["versions"]
    assert (run["ok"], run["failed"]) == (12, 6)


def test_batch_output_equals_reenact_image(tmp_path):
    """A reused pipeline with its target swapped edits exactly as a fresh `reenact image` run."""
    df = batch.run({"inputs": [str(ASTRONAUT)], "edits": ["AU12=1", "AU12=4"], "output": str(tmp_path / "b"),
                    "workers": 0, "progress": False})
    cfg = api.with_edit(load_config(), editor="rig", target="AU12=4", mode="absolute")
    api.process_image(ASTRONAUT, tmp_path / "single.png", cfg=cfg)
    assert (tmp_path / "b" / df.output[1]).read_bytes() == (tmp_path / "single.png").read_bytes()


def judge_mouth(image, landmarks):
    """A judge as `reenact.judge` would plug in: output image and landmarks → probabilities."""
    lips = landmarks[[13, 14], 1] if landmarks is not None else np.zeros(2)
    p = float(np.clip((lips[1] - lips[0]) / 20.0, 0, 1))
    return {"open": p, "closed": 1.0 - p}


def test_manifest_video_and_judge_hook(tmp_path):
    from reenact.tasks.demo import astronaut, camera_motion, write_clip

    (tmp_path / "in").mkdir()
    write_clip(tmp_path / "in" / "clip.mp4", camera_motion(astronaut(), 6, (256, 192), 30.0), tone_hz=None)
    (tmp_path / "m.csv").write_text(f"path,subject\n{ASTRONAUT},nasa\nin/clip.mp4,nasa-video\n")
    df = batch.run({"inputs": [str(tmp_path / "m.csv")], "edits": ["AU25=0:4:4"], "output": str(tmp_path / "o"),
                    "workers": 0, "progress": False, "judge": judge_mouth})
    assert list(df.status) == ["ok"] * 4, df.error
    assert list(df.subject) == ["nasa", "nasa", "nasa-video", "nasa-video"]
    assert list(df.output) == ["astronaut__AU25=0.png", "astronaut__AU25=4.png",
                               "in/clip__AU25=0.mp4", "in/clip__AU25=4.mp4"]
    assert {"judge_open", "judge_closed"} <= set(df.columns)
    for kind in (df.iloc[:2], df.iloc[2:]):  # the mouth opens with AU25 on the still and on the clip
        assert kind.AU25_r.iloc[1] > kind.AU25_r.iloc[0] + 1
        assert kind.judge_open.iloc[1] > kind.judge_open.iloc[0]
    assert df.identity_distance.isna().all() or df.identity_distance.notna().all()  # blank without dlib
    with pytest.raises(ConfigError, match="clash"):
        (tmp_path / "m2.csv").write_text(f"path,status\n{ASTRONAUT},x\n")
        batch.run({"inputs": [str(tmp_path / "m2.csv")], "edits": ["happy"], "output": str(tmp_path / "o2"),
                   "workers": 0})


# ---------------------------------------------------------------------------------------------------
# Resuming


def test_rerun_skips_done_and_redoes_failed(tmp_path):
    bad = corrupt(tmp_path)
    spec = {"inputs": [str(ASTRONAUT), str(bad)], "edits": ["AU12=1", "AU12=4"], "output": str(tmp_path / "o"),
            "workers": 0, "progress": False}
    first = batch.execute(spec)
    assert list(first.labels.status) == ["ok", "ok", "failed", "failed"]
    stamps = {o: (tmp_path / "o" / o).stat().st_mtime_ns for o in first.labels.output[:2]}
    bad.write_bytes(ASTRONAUT.read_bytes())  # the bad input is fixed
    second = batch.execute(spec)
    assert (second.skipped, second.processed) == (2, 2)
    assert list(second.labels.status) == ["ok"] * 4
    assert all((tmp_path / "o" / o).stat().st_mtime_ns == t for o, t in stamps.items())
    pd.testing.assert_frame_equal(second.labels.iloc[:2], first.labels.iloc[:2])
    third = batch.execute({**spec, "strength": 0.5})  # another config: another hash, done again
    assert third.skipped == 0 and set(third.labels.hash).isdisjoint(second.labels.hash)


def test_resume_after_killed_run(tmp_path):
    """Kill the CLI (and its pool) mid-run; the rerun skips what was finished and does the rest."""
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "reenact.cli", "batch", str(ASTRONAUT), "--edit", "AU12=0:5:0.5", "-o", str(out),
           "--workers", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    rows = out / ".batch" / "rows"
    # finished records only: a write killed midway leaves its hidden part file (.NAME.part-XXXX.json)
    records = lambda: [p for p in rows.glob("*.json") if not p.name.startswith(".")]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(records()) < 3 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool worker: one process group
    proc.wait()
    assert not (out / "labels.csv").exists(), "the run finished before it was killed"
    done = [json.loads(p.read_text()) for p in records()]
    finished = {r["output"] for r in done if r["status"] == "ok" and (out / r["output"]).exists()}
    assert 3 <= len(finished) < 11
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"11 outputs, 11 ok, 0 failed, {len(finished)} skipped" in rerun.stdout
    labels = pd.read_csv(out / "labels.csv")
    assert len(labels) == 11 and (labels.status == "ok").all()


# ---------------------------------------------------------------------------------------------------
# Executors


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


def test_ray_matches_local_pool(tmp_path, ray_local):
    """The same task on a 2-process pool and on 2 Ray actors: the same labels, byte-identical outputs."""
    bad = corrupt(tmp_path)
    spec = {"inputs": [str(ASTRONAUT), str(bad)], "edits": ["AU12=0:4:4", "happy"], "workers": 2, "progress": False}
    local = batch.execute({**spec, "output": str(tmp_path / "local")})
    on_ray = batch.execute({**spec, "output": str(tmp_path / "ray"), "ray": True})
    assert (local.executor, on_ray.executor, on_ray.workers) == ("local", "ray", 2)
    assert len({r.pid for r in on_ray.results}) == 2  # both actors worked
    pd.testing.assert_frame_equal(local.labels, on_ray.labels)
    assert list(local.labels.status) == ["ok"] * 3 + ["failed"] * 3
    assert files(tmp_path / "local") == files(tmp_path / "ray") and len(files(tmp_path / "ray")) == 3
    assert ray_local.is_initialized()  # a run joins an instance it did not start and leaves it running
