"""The CLI end to end: one-line errors with exit status 2, no half-written outputs, live mode."""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from reenact.cli import main

from clips import make_clip
from conftest import load_rgb, media_path


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc, err, *needles):
    lines = [l for l in err.splitlines() if l.startswith("reenact")]
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith("reenact: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0]


@pytest.mark.parametrize("make_input, needle", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: (d / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(5000)) and d / "junk.mp4", "junk.mp4"),
    (lambda d: make_clip(d / "sound.m4a", audio_only=True), "no video stream"),
])
def test_bad_video_inputs(tmp_path, capsys, make_input, needle):
    src = make_input(tmp_path)
    out = tmp_path / "out.mp4"
    rc, _, err = run_cli(capsys, "video", src, "-o", out, "--no-progress")
    assert_one_line_error(rc, err, needle)
    assert list(tmp_path.glob("out*")) == []


def test_truncated_video(tmp_path, capsys):
    src = media_path("talking_man.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 5])
    rc, _, err = run_cli(capsys, "video", cut, "-o", tmp_path / "out.mp4", "--no-progress")
    assert_one_line_error(rc, err, "cut.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_output_in_missing_folder(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    rc, _, err = run_cli(capsys, "video", src, "-o", tmp_path / "nope" / "out.mp4", "--no-progress")
    assert_one_line_error(rc, err)
    assert not (tmp_path / "nope").exists()


def test_still_given_to_video_command(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "video", media_path("takeo.ppm"), "-o", tmp_path / "o.mp4")
    assert_one_line_error(rc, err, "reenact image")


def test_missing_camera(capsys):
    rc, _, err = run_cli(capsys, "live", "--camera", "97", "--max-frames", "1", "-o", "/tmp/never.mp4")
    assert_one_line_error(rc, err)


@pytest.mark.parametrize("kind", ["rgba", "grey", "16bit", "palette"])
def test_odd_image_formats(tmp_path, capsys, kind):
    rgb = load_rgb("portrait_man.jpg")
    src = tmp_path / f"in_{kind}.png"
    if kind == "rgba":
        bgra = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
        cv2.imwrite(str(src), bgra)
    elif kind == "grey":
        cv2.imwrite(str(src), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    elif kind == "16bit":
        cv2.imwrite(str(src), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    else:
        Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=256).save(src)
    out = tmp_path / "out.png"
    rc, stdout, err = run_cli(capsys, "image", src, "-o", out)
    assert rc == 0, err
    assert "1 with a face" in stdout
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    # an opaque alpha channel is not kept; 16 bits are (see test_bad_inputs for transparency and depth)
    assert img.dtype == (np.uint16 if kind == "16bit" else np.uint8) and img.ndim == 3 and img.shape[2] == 3


def test_huge_image(tmp_path, capsys):
    big = cv2.resize(load_rgb("portrait_man.jpg"), (6000, 6000), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((6000, 8000, 3), np.uint8)
    canvas[:, 1000:7000] = big
    src = tmp_path / "huge.jpg"
    cv2.imwrite(str(src), canvas)
    rc, stdout, err = run_cli(capsys, "image", src, "-o", tmp_path / "out.jpg")
    assert rc == 0, err
    assert "1 with a face" in stdout


def test_image_without_face_is_copied(tmp_path, capsys):
    src = tmp_path / "wall.png"
    img = np.random.default_rng(1).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    cv2.imwrite(str(src), img)
    rc, stdout, _ = run_cli(capsys, "image", src, "-o", tmp_path / "out.png")
    assert rc == 0 and "0 with a face" in stdout
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), img)


def test_live_from_file_records_and_counts(tmp_path, capsys):
    """A file played at its own speed stands in for the camera; the recording is a valid video."""
    out = tmp_path / "live.mp4"
    rc, stdout, err = run_cli(capsys, "live", "--source", media_path("talking_man.mp4"), "-o", out,
                              "--max-frames", "20")
    assert rc == 0, err
    assert stdout.startswith("live: 20 frames")
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 20


def test_help_shows_examples(capsys):
    for cmd in ("video", "image", "live", "doctor", "bench", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "examples:" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["AU99=2", "happyy", "AU12=seven"])
def test_bad_target_is_one_line(tmp_path, capsys, target):
    rc, _, err = run_cli(capsys, "image", media_path("portrait_man.jpg"), "-o", tmp_path / "o.png",
                         "--target-au", target)
    assert_one_line_error(rc, err)
    assert not (tmp_path / "o.png").exists()


def test_live_avatar_mode_animates_a_still(tmp_path, capsys):
    """--source portrait.jpg: the still repeats at the camera rate and is edited like a stream."""
    out = tmp_path / "avatar.mp4"
    rc, stdout, err = run_cli(capsys, "live", "--source", media_path("portrait_man.jpg"), "-o", out,
                              "--max-frames", "6", "--fps", "15", "--target-au", "surprise")
    assert rc == 0, err
    assert stdout.startswith("live: 6 frames, 6 with a face")
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 6
    src = cv2.cvtColor(cv2.imread(str(media_path("portrait_man.jpg"))), cv2.COLOR_BGR2RGB)
    h, w = src.shape[:2]
    assert np.abs(frames[-1][:h, :w].astype(int) - src).mean() > 0.5  # the expression was applied


def test_unknown_editor_and_backend_are_one_line(tmp_path, capsys):
    img = media_path("portrait_man.jpg")
    rc, _, err = run_cli(capsys, "image", img, "-o", tmp_path / "a.png", "--editor", "nope")
    assert_one_line_error(rc, err, "identity", "rig")
    rc, _, err = run_cli(capsys, "image", img, "-o", tmp_path / "b.png", "--target-au", "happy",
                         "--backend", "warp9")
    assert_one_line_error(rc, err, "warp9")


def test_backend_flag_reaches_the_rig():
    from reenact import api
    from reenact.cli._common import config_from_args
    from reenact.cli import build_parser

    args = build_parser().parse_args(["image", "in.png", "-o", "o.png", "--target-au", "happy",
                                      "--backend", "onnxruntime"])
    with api.build_pipeline(config_from_args(args)) as pipe:
        editor = next(st.editor for st in pipe.stages if hasattr(st, "editor"))
    assert editor._engine is not None and editor._engine.backend == "onnxruntime"


def test_bench_reports_the_cpu_ratio_and_says_stage_times_are_wall_time():
    from reenact.tasks.bench import BenchResult

    res = BenchResult(editor="rig", frames=150, size=(1280, 720), bare_fps=40.0, pipeline_fps=20.0,
                      stage_ms={"FaceTracker": 12.0}, stage_cpu_ms={"FaceTracker": 2.0, "Compositor": 6.0},
                      bare_cpu_ms=20.0, pipeline_cpu_ms=50.0)
    lines = res.lines()
    assert res.ratio == 0.5 and res.cpu_ratio == 0.4
    assert "CPU ms/frame (all threads): bare 20.0, pipeline 50.0 (ratio 0.40)" in lines
    # what the stages' own threads do not account for: 50 − 2 − 6
    assert lines[-3:] == ["per-stage wall ms/frame: FaceTracker 12.00",
                          "per-stage CPU ms/frame: FaceTracker 2.00, Compositor 6.00",
                          "CPU ms/frame outside the stages: bare 20.0, pipeline 42.0"]
    # MediaPipe's graph threads, where the system lists a process's threads
    res = dataclasses.replace(res, graph_cpu_ms=4.25)
    assert res.lines()[-1] == ("CPU ms/frame outside the stages: bare 20.0, pipeline 42.0 "
                               "(MediaPipe's graph threads 4.2)")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="no /proc here to list a process's threads")
def test_bench_thread_cpu_counts_the_named_threads_only():
    """The calling thread's name (what Python threads inherit) counts the time burnt on it; a name no thread
    has counts nothing."""
    from reenact.tasks.bench import thread_cpu

    name = Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()
    before, nobody = thread_cpu(name), thread_cpu("no-such-thread-name")
    end = time.thread_time() + 0.3
    while time.thread_time() < end:
        pass
    assert thread_cpu(name) - before >= 0.25
    assert nobody == thread_cpu("no-such-thread-name") == 0.0
