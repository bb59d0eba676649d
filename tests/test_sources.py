"""Sources: real PyAV files, images in every odd format, a fake camera, and the live frame reader."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from clips import cut_clip, grey_of, level, make_clip
from conftest import media_path
from reenact.config import LiveConfig
from reenact.errors import CameraUnavailable, CorruptMedia, InputNotFound, UnsupportedInput
from reenact.io import load_image, open_source
from reenact.io.camera import list_cameras, paced
from reenact.pipeline.mailbox import LatestFrameReader
from reenact.pipeline.types import Frame


def line(err: pytest.ExceptionInfo) -> str:
    """The one line ReenactError composed ("file: message").

    Read from args: str() of the OSError-based errors is OSError's "[Errno None] ..." (see report).
    """
    text = err.value.args[0]
    assert "\n" not in text
    return text


# --- video files ------------------------------------------------------------------------------------


def test_video_keeps_stream_rate_time_base_and_pts(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=8, fps=Fraction(25))
    with open_source(clip) as src:
        frames = list(src)
        assert (src.kind, src.fps, src.frame_count, src.size, src.path) == ("video", 25, 8, (64, 48), clip)
    assert src.time_base == Fraction(1, 12800)  # the mp4 stream's, not 1/fps
    assert [f.pts for f in frames] == [512 * i for i in range(8)]
    assert all(f.time_base == src.time_base for f in frames)
    assert [f.index for f in frames] == list(range(8))
    assert [round(grey_of(f.image) / 24) for f in frames] == [round(level(i) / 24) for i in range(8)]
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (48, 64, 3)


def test_yuv_to_rgb_is_unbiased(tmp_path):
    # random luma under flat chroma, stored losslessly: the exact BT.601 RGB is known
    rng = np.random.default_rng(5)
    y = rng.integers(40, 200, (48, 64)).astype(np.uint8)
    planes = np.concatenate([y.ravel(), np.full(2 * 24 * 32, 110, np.uint8)]).reshape(72, 64)
    planes[48 + 12 :] = 150  # the V plane
    with av.open(str(tmp_path / "l.mkv"), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"qp": "0"})
        s.width, s.height = 64, 48
        out.mux(s.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")))
        out.mux(s.encode(None))
    luma = (y - 16.0) * 255 / 219
    cb, cr = (110 - 128) * 255 / 224, (150 - 128) * 255 / 224
    exact = np.stack([luma + 1.402 * cr, luma - 0.344136 * cb - 0.714136 * cr, luma + 1.772 * cb], -1)
    with open_source(tmp_path / "l.mkv") as src:
        img = next(iter(src)).image
    assert np.abs((img - exact).mean(axis=(0, 1))).max() < 0.3


def test_real_clip_keeps_its_odd_rate():
    with open_source(media_path("talking_man.mp4")) as src:
        pts = [f.pts for f in src]
        assert src.fps == Fraction(2500, 83) and src.time_base == Fraction(1, 2500)
    assert len(pts) == src.frame_count == 237
    assert pts == [83 * i for i in range(237)]


def test_cut_clip_keeps_its_nonzero_start(tmp_path):
    clip = cut_clip(media_path("talking_man.mp4"), tmp_path / "cut.mp4", first_keyframe=1, frames=12)
    with open_source(clip) as src:
        times = [f.pts * f.time_base for f in src]
    assert len(times) == 12
    assert Fraction(79, 100) < times[0] < Fraction(81, 100)  # keyframe 1 sits at 0.8 s
    assert all(b - a == Fraction(83, 2500) for a, b in zip(times, times[1:]))


def test_frames_without_pts_get_them_from_index(tmp_path):
    clip = make_clip(tmp_path / "raw.h264", frames=4, audio=None)  # raw H.264 carries no timestamps
    with open_source(clip) as src:
        times = [f.pts * f.time_base for f in src]
    assert times == [Fraction(i, 25) for i in range(4)]


def test_display_rotation_is_applied(tmp_path):
    clip = make_clip(tmp_path / "r.mp4", frames=2, size=(64, 48), rotation=90, audio=None)
    with open_source(clip) as src:
        img = next(iter(src)).image
    assert src.size == (48, 64) and img.shape == (64, 48, 3)
    # turned a quarter counter-clockwise, the top bar ends up on the left
    assert img[:, :3].mean() > 240 and img[:, -3:].mean() < 100


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFound) as err:
        open_source(tmp_path / "nope.mp4")
    assert "nope.mp4: no such file" in line(err)


def test_audio_only_file_is_rejected(tmp_path):
    clip = make_clip(tmp_path / "a.m4a", audio_only=True)
    with pytest.raises(CorruptMedia) as err:
        open_source(clip)
    assert line(err).endswith("a.m4a: no video stream")


def test_zero_frame_video_is_rejected(tmp_path):
    # mkv keeps an empty video track beside a short tone (mp4 would drop the track)
    clip = make_clip(tmp_path / "z.mkv", frames=0, audio_s=0.2)
    with pytest.raises(CorruptMedia) as err:
        open_source(clip)
    assert line(err).endswith("z.mkv: contains no frames")


def test_random_bytes_are_corrupt(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(CorruptMedia) as err:
        open_source(bad)
    assert "bad.mp4: not a readable video" in line(err)


def test_truncated_file_without_index_is_corrupt(tmp_path):
    # talking_man.mp4 keeps its index (moov) at the end, so its first 40 % cannot be opened at all
    data = media_path("talking_man.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 10])
    with pytest.raises(CorruptMedia) as err:
        open_source(cut)
    assert "cut.mp4: not a readable video" in line(err)


def test_truncated_file_with_index_first_yields_what_decodes(tmp_path, caplog):
    clip = make_clip(tmp_path / "f.mp4", frames=40, options={"movflags": "faststart"})
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 10])
    with caplog.at_level(logging.WARNING, logger="reenact.io.video"), open_source(cut) as src:
        frames = list(src)
    assert src.frame_count == 40
    assert 0 < len(frames) < 40
    assert [f.index for f in frames] == list(range(len(frames)))
    assert f"decoded {len(frames)} of 40 frames" in caplog.text


# --- images -----------------------------------------------------------------------------------------


def test_image_source_is_one_frame(tmp_path):
    with open_source(media_path("takeo.ppm")) as src:
        frames = list(src)
    assert (src.kind, src.frame_count, src.fps, src.size) == ("image", 1, None, (150, 225))
    assert len(frames) == 1 and frames[0].pts == 0 and frames[0].image.shape == (225, 150, 3)


def test_load_image_matches_opencv_rgb():
    img = load_image(media_path("astronaut.png"))
    ref = cv2.cvtColor(cv2.imread(str(media_path("astronaut.png"))), cv2.COLOR_BGR2RGB)
    assert np.array_equal(img, ref)


def test_load_image_follows_exif_orientation(tmp_path):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :5] = 255  # a white strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90° clockwise to display"
    Image.fromarray(img).save(tmp_path / "e.jpg", exif=exif.tobytes())
    out = load_image(tmp_path / "e.jpg")
    assert out.shape == (40, 20, 3) and out[:3].mean() > 240 and out[-3:].mean() < 15


def test_load_image_drops_alpha(tmp_path):
    bgra = np.random.default_rng(1).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    assert np.array_equal(load_image(tmp_path / "a.png"), bgra[..., [2, 1, 0]])


def test_load_image_expands_gray(tmp_path):
    gray = np.random.default_rng(2).integers(0, 256, (5, 7), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    img = load_image(tmp_path / "g.png")
    assert img.shape == (5, 7, 3) and all(np.array_equal(img[..., c], gray) for c in range(3))


def test_load_image_scales_16_bit(tmp_path):
    g16 = np.array([[0, 257, 32768, 40000, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    img = load_image(tmp_path / "g16.png")
    assert img.dtype == np.uint8
    assert img[0, :, 0].tolist() == [0, 1, 128, 156, 255]  # round(x / 257)


def test_load_image_expands_palette(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=4)
    pal.save(tmp_path / "p.png", transparency=0)
    assert pal.mode == "P"
    assert np.array_equal(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))


def test_load_image_reads_huge_images(tmp_path):
    big = np.zeros((6000, 8000, 3), np.uint8)
    big[-16:, -16:] = (0, 0, 255)  # BGR red in the far corner
    cv2.imwrite(str(tmp_path / "big.jpg"), big)
    img = load_image(tmp_path / "big.jpg")
    assert img.shape == (6000, 8000, 3)
    assert np.abs(img[-8, -8].astype(int) - [255, 0, 0]).max() < 10


def test_load_image_rejects_float_depth(tmp_path):
    cv2.imwrite(str(tmp_path / "f.tiff"), np.random.default_rng(4).random((4, 4, 3)).astype(np.float32))
    with pytest.raises(UnsupportedInput, match="float32"):
        load_image(tmp_path / "f.tiff")


def test_load_image_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(CorruptMedia) as err:
        load_image(tmp_path / "bad.png")
    assert line(err).endswith("bad.png: not a readable image")
    with pytest.raises(InputNotFound) as err:
        load_image(tmp_path / "missing.png")
    assert line(err).endswith("missing.png: no such file")


# --- folders ----------------------------------------------------------------------------------------


def _write_folder(folder, names):
    folder.mkdir()
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full((8, 10, 3), 10 * i, np.uint8))


def test_folder_is_read_in_natural_order_at_1_fps(tmp_path):
    _write_folder(tmp_path / "f", ["img1.png", "img2.png", "img10.png"])
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    with open_source(tmp_path / "f") as src:
        frames = list(src)
    assert (src.kind, src.frame_count, src.fps, src.time_base, src.size) == ("folder", 3, 1, 1, (10, 8))
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 10, 20]  # img10 last, not second
    assert [f.time for f in frames] == [0.0, 1.0, 2.0]


def test_folder_fps(tmp_path):
    _write_folder(tmp_path / "f", ["a.png", "b.jpg"])
    with open_source(tmp_path / "f", fps=29.97) as src:
        frames = list(src)
    assert src.fps == Fraction(30000, 1001) == 1 / src.time_base
    assert [f.pts for f in frames] == [0, 1]


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFound) as err:
        open_source(tmp_path / "empty")
    assert "folder has no images" in line(err)


# --- webcam -----------------------------------------------------------------------------------------


class FakeCamera:
    """A CameraBackend whose reads follow `script`: 1 delivers a BGR frame, 0 fails; then all fail."""

    def __init__(self, script=(1, 1, 1), *, opens: bool = True, gray: bool = False):
        self.script, self.opens, self.gray = list(script), opens, gray
        self.opened_with = None
        self.released = False

    def open(self, index, width, height, fps):
        self.opened_with = (index, width, height, fps)
        return self.opens

    def read(self):
        if not (self.script and self.script.pop(0)):
            return False, None
        if self.gray:
            return True, np.full((6, 8), 77, np.uint8)
        img = np.zeros((6, 8, 3), np.uint8)
        img[..., 0] = 200  # blue in BGR
        return True, img

    def release(self):
        self.released = True


FAST = LiveConfig(width=8, height=6, fps=30, read_timeout_s=0.2)


@pytest.mark.parametrize("spec, index", [("webcam", 0), ("webcam:3", 3), (5, 5), ("WEBCAM:1", 1)])
def test_webcam_specs(spec, index):
    cam = FakeCamera()
    with open_source(spec, live_cfg=FAST, camera_backend=cam) as src:
        assert src.kind == "webcam" and src.path is None and src.frame_count is None
    assert cam.opened_with == (index, 8, 6, 30)
    assert cam.released


def test_webcam_frames_are_rgb_with_microsecond_pts():
    with open_source("webcam", live_cfg=FAST, camera_backend=FakeCamera()) as src:
        frames = list(itertools.islice(src, 3))
    assert src.time_base == Fraction(1, 1_000_000) and src.fps == 30 and src.size == (8, 6)
    assert frames[0].pts == 0
    assert all(b.pts >= a.pts for a, b in zip(frames, frames[1:]))
    assert frames[0].image[0, 0].tolist() == [0, 0, 200]  # BGR blue became RGB blue


def test_gray_webcam_becomes_rgb():
    with open_source(0, live_cfg=FAST, camera_backend=FakeCamera(gray=True)) as src:
        assert next(iter(src)).image[0, 0].tolist() == [77, 77, 77]


def test_camera_that_will_not_open():
    cam = FakeCamera(opens=False)
    with pytest.raises(CameraUnavailable) as err:
        open_source("webcam:2", live_cfg=FAST, camera_backend=cam)
    assert line(err).startswith("camera 2 could not be opened")


def test_camera_that_never_delivers_fails_at_open():
    cam = FakeCamera(())
    with pytest.raises(CameraUnavailable) as err:
        open_source("webcam", live_cfg=FAST, camera_backend=cam)
    assert "camera stopped delivering frames" in line(err)
    assert cam.released


def test_camera_that_stops_mid_stream():
    with open_source("webcam", live_cfg=FAST, camera_backend=FakeCamera((1, 1))) as src:
        it = iter(src)
        assert [next(it).index, next(it).index] == [0, 1]
        with pytest.raises(CameraUnavailable) as err:
            next(it)
    assert "camera stopped delivering frames (none for 0.2 s)" in line(err)


def test_camera_timeout_counts_from_the_read_not_the_last_frame():
    with open_source("webcam", live_cfg=FAST, camera_backend=FakeCamera((1, 0, 1))) as src:
        it = iter(src)
        next(it)
        time.sleep(0.3)  # the consumer is busy longer than the timeout
        assert next(it).index == 1  # one failed read is a hiccup, not a dead camera


def test_list_cameras_names_the_ones_that_open():
    cams = []

    def backend():
        cams.append(FakeCamera(opens=len(cams) in (1, 3)))
        return cams[-1]

    assert list_cameras(4, backend=backend) == [1, 3]
    assert all(c.released for c in cams)


def test_real_opencv_backend_missing_camera():
    with pytest.raises(CameraUnavailable) as err:
        open_source("webcam:97", live_cfg=FAST)
    assert line(err).startswith("camera 97 could not be opened")


# --- live helpers -----------------------------------------------------------------------------------


def _frames(n, done: threading.Event | None = None):
    for i in range(n):
        yield Frame(np.zeros((2, 2, 3), np.uint8), i, i, Fraction(1, 25))
    if done is not None:
        done.set()


def test_reader_keeps_only_the_newest_frame():
    done = threading.Event()
    with LatestFrameReader(_frames(50, done)) as reader:
        assert done.wait(5)
        frame = reader.get()
        assert frame.index == 49
        assert reader.get() is None  # the frames ended
    assert (reader.captured, reader.dropped) == (50, 49)


def test_reader_in_lockstep_drops_nothing():
    taken = threading.Semaphore(0)

    def lockstep():
        for f in _frames(10):
            yield f
            taken.acquire(timeout=5)  # the next frame only once the consumer took this one

    with LatestFrameReader(lockstep()) as reader:
        got = []
        for f in reader:
            got.append(f.index)
            taken.release()
    assert got == list(range(10)) and reader.dropped == 0


def test_reader_reraises_capture_errors():
    def broken():
        yield from _frames(2)
        raise CorruptMedia("decoder exploded")

    with LatestFrameReader(broken()) as reader, pytest.raises(CorruptMedia, match="decoder exploded"):
        list(reader)


def test_reader_times_out_when_frames_stop():
    release = threading.Event()

    def stalls():
        yield from _frames(1)
        release.wait(5)  # a camera read that hangs

    reader = LatestFrameReader(stalls(), timeout_s=0.2).start()
    try:
        assert reader.get().index == 0
        with pytest.raises(CameraUnavailable) as err:
            reader.get()
        assert "camera stopped delivering frames" in line(err)
    finally:
        release.set()
        reader.close()


def test_reader_stops_on_the_event():
    stop = threading.Event()
    endless = (Frame(np.zeros((2, 2, 3), np.uint8), i, i) for i in itertools.count())
    reader = LatestFrameReader(endless, stop=stop).start()
    assert reader.get() is not None
    stop.set()
    assert reader.get() is None
    reader.close()
    assert not reader.running


def test_reader_plays_a_video_file_in_real_time(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=6, fps=Fraction(25), audio=None)
    with open_source(clip) as src, LatestFrameReader(paced(src)) as reader:
        got = [f.index for f in reader]
    assert got[-1] == 5 and got == sorted(set(got))
    assert reader.captured == 6 and reader.dropped == 6 - len(got)


def test_paced_sleeps_until_each_frame_is_due():
    now = [100.0]
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        now[0] += s

    frames = [Frame(np.zeros((1, 1, 3), np.uint8), i, pts, Fraction(1, 1000)) for i, pts in enumerate([0, 40, 120])]
    out = list(paced(frames, clock=lambda: now[0], sleep=sleep))
    assert out == frames
    assert sleeps == pytest.approx([0.04, 0.08])
