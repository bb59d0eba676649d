"""Issue 10, part 3: every bad input a new user tried, through the real CLI. Each gives one line on stderr
and exit status 2, or a correct output with a result line that says what ran; never a traceback, never
a leftover `.part` file."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from reenact.cli import main
from reenact.io.image import ASTRONAUT
from reenact.pipeline.types import face_size

from clips import cut_clip, decode_audio, dominant_hz, make_clip
from conftest import load_rgb, media_path


def run_cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def one_error_line(rc, err, *needles) -> str:
    """The run failed with exit status 2 and exactly one line on stderr, which names each needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("reenact: error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.part-*"))


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def result_line(out: str) -> str:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return lines[0]


# --- tracebacks ------------------------------------------------------------------------------------

def old_camera_clip(path: Path, *, seconds: float = 1.0, fps: int = 15) -> Path:
    """An MJPEG AVI with 8-bit PCM at 11,025 Hz in a channel layout without a name, as old cameras write."""
    rate = 11025
    with av.open(str(path), "w") as out:
        video = out.add_stream("mjpeg", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 120, "yuvj420p"
        sound = out.add_stream("pcm_u8", rate=rate, layout="mono")
        for i in range(round(seconds * fps)):
            vf = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 40 + 10 * i, np.uint8), format="rgb24")
            vf.pts = i
            out.mux(video.encode(vf))
        t = np.arange(round(seconds * rate)) / rate
        pcm = (128 + 100 * np.sin(2 * np.pi * 440 * t)).astype(np.uint8)
        for start in range(0, len(pcm), 1024):
            af = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="u8", layout="mono")
            af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
            out.mux(sound.encode(af))
        out.mux(video.encode(None))
        out.mux(sound.encode(None))
    return path


def test_old_camera_audio_is_resampled_for_aac(tmp_path, capsys):
    src = old_camera_clip(tmp_path / "webcam.avi")
    with av.open(str(src)) as c:  # the layout FFmpeg's AAC encoder refused ("1 channels")
        assert c.streams.audio[0].layout.name == "1 channels"
    out = tmp_path / "x.mp4"
    rc, stdout, err = run_cli(capsys, "video", src, "-o", out, "--no-progress")
    assert rc == 0, err
    assert decoded_frames(out) == 15
    samples, rate = decode_audio(out)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
    assert rate == 11025 and abs(len(samples) / rate - 1.0) < 0.15
    assert abs(dominant_hz(samples, rate) - 440) < 10  # the tone itself, not noise


@pytest.mark.parametrize("cmd, flag, value, words", [
    ("image", "--max-faces", "0", "--max-faces: must be at least 1, got 0"),
    ("image", "--max-faces", "-3", "--max-faces: must be at least 1, got -3"),
    ("video", "--crf", "-5", "--crf: must be from 0 to 51, got -5"),
    ("video", "--crf", "99", "--crf: must be from 0 to 51, got 99"),
    ("image", "--calibrate", "-1", "--calibrate: must be from 0 to 60, got -1"),
    ("image", "--calibrate", "999", "--calibrate: must be from 0 to 60, got 999"),
    ("video", "--strength", "7", "--strength 7 is outside 0..1.5"),
])
def test_out_of_range_flags(tmp_path, capsys, cmd, flag, value, words):
    src = ASTRONAUT if cmd == "image" else make_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / ("o.png" if cmd == "image" else "o.mp4")
    rc, _, err = run_cli(capsys, cmd, src, "-o", out, "--target-au", "happy", flag, value)
    one_error_line(rc, err, words)
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("argv, words", [
    (["analyze", "{clip}", "--max-frames", "-5"], "--max-frames: must be at least 1, got -5"),
    (["analyze", "{clip}", "--max-frames", "0"], "--max-frames: must be at least 1, got 0"),
    (["live", "--source", "{clip}", "--max-frames", "-1", "-o", "{out}"], "--max-frames: must be at least 1, got -1"),
    (["live", "--source", "{clip}", "--fps", "0", "-o", "{out}"], "--fps: must be more than 0, got 0"),
    (["image", str(ASTRONAUT), "-o", "{out}.png", "--target-au", "happy", "--ref", str(ASTRONAUT)],
     "argument --ref: not allowed with argument --target-au"),
    (["eval", "--frames", "0"], "--frames: must be at least 1, got 0"),
    (["eval", "--pairs", "0"], "--pairs: must be at least 1, got 0"),
])
def test_flags_that_were_accepted_silently(tmp_path, capsys, argv, words):
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / "x.mp4"
    rc, stdout, err = run_cli(capsys, *(a.format(clip=clip, out=out) for a in argv))
    one_error_line(rc, err, words)
    assert "no face" not in err and stdout == ""
    assert not out.exists() and not leftovers(tmp_path)


