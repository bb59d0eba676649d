"""Issue 10, part 1: reenact runs as an installed package. Its data ships inside it, nothing is written
into it (or the checkout) at run time, native libraries' log noise stays off the terminal, and a
mistake is caught before any model loads. `.ci/run` also builds the wheel and runs it from elsewhere."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import reenact
from reenact.config import CONFIG_DIR
from reenact.engines.manifest import BUNDLED
from reenact.io.image import ASTRONAUT
from reenact.quiet import native_logs_quieted

from conftest import ROOT

PACKAGE = Path(reenact.__file__).parent


def reenact_cli(*argv, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reenact.cli", *map(str, argv)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def test_every_data_file_is_package_data():
    """What the code reads at run time lies inside the package and matches pyproject's package-data."""
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["reenact"]
    shipped = {p for pat in patterns for p in PACKAGE.glob(pat)}
    data = [p for d in (Path(str(CONFIG_DIR)), Path(str(BUNDLED))) for p in d.iterdir() if p.is_file()]
    assert {"default.yaml", "canonical_mesh.npy", "presets.yaml", "warp_blend.onnx", "manifest.json"} <= {p.name for p in data}
    assert all(PACKAGE in p.parents for p in data + [ASTRONAUT])
    assert set(data) | {ASTRONAUT} <= shipped


def test_a_users_config_works_from_any_folder(tmp_path):
    (tmp_path / "mine.yaml").write_text("edit:\n  editor: rig\n  target: surprise\n")
    run = reenact_cli("image", ASTRONAUT, "-o", "o.png", "--config", "mine.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "editor rig, target surprise" in run.stdout and "nothing edited" not in run.stdout


def test_the_config_folder_can_be_replaced(tmp_path):
    mine = tmp_path / "configs"
    mine.mkdir()
    for f in Path(str(CONFIG_DIR)).iterdir():
        (mine / f.name).write_bytes(f.read_bytes())
    (mine / "default.yaml").write_text((mine / "default.yaml").read_text().replace("crf: 18", "crf: 23"))
    code = "from reenact.config import load_config; print(load_config().video.crf)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "REENACT_CONFIG_DIR": str(mine)})
    assert run.stdout.strip() == "23", run.stderr


def snapshot(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_a_run_writes_only_its_output_and_the_user_cache(tmp_path):
    """The backend measurement and every other run-time file go to $REENACT_CACHE_DIR, never into the
    package or the checkout; and a successful run prints its one result line and nothing on stderr."""
    before_pkg, before_repo = snapshot(PACKAGE), snapshot(ROOT / "tests")
    cache = tmp_path / "cache"
    run = reenact_cli("image", ASTRONAUT, "-o", "out.png", "--target-au", "happy",
                      env={"REENACT_CACHE_DIR": str(cache)}, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.count("\n") == 1 and "editor rig, target happy" in run.stdout
    assert (cache / "engines" / "measured.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out.png"]
    assert snapshot(PACKAGE) == before_pkg and snapshot(ROOT / "tests") == before_repo


def test_a_video_run_prints_the_progress_bar_and_one_line(tmp_path):
    from clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", frames=6)
    run = reenact_cli("video", clip, "-o", tmp_path / "out.mp4", "--target-au", "happy")
    assert run.returncode == 0, run.stderr
    # tqdm redraws its bar with carriage returns; every piece of stderr is the bar
    pieces = [p for line in run.stderr.splitlines() for p in line.split("\r") if p.strip()]
    assert pieces and all(p.startswith("reenact: ") and "frame" in p for p in pieces), run.stderr
    assert run.stdout.count("\n") == 1


def test_a_typo_fails_in_one_line_before_any_model_loads():
    code = ("import sys\nfrom reenact.cli import main\n"
            f"rc = main(['video', {str(ASTRONAUT)!r}, '-o', 'x.mp4', '--target-au', 'hapy'])\n"
            "loaded = sorted({'mediapipe', 'onnxruntime', 'torch', 'tensorrt'} & set(sys.modules))\n"
            "print(rc, loaded)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "2 []", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("reenact: error: bad --target-au 'hapy'")


def test_native_log_noise_is_dropped_and_real_errors_kept(capfd):
    noise = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
             "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
             "W0000 00:00:1796541587.722840   27886 inference_feedback_manager.cc:114] Feedback manager requires a "
             "model with a single signature inference. Disabling support for feedback tensors.\n"
             "W0000 00:00:1796541587.815888   27886 landmark_projection_calculator.cc:186] Using NORM_RECT without "
             "IMAGE_DIMENSIONS is only supported for the square ROI.\n"
             "[ WARN:0@4.280] global cap_v4l.cpp:913 open VIDEOIO(V4L2:/dev/video0): can't open camera by index\n"
             "[ERROR:0@4.281] global obsensor_uvc_stream_channel.cpp:158 getStreamChannelGroup Camera index out of range\n")
    real = "E0000 00:00:1796541587.9   27886 calculator_graph.cc:887] INTERNAL: the graph failed\n"
    with native_logs_quieted():
        os.write(2, (noise + real).encode())
    assert capfd.readouterr().err == real


def test_tracker_start_up_is_silent(capfd):
    from reenact.config import TrackerConfig
    from reenact.stages.tracker import FaceTracker

    for static in (True, False):
        FaceTracker(TrackerConfig(max_faces=2), static=static).close()
    assert capfd.readouterr().err == ""


def test_camera_probe_is_silent(capfd):
    from reenact.io.camera import list_cameras

    list_cameras(2)
    assert capfd.readouterr().err == ""


# --- the test suite itself ---------------------------------------------------------------------------

def test_ci_without_the_shared_media_fails_instead_of_skipping():
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_config.py"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "CI": "true", "REENACT_MEDIA": "/nonexistent/media"})
    assert run.returncode != 0
    assert "the shared media folder /nonexistent/media is missing" in run.stdout + run.stderr
    assert "passed" not in run.stdout


def test_ci_fails_on_a_missing_media_file(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="nothere.png not found"):
        conftest.media_path("nothere.png")
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="nothere.png not found"):
        conftest.media_path("nothere.png")
