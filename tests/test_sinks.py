"""Sinks: real PyAV round trips (timing, audio, sizes), atomic files, and fake cameras and windows."""
from __future__ import annotations

import os
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace

from clips import cut_clip, decode_audio, dominant_hz, grey_of, level, make_clip
from conftest import media_path
from reenact.config import VideoConfig
from reenact.errors import OutputNotWritable, PipelineError, ReenactError, UnsupportedInput, VirtualCameraUnavailable
from reenact.io.image_file import ImageSink
from reenact.io.preview import DisplayUnavailable, PreviewSink
from reenact.io.sink import MultiSink, Sink
from reenact.io.video_file import VideoFileSink, rgb_frame
from reenact.io.virtual_camera import VirtualCameraSink, probe_virtual_camera
from reenact.io import open_source
from reenact.pipeline.types import Frame

FAST = VideoConfig(preset="ultrafast")


def line(err: pytest.ExceptionInfo) -> str:
    """The one line ReenactError composed (str() of the OSError-based ones is broken, see report)."""
    text = err.value.args[0]
    assert "\n" not in text
    return text


def transcode(src_path, out_path, cfg=FAST):
    """Source → VideoFileSink, unchanged images; returns the input frames' times."""
    with open_source(src_path) as src, VideoFileSink(out_path, source=src, cfg=cfg) as sink:
        times = []
        for f in src:
            sink.write(f, f.image)
            times.append(f.pts * f.time_base)
    return times


def frame_times(path):
    with open_source(path) as src:
        return [f.pts * f.time_base for f in src]


def audio_packets(path):
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return a.codec_context.name, [(p.pts * p.time_base, bytes(p)) for p in c.demux(a) if p.dts is not None]


def frame(i, img, tb=Fraction(1, 10)):
    return Frame(img, i, i, tb)


# --- video files ------------------------------------------------------------------------------------


def test_video_round_trip_keeps_count_rate_pts_and_copies_audio(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=10, fps=Fraction(25), tone_hz=440)
    out = tmp_path / "out.mp4"
    times = transcode(clip, out)
    assert frame_times(out) == times == [Fraction(i, 25) for i in range(10)]
    with open_source(out) as res:
        assert (res.fps, res.frame_count) == (25, 10)
        greys = [grey_of(f.image) for f in res]
    assert np.abs(np.array(greys) - [level(i) for i in range(10)]).max() < 6
    # the audio is copied: same codec, same packets, same bytes, same times
    assert audio_packets(out) == audio_packets(clip)
    samples, rate = decode_audio(out)
    assert dominant_hz(samples, rate) == pytest.approx(440, abs=10)


def test_real_clip_with_nonzero_start_keeps_pts_audio_and_colour(tmp_path):
    clip = cut_clip(media_path("talking_man.mp4"), tmp_path / "cut.mp4", first_keyframe=1, frames=24)
    out = tmp_path / "out.mp4"
    times = transcode(clip, out, VideoConfig())
    assert times[0] > 0.7
    assert frame_times(out) == times  # exact, though the clip starts at 0.8 s
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == Fraction(2500, 83)
    codec, packets = audio_packets(out)
    assert codec == "aac" and packets == audio_packets(clip)[1]
    with open_source(clip) as a, open_source(out) as b:
        diff = [np.abs(x.image.astype(int) - y.image.astype(int)).mean() for x, y in zip(a, b)]
    assert max(diff) < 4  # compression noise only


def test_saturated_colours_survive(tmp_path):
    # a YUV matrix or range mismatch between encoding and its tags shifts saturated colours most
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 0, 0), (255, 255, 255)]
    img = np.concatenate([np.full((32, 32, 3), c, np.uint8) for c in colours], axis=1)
    out = tmp_path / "c.mp4"
    with VideoFileSink(out, fps=10, cfg=VideoConfig(crf=0, preset="ultrafast")) as sink:
        sink.write(frame(0, img), img)
    with open_source(out) as src:
        back = next(iter(src)).image.astype(int)
    for k, c in enumerate(colours):
        patch = back[8:24, 32 * k + 8 : 32 * k + 24].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - c).max() < 6, (c, patch)
    # tagged, so players that assume BT.709 for HD still decode it right
    with av.open(str(out)) as c:
        vf = next(c.decode(video=0))
    assert (vf.colorspace, vf.color_range) == (Colorspace.ITU601, ColorRange.MPEG)