# --- leftovers, interrupts -------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["live", "--camera", "97", "--max-frames", "1", "-o", "{out}"],
    ["live", "--source", "{missing}", "-o", "{out}"],
    ["live", "--source", "{clip}", "-o", "{out}", "--target-au", "hapy"],
])
def test_failed_live_recording_leaves_nothing(tmp_path, capsys, argv):
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    out = tmp_path / "x.mp4"
    rc, _, err = run_cli(capsys, *(a.format(out=out, clip=clip, missing=tmp_path / "nope.mp4") for a in argv))
    one_error_line(rc, err)
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_video_is_a_valid_shorter_file(tmp_path, sig, status):
    """SIGTERM is handled like Ctrl-C: the output is closed into a playable, shorter file, and the exit
    status and the result line say it was cut short."""
    src = media_path("talking_man.mp4")
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "reenact.cli", "video", str(src), "-o", str(out),
                             "--target-au", "happy", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size > 20_000 for p in leftovers(tmp_path)):  # well into the clip
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    assert stderr == ""
    line = result_line(stdout)
    assert f"(interrupted: {out} is a shortened file)" in line
    frames = decoded_frames(out)
    assert 0 < frames < 237 and line.startswith(f"{out}: {frames} frames")
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
    assert not leftovers(tmp_path)


# --- result lines, and runs that edit nothing ------------------------------------------------------

def test_result_line_names_editor_and_target(tmp_path, capsys):
    rc, out, err = run_cli(capsys, "image", ASTRONAUT, "-o", tmp_path / "o.png", "--target-au", "happy")
    assert rc == 0 and err == ""
    line = result_line(out)
    assert line.startswith(f"{tmp_path / 'o.png'}: 1 frames, 1 with a face") and line.endswith("; editor rig, target happy")
    rc, out, _ = run_cli(capsys, "image", ASTRONAUT, "-o", tmp_path / "r.png", "--ref", media_path("smile_man.jpg"))
    assert rc == 0 and f"editor rig, target the expression of {media_path('smile_man.jpg')}" in out
    assert "nothing edited" not in out


def test_no_face_says_so(tmp_path, capsys):
    src = tmp_path / "wall.png"
    cv2.imwrite(str(src), np.random.default_rng(1).integers(0, 255, (200, 300, 3), dtype=np.uint8))
    rc, out, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.png", "--target-au", "happy")
    assert rc == 0 and err == ""
    assert result_line(out).endswith("; editor rig, target happy; nothing edited: no face found")


def test_identity_editor_by_default_says_so(tmp_path, capsys):
    rc, out, _ = run_cli(capsys, "image", ASTRONAUT, "-o", tmp_path / "o.png")
    assert rc == 0
    assert "editor identity, no target; nothing edited: the identity editor passes frames through" in out


def test_image_with_a_driving_video_says_why_nothing_changed(tmp_path, capsys):
    drive = make_clip(tmp_path / "drive.mp4", frames=5)
    out = tmp_path / "o.png"
    rc, stdout, _ = run_cli(capsys, "image", ASTRONAUT, "-o", out, "--drive", drive)
    assert rc == 0
    assert "nothing edited: --drive follows how a driver's expression changes over time" in stdout
    assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(ASTRONAUT)))  # a faithful pass-through


def test_driver_without_a_face_says_so(tmp_path, capsys):
    clip = cut_clip(media_path("talking_man.mp4"), tmp_path / "talk.mp4", first_keyframe=0, frames=12)
    drive = make_clip(tmp_path / "grey.mp4", frames=12)
    rc, out, _ = run_cli(capsys, "video", clip, "-o", tmp_path / "o.mp4", "--drive", drive, "--no-progress")
    assert rc == 0
    assert result_line(out).endswith(f"driven by {drive}; nothing edited: no face found in the driver {drive}")


# --- destructive -----------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["image", "video"])
def test_output_equal_to_the_input_is_refused(tmp_path, capsys, cmd):
    src = tmp_path / ("in.png" if cmd == "image" else "in.mp4")
    if cmd == "image":
        src.write_bytes(ASTRONAUT.read_bytes())
    else:
        make_clip(src, frames=3)
    before = src.read_bytes()
    rc, _, err = run_cli(capsys, cmd, src, "-o", tmp_path / "." / src.name, "--target-au", "happy")
    one_error_line(rc, err, "would overwrite the input")
    assert src.read_bytes() == before and not leftovers(tmp_path)


def face_windows(paths: list[Path], face_px: int, canvas: tuple[int, int], gap: int):
    """Stills scaled so each face is about face_px, each pasted on a grey canvas; returns the canvas
    and each face's box (x0, y0, x1, y1). Built at run time from the shared stills, never committed."""
    from reenact.config import TrackerConfig
    from reenact.stages.tracker import FaceTracker

    h, w = canvas
    out = np.full((h, w, 3), 120, np.uint8)
    boxes = []
    tracker = FaceTracker(TrackerConfig(max_faces=1), static=True)
    x = gap
    for p, px in zip(paths, face_px if isinstance(face_px, list) else [face_px] * len(paths)):
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        pts = tracker.detect(img)[0]
        k = px / face_size(pts)
        small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        cx, cy = (pts[:, :2].mean(0) * k).astype(int)
        side = 2 * px
        win = np.full((side, side, 3), 120, np.uint8)
        sx0, sy0 = max(cx - px, 0), max(cy - px, 0)
        sx1, sy1 = min(cx + px, small.shape[1]), min(cy + px, small.shape[0])
        win[sy0 - (cy - px):sy1 - (cy - px), sx0 - (cx - px):sx1 - (cx - px)] = small[sy0:sy1, sx0:sx1]
        y = (h - side) // 2
        out[y:y + side, x:x + side] = win
        boxes.append((x + px // 2, y + px // 2, x + side - px // 2, y + side - px // 2))
        x += side + gap
    tracker.close()
    return out, boxes


FIVE = ["astronaut.png", "portrait_man.jpg", "jesper.jpg", "smile_man.jpg", "takeo.ppm"]


@pytest.fixture(scope="module")
def group_photo(tmp_path_factory):
    """Five people, faces of about 100 px, on a 1600 × 900 canvas: what FaceMesh alone finds one or two of."""
    paths = [ASTRONAUT if n == ASTRONAUT.name else media_path(n) for n in FIVE]
    canvas, boxes = face_windows(paths, 100, (900, 1600), 80)
    path = tmp_path_factory.mktemp("group") / "group.png"
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    return path, boxes


def changed_faces(before: np.ndarray, after: np.ndarray, boxes) -> list[float]:
    return [float(np.abs(after[y0:y1, x0:x1].astype(int) - before[y0:y1, x0:x1]).mean()) for x0, y0, x1, y1 in boxes]


def test_max_faces_5_edits_all_five_on_a_still(group_photo, tmp_path, capsys):
    path, boxes = group_photo
    before = cv2.imread(str(path))
    for n, edited in ((5, 5), (1, 1)):
        out = tmp_path / f"o{n}.png"
        rc, stdout, err = run_cli(capsys, "image", path, "-o", out, "--target-au", "surprise", "--max-faces", n)
        assert rc == 0 and err == "", err
        change = changed_faces(before, cv2.imread(str(out)), boxes)
        assert sum(c > 0.5 for c in change) == edited, change
        assert sum(c == 0.0 for c in change) == 5 - edited, change


def test_ref_with_five_small_faces_finds_them(group_photo, tmp_path, capsys):
    path, _ = group_photo
    rc, out, err = run_cli(capsys, "image", media_path("portrait_man.jpg"), "-o", tmp_path / "o.png", "--ref", path)
    assert rc == 0 and "nothing edited" not in out
    assert err == f"reenact: {path}: 5 faces; {SUBJECT_IS_REFERENCE}\n"


SUBJECT_IS_REFERENCE = "the subject (the big whole face nearest the middle) is the reference"


def test_ref_with_several_faces_takes_the_subject(tmp_path, capsys):
    """The smiling face in the middle is the reference: not a small face beside it, nor a bigger face
    cut by the frame's edge (whose mesh measures larger: the old rule, the largest, took it)."""
    from reenact.stages.targets import reference_target

    smile, other = media_path("smile_man.jpg"), media_path("portrait_man.jpg")
    canvas, _ = face_windows([other, smile], [90, 260], (700, 1000), 60)
    two = tmp_path / "two.png"
    cv2.imwrite(str(two), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    cut = np.full((720, 720, 3), 96, np.uint8)
    cut[210:510, 210:510] = cv2.resize(_square(load_rgb("smile_man.jpg")), (300, 300), interpolation=cv2.INTER_AREA)
    cut[150:450, 500:] = cv2.resize(_square(load_rgb("jesper.jpg")), (300, 300), interpolation=cv2.INTER_AREA)[:, :220]
    alone = reference_target(load_rgb("smile_man.jpg"), "smile")
    for image in (canvas, cut):
        ref = reference_target(image, "photo")
        assert "AU12" in ref.named and set(ref.named) == set(alone.named)
        assert np.abs(ref.values.values - alone.values.values).max() < 0.6
    rc, _, err = run_cli(capsys, "image", other, "-o", tmp_path / "o.png", "--ref", two)
    assert rc == 0 and err == f"reenact: {two}: 2 faces; {SUBJECT_IS_REFERENCE}\n"


def _square(img):
    side = min(img.shape[:2])
    y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    return img[y0:y0 + side, x0:x0 + side]


# --- images ----------------------------------------------------------------------------------------

def test_png_with_transparency_keeps_its_alpha(tmp_path, capsys):
    rgb = load_rgb("portrait_man.jpg")
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip(255 * (1.2 - np.hypot(xx - w / 2, yy - h / 2) / (0.5 * max(h, w))), 0, 255).astype(np.uint8)
    src = tmp_path / "cutout.png"
    cv2.imwrite(str(src), np.dstack([cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), alpha]))
    out = tmp_path / "o.png"
    rc, stdout, err = run_cli(capsys, "image", src, "-o", out, "--target-au", "happy")
    assert rc == 0 and err == "" and "nothing edited" not in stdout
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert got.shape == (h, w, 4) and np.array_equal(got[..., 3], alpha)
    assert np.abs(got[..., :3].astype(int) - cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)).max() > 20  # edited
    rc, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.jpg", "--target-au", "happy")
    assert rc == 0 and err == f"reenact: {tmp_path / 'o.jpg'}: .jpg has no alpha channel; the input's transparency is dropped\n"


def test_16_bit_input_keeps_16_bits_or_says_it_converts(tmp_path, capsys):
    rgb = load_rgb("portrait_man.jpg")
    rng = np.random.default_rng(0)
    deep = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257 + rng.integers(0, 100, rgb.shape, dtype=np.uint16)
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), deep)
    out = tmp_path / "o.png"
    rc, stdout, err = run_cli(capsys, "image", src, "-o", out, "--target-au", "happy")
    assert rc == 0 and err == ""
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16 and got.shape == deep.shape
    same = np.all(got == deep, axis=2)
    assert 0.5 < same.mean() < 1.0  # untouched pixels keep every bit; the face is edited
    rc, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.jpg", "--target-au", "happy")
    assert rc == 0 and "the input is 16-bit and .jpg holds 8 bits; written as 8-bit" in err