def test_audio_the_container_refuses_is_reencoded_to_aac(tmp_path):
    clip = make_clip(tmp_path / "in.mov", frames=10, audio="pcm_mulaw", tone_hz=1000)
    out = tmp_path / "out.mp4"  # mp4 takes no µ-law
    transcode(clip, out)
    codec, packets = audio_packets(out)
    assert codec == "aac"
    assert packets[0][0] <= 0  # starts with the video
    samples, rate = decode_audio(out)
    assert dominant_hz(samples, rate) == pytest.approx(1000, abs=20)
    assert len(samples) / rate == pytest.approx(10 / 25, abs=0.07)


def test_clip_without_audio(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=5, audio=None)
    out = tmp_path / "out.mp4"
    transcode(clip, out)
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 0 and c.streams.video[0].frames == 5


def test_audio_stops_with_the_video(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=25, fps=Fraction(25))  # 1 s
    out = tmp_path / "out.mp4"
    with open_source(clip) as src, VideoFileSink(out, source=src, cfg=FAST) as sink:
        for f in list(src)[:10]:  # stopped after 0.4 s
            sink.write(f, f.image)
    _, packets = audio_packets(out)
    assert 0.3 < packets[-1][0] < 0.44


@pytest.mark.parametrize("size", [(63, 47), (641, 361), (640, 361)])
def test_odd_size_keeps_its_exact_size(tmp_path, size):
    w, h = size
    out = tmp_path / "odd.mp4"
    img = np.zeros((h, w, 3), np.uint8)
    img[:, -1] = 200
    img[-1, :] = 100
    with VideoFileSink(out, fps=10, cfg=FAST) as sink:
        for i in range(3):
            sink.write(frame(i, img), img)
    with open_source(out) as src:
        f = next(iter(src))
    assert src.size == (w, h) and f.image.shape == (h, w, 3)
    assert abs(f.image[h // 4 : -h // 4, -1].mean() - 200) < 8  # the last column and row are there
    assert abs(f.image[-1, w // 4 : -w // 4].mean() - 100) < 8
    assert frame_times(out) == [Fraction(i, 10) for i in range(3)]  # the frames' own time base


@pytest.mark.parametrize("size", [(1280, 720), (333, 101)])
def test_rgb_frame_holds_the_same_pixels_as_pyav_copies(size):
    w, h = size
    image = np.random.default_rng(0).integers(0, 256, (h, w + 7, 3), np.uint8)[:, 3:w + 3]  # a strided view
    ours, theirs = rgb_frame(image), av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    assert np.array_equal(ours.to_ndarray(), image)
    assert np.array_equal(ours.reformat(format="yuv444p").to_ndarray(), theirs.reformat(format="yuv444p").to_ndarray())
    with pytest.raises(ValueError):
        rgb_frame(image.astype(np.float32))


def test_size_change_mid_stream_is_an_error_and_leaves_no_file(tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(UnsupportedInput) as err:
        with VideoFileSink(out, fps=10, cfg=FAST) as sink:
            sink.write(frame(0, np.zeros((8, 8, 3), np.uint8)), np.zeros((8, 8, 3), np.uint8))
            sink.write(frame(1, np.zeros((8, 10, 3), np.uint8)), np.zeros((8, 10, 3), np.uint8))
    assert "frame 1 is 10x8, but the video is 8x8" in line(err)
    assert os.listdir(tmp_path) == []


def test_timestamps_must_increase(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(UnsupportedInput) as err:
        with VideoFileSink(tmp_path / "o.mp4", fps=10, cfg=FAST) as sink:
            sink.write(frame(0, img), img)
            sink.write(Frame(img, 1, 0, Fraction(1, 10)), img)
    assert "frame 1 at 0.000000 s is not after the frame before it" in line(err)
    assert os.listdir(tmp_path) == []


def test_abort_leaves_no_file(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    sink = VideoFileSink(tmp_path / "o.mp4", fps=10, cfg=FAST)
    sink.write(frame(0, img), img)
    assert len(os.listdir(tmp_path)) == 1  # the hidden part file
    sink.abort()
    assert os.listdir(tmp_path) == []


def test_close_publishes_atomically(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    sink = VideoFileSink(tmp_path / "o.mp4", fps=10, cfg=FAST)
    sink.write(frame(0, img), img)
    assert not (tmp_path / "o.mp4").exists()
    sink.close()
    assert os.listdir(tmp_path) == ["o.mp4"]


def test_closing_without_frames_saves_nothing(tmp_path):
    with pytest.raises(ReenactError) as err:
        VideoFileSink(tmp_path / "o.mp4", fps=10, cfg=FAST).close()
    assert "no frames were written" in line(err)
    assert os.listdir(tmp_path) == []


def test_missing_output_folder(tmp_path):
    with pytest.raises(OutputNotWritable) as err:
        VideoFileSink(tmp_path / "no" / "o.mp4", fps=10)
    assert line(err).endswith("o.mp4: output folder does not exist")
    assert os.listdir(tmp_path) == []


def test_output_under_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputNotWritable) as err:
        VideoFileSink(tmp_path / "file.txt" / "o.mp4", fps=10)
    assert "output folder is not a folder" in line(err)


def test_output_that_is_a_folder(tmp_path):
    with pytest.raises(OutputNotWritable) as err:
        VideoFileSink(tmp_path, fps=10)
    assert "is a folder" in line(err)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputNotWritable) as err:
            VideoFileSink(ro / "o.mp4", fps=10)
        assert "cannot write to the output folder" in line(err)
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("name", ["o.webm", "o.xyz"])
def test_formats_that_cannot_hold_h264(tmp_path, name):
    with pytest.raises(OutputNotWritable) as err:
        VideoFileSink(tmp_path / name, fps=10)
    assert "cannot write this video format" in line(err)
    assert os.listdir(tmp_path) == []


def test_encoder_settings_come_from_config(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    sizes = {}
    for crf in (10, 40):
        out = tmp_path / f"crf{crf}.mp4"
        with VideoFileSink(out, fps=10, cfg=VideoConfig(crf=crf, preset="ultrafast")) as sink:
            for i in range(3):
                sink.write(frame(i, img), img)
        sizes[crf] = out.stat().st_size
    assert sizes[10] > 2 * sizes[40]


# --- image files ------------------------------------------------------------------------------------


def test_png_round_trip_is_bit_exact(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (31, 17, 3), dtype=np.uint8)
    with ImageSink(tmp_path / "o.png") as sink:
        sink.write(frame(0, img), img)
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, img)
    assert os.listdir(tmp_path) == ["o.png"]


def test_jpeg_by_extension(tmp_path):
    img = np.full((16, 16, 3), (200, 30, 30), np.uint8)
    with ImageSink(tmp_path / "o.JPG") as sink:
        sink.write(frame(0, img), img)
    assert (tmp_path / "o.JPG").read_bytes()[:2] == b"\xff\xd8"


def test_image_sink_takes_one_frame(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(PipelineError):
        with ImageSink(tmp_path / "o.png") as sink:
            sink.write(frame(0, img), img)
            sink.write(frame(1, img), img)
    assert os.listdir(tmp_path) == []


def test_image_sink_errors(tmp_path):
    with pytest.raises(OutputNotWritable) as err:
        ImageSink(tmp_path / "o.xyz")
    assert "cannot write .xyz images" in line(err)
    with pytest.raises(OutputNotWritable):
        ImageSink(tmp_path / "missing" / "o.png")
    with pytest.raises(ReenactError) as err:
        ImageSink(tmp_path / "o.png").close()
    assert "no image was written" in line(err)
    assert os.listdir(tmp_path) == []


# --- virtual camera ---------------------------------------------------------------------------------


class FakeVirtualCamera:
    def __init__(self, width, height, fps):
        self.width, self.height, self.fps = width, height, fps
        self.device = "/dev/video-fake"
        self.sent = []
        self.closed = False

    def send(self, rgb):
        self.sent.append(rgb.copy())

    def close(self):
        self.closed = True


def test_virtual_camera_gets_frames_at_its_size():
    cams = []

    def backend(w, h, fps):
        cams.append(FakeVirtualCamera(w, h, fps))
        return cams[-1]

    with VirtualCameraSink(64, 48, 30, backend=backend) as sink:
        assert sink.device == "/dev/video-fake"
        same = np.full((48, 64, 3), 90, np.uint8)
        sink.write(frame(0, same), same)
        wide = np.full((24, 64, 3), 200, np.uint8)  # 8:3 into 4:3 → bars above and below
        sink.write(frame(1, wide), wide)
    cam = cams[0]
    assert (cam.width, cam.height, cam.fps) == (64, 48, 30) and cam.closed
    assert [s.shape for s in cam.sent] == [(48, 64, 3)] * 2
    assert np.array_equal(cam.sent[0], same)
    assert cam.sent[1][:12].max() == 0 and cam.sent[1][-12:].max() == 0
    assert cam.sent[1][12:36].min() == 200


def test_real_virtual_camera_explains_the_setup():
    try:
        sink = VirtualCameraSink(64, 48, 30)
    except VirtualCameraUnavailable as e:
        msg = e.args[0]
    else:
        sink.close()
        pytest.skip("a virtual camera device exists on this machine")
    assert "\n" not in msg and msg.startswith("no virtual camera")
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in msg and "v4l2loopback-dkms" in msg
    ok, detail, fix = probe_virtual_camera()
    assert not ok and detail.startswith("no virtual camera") and "modprobe v4l2loopback" in fix


# --- preview window ---------------------------------------------------------------------------------


def test_preview_without_display(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayUnavailable) as err:
        PreviewSink("x")
    assert "no display" in line(err)


def test_preview_sets_closed_by_user_on_q(monkeypatch):
    shown = []
    keys = iter([-1, ord("q")])
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, img: shown.append(img))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255  # RGB red
    with PreviewSink("x") as preview:
        both = MultiSink([preview])
        both.write(frame(0, img), img)
        assert not both.closed_by_user
        both.write(frame(1, img), img)
        assert both.closed_by_user
    assert shown[0][0, 0].tolist() == [0, 0, 255]  # shown as BGR


# --- fan-out ----------------------------------------------------------------------------------------


class RecordingSink:
    closed_by_user = False

    def __init__(self, fail_close=False):
        self.written, self.closed, self.aborted, self.fail_close = [], False, False, fail_close

    def write(self, frame, image):
        self.written.append(frame.index)

    def close(self):
        self.closed = True
        if self.fail_close:
            raise OSError("disk full")

    def abort(self):
        self.aborted = True


def test_multi_sink_fans_out_and_closes_all():
    a, b = RecordingSink(fail_close=True), RecordingSink()
    assert isinstance(a, Sink)
    multi = MultiSink([a, b])
    img = np.zeros((2, 2, 3), np.uint8)
    multi.write(frame(0, img), img)
    multi.write(frame(1, img), img)
    with pytest.raises(OSError, match="disk full"):
        multi.close()
    assert a.written == b.written == [0, 1] and a.closed and b.closed


def test_multi_sink_aborts_all_on_error():
    a, b = RecordingSink(), RecordingSink()
    with pytest.raises(RuntimeError):
        with MultiSink([a, b]):
            raise RuntimeError("pipeline failed")
    assert a.aborted and b.aborted and not a.closed