def test_odd_frame_size_comes_out_exact(tmp_path, capsys):
    src = tmp_path / "odd.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 641, 361, "yuv444p"
        for i in range(3):
            vf = av.VideoFrame.from_ndarray(np.full((361, 641, 3), 60 * i, np.uint8), format="rgb24")
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    out = tmp_path / "o.mp4"
    rc, _, err = run_cli(capsys, "video", src, "-o", out, "--no-progress")
    assert rc == 0, err
    with av.open(str(out)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (641, 361)


# --- misleading messages ---------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, a folder that takes no files")
def test_unwritable_output_folder_is_not_called_missing(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "video", make_clip(tmp_path / "in.mp4", frames=3), "-o", "/proc/out.mp4")
    line = one_error_line(rc, err, "/proc/out.mp4", "cannot create files in the output folder")
    assert "does not exist" not in line


def test_engines_list_of_a_missing_folder(capsys):
    rc, out, err = run_cli(capsys, "engines", "list", "--dir", "/nonexistent")
    one_error_line(rc, err, "/nonexistent: no such engines folder")
    assert "manifest" not in err


@pytest.mark.parametrize("argv, words", [
    (["--media", "/nonexistent"], "/nonexistent: no such media folder"),
    (["--images", "nothere.jpg"], "none of the stills (nothere.jpg) is there"),
])
def test_eval_never_ends_with_an_empty_table(capsys, argv, words):
    rc, out, err = run_cli(capsys, "eval", "--no-progress", *argv)
    one_error_line(rc, err, words)
    assert out == ""


def test_eval_skips_a_still_without_a_face_and_names_it(tmp_path, capsys):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    rc, out, err = run_cli(capsys, "eval", "--editor", "identity", "--presets", "neutral",
                           "--images", f"{blank},{ASTRONAUT}")
    assert rc == 0, err
    assert f"skipped {blank}: no face found" in err
    assert "astronaut.png" in out and "wall.png" not in out
    rc, out, err = run_cli(capsys, "eval", "--editor", "identity", "--presets", "neutral", "--images", str(blank))
    one_error_line(rc, err, f"{blank}: no face found")


# --- one bad file in a folder ----------------------------------------------------------------------

def test_analyze_skips_an_unreadable_file_and_names_it(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("1.png", "3.png"):  # a frame sequence with a damaged frame between
        (folder / name).write_bytes(ASTRONAUT.read_bytes())
    (folder / "2.png").write_bytes(np.random.default_rng(0).bytes(3000))
    rc, out, err = run_cli(capsys, "analyze", folder, "--no-progress", "--csv", tmp_path / "au.csv")
    assert rc == 0
    assert err.strip() == f"reenact: skipped {folder / '2.png'}: not a readable image"
    assert f"{folder}: 2 frames with a face" in out
    rows = [line.split(",")[:2] for line in (tmp_path / "au.csv").read_text().splitlines()[1:]]
    assert rows == [["0", "0.0000"], ["1", "2.0000"]]  # the third file keeps its place in time


# --- fuzz ------------------------------------------------------------------------------------------

def corruptions(data: bytes) -> dict[str, bytes]:
    rng = np.random.default_rng(len(data))
    flipped = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
    return {"random": rng.bytes(len(data)), "cut10": data[: len(data) // 10], "cut30": data[: len(data) * 3 // 10],
            "cut70": data[: len(data) * 7 // 10], "flipped": flipped, "empty": b""}


@pytest.fixture(scope="module")
def fuzz_inputs(tmp_path_factory) -> list[tuple[str, Path]]:
    """(command, corrupt file) for each corruption of a video (moov at the end, moov first, Matroska),
    a PNG and a JPEG, plus files whose extension lies about what they hold."""
    d = tmp_path_factory.mktemp("fuzz")
    sources = {
        "clip.mp4": make_clip(d / "src.mp4", frames=12),
        "fast.mp4": make_clip(d / "src_fast.mp4", frames=12, options={"movflags": "faststart"}),
        "clip.mkv": make_clip(d / "src.mkv", frames=12),
        "face.png": ASTRONAUT,
    }
    cv2.imwrite(str(d / "src.jpg"), cv2.imread(str(ASTRONAUT)))
    sources["face.jpg"] = d / "src.jpg"
    out = []
    for name, path in sources.items():
        stem, ext = name.split(".")
        for how, data in corruptions(path.read_bytes()).items():
            bad = d / f"{stem}_{how}.{ext}"
            bad.write_bytes(data)
            out.append(("video" if ext in ("mp4", "mkv") else "image", bad))
    for src, fake in ((ASTRONAUT, "png_as.jpg"), (d / "src.jpg", "jpg_as.png"), (d / "src.mp4", "mp4_as.png"),
                      (ASTRONAUT, "png_as.mp4")):
        (d / fake).write_bytes(src.read_bytes())
        out.append(("video" if fake.endswith(".mp4") else "image", d / fake))
    return out


def test_fuzzed_inputs_give_one_line_or_a_valid_output(fuzz_inputs, tmp_path, capsys):
    outcomes = {}
    for i, (cmd, bad) in enumerate(fuzz_inputs):
        out = tmp_path / f"out{i}.{'mp4' if cmd == 'video' else 'png'}"
        rc, stdout, err = run_cli(capsys, cmd, bad, "-o", out, *(["--no-progress"] if cmd == "video" else []))
        assert "Traceback" not in err, (bad.name, err)
        if rc == 0:
            assert out.exists(), bad.name
            valid = decoded_frames(out) > 0 if cmd == "video" else cv2.imread(str(out)) is not None
            assert valid, bad.name
        else:
            one_error_line(rc, err, bad.name)
            assert not out.exists(), bad.name
        assert not leftovers(tmp_path), bad.name
        outcomes[bad.name] = rc
    # the corruptions really are corrupt, and a readable tail or a wrong extension still works
    assert outcomes["clip_random.mp4"] == outcomes["face_empty.png"] == outcomes["clip_cut70.mp4"] == 2
    assert outcomes["png_as.jpg"] == outcomes["jpg_as.png"] == 0
    assert outcomes["fast_cut70.mp4"] == 0 or outcomes["clip_cut70.mkv"] == 0


def test_a_damaged_png_prints_nothing_of_the_decoders_own(tmp_path, capfd):
    """libpng/OpenCV write their warnings to fd 2 themselves; the one error line is ours to write."""
    from reenact.errors import CorruptMedia
    from reenact.io import load_image

    bad = tmp_path / "cut.png"
    bad.write_bytes(ASTRONAUT.read_bytes()[: ASTRONAUT.stat().st_size * 7 // 10])
    with pytest.raises(CorruptMedia):
        load_image(bad)
    assert capfd.readouterr().err == ""
