"""Live runs: the control channel, bypass, latency stamps, a camera that goes away and comes back, a
face that is lost and found, stage errors, and the live CLI's defaults. Cameras are files played
through the camera interface (FileCamera); the only fake is a camera that unplugs itself."""
from __future__ import annotations

import logging
import re
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from reenact import api, load_config
from reenact.cli import main
from reenact.io.camera import FileCamera, mark_camera_lost
from reenact.io.image import astronaut
from reenact.io.sink import SinkBase
from reenact.pipeline.live import LiveRunner
from reenact.pipeline.stage import Pipeline, StageBase
from reenact.pipeline.types import Frame, Packet
from reenact.tasks.demo import camera_motion, write_clip


class Collect(SinkBase):
    def __init__(self, on_write=None):
        self.frames: list[tuple[Frame, np.ndarray]] = []
        self.on_write = on_write

    def write(self, frame, image):
        self.frames.append((frame, image))
        if self.on_write:
            self.on_write(len(self.frames))

    def close(self):
        pass

    abort = close


def frames_at(n: int, every_s: float, size=(32, 24)):
    for i in range(n):
        time.sleep(every_s)
        img = np.full((size[1], size[0], 3), i % 251, np.uint8)
        yield Frame(img, i, pts=i)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds of the bundled astronaut under a drifting camera, 320×240 at 15 fps."""
    return write_clip(tmp_path_factory.mktemp("cam") / "astronaut.mp4",
                      camera_motion(astronaut(), 30, (320, 240), 15.0), fps=15, tone_hz=None)


# --- the runner -------------------------------------------------------------------------------------


class Marks(StageBase):
    """Records which frame each message it was sent took effect on."""

    def __init__(self):
        self.pending: list[int] = []
        self.effect: dict[int, int] = {}
        self.seen: list[int] = []

    def process(self, packet):
        for seq in self.pending:
            self.effect[seq] = packet.frame.index
        self.pending.clear()
        self.seen.append(packet.frame.index)
        time.sleep(0.005)  # slower than the source: frames are dropped
        return packet


def test_control_messages_run_in_order_and_none_is_dropped():
    """Messages sent while frames flow, to stages on both threads: each runs once, on its stage's
    thread, in the order sent, and takes effect on that stage's next frame."""
    front, back = Marks(), Marks()
    runner = LiveRunner(Pipeline([front, back]), frames_at(300, 0.003), Collect(), split=1)
    threads: dict[int, str] = {}

    def sender():
        time.sleep(0.05)
        for seq in range(200):
            stage = (front, back)[seq % 2]
            runner.send(lambda _, seq=seq, stage=stage: (stage.pending.append(seq),
                                                         threads.setdefault(seq, threading.current_thread().name)),
                        stage=stage)
            time.sleep(0.002)

    t = threading.Thread(target=sender)
    t.start()
    stats = runner.run()
    t.join()
    assert stats.dropped > 0  # frames were dropped; messages were not
    for stage, name, parity in ((front, "reenact-live-front", 0), (back, threading.current_thread().name, 1)):
        mine = [seq for seq in range(200) if seq % 2 == parity]
        assert sorted(stage.effect) == mine
        effects = [stage.effect[seq] for seq in mine]
        assert effects == sorted(effects)  # in the order sent
        assert {threads[seq] for seq in mine} == {name}


def test_bypass_acts_on_the_next_frame_and_is_bit_exact():
    class Invert(StageBase):
        def process(self, packet):
            return packet.with_(output=255 - packet.frame.image)

    runner = None
    sink = Collect(on_write=lambda n: n == 10 and runner.bypass())
    runner = LiveRunner(Pipeline([Invert()]), frames_at(30, 0.01), sink, split=0)
    runner.run()
    out = [np.array_equal(img, f.image) for f, img in sink.frames]
    assert out[:10] == [False] * 10 and all(out[10:]) and len(out) > 15


def test_latency_is_stamped_at_capture_and_at_the_sink():
    class Slow(StageBase):
        def process(self, packet):
            time.sleep(0.01)
            return packet

    sink = Collect()
    runner = LiveRunner(Pipeline([Slow(), Slow()]), frames_at(40, 0.015), sink, split=1)
    stats = runner.run()
    stamps = runner.latency.stamps()
    assert [s.index for s in stamps] == [f.index for f, _ in sink.frames]  # one per delivered frame
    assert all(b.captured > a.captured and b.delivered > a.delivered for a, b in zip(stamps, stamps[1:]))
    lat = np.array([s.latency_s for s in stamps])
    assert lat.min() >= 0.02  # both stages' 10 ms are inside it
    assert stats.latency.frames == len(stamps)
    assert stats.latency.p50_ms <= stats.latency.p95_ms <= stats.latency.max_ms
    assert stats.latency.max_ms == pytest.approx(1e3 * lat.max())
    # the whole-run figures come from 1 % bins: the nearest-rank percentile, at most one bin above
    for q, got in ((50, stats.latency.p50_ms), (95, stats.latency.p95_ms)):
        exact = 1e3 * np.percentile(lat, q, method="inverted_cdf")
        assert exact <= got <= 1.011 * exact


def test_a_failing_stage_lets_the_frame_through_and_says_so_once(caplog):
    class Flaky(StageBase):
        def process(self, packet):
            if packet.frame.index % 3 == 0:
                raise ValueError("editor exploded")
            return packet.with_(output=packet.frame.image // 2)

    sink = Collect()
    with caplog.at_level(logging.WARNING, logger="reenact"):
        stats = LiveRunner(Pipeline([Flaky()]), frames_at(30, 0.005), sink, split=0).run()
    for f, img in sink.frames:
        assert np.array_equal(img, f.image) == (f.index % 3 == 0)
    assert stats.errors == sum(f.index % 3 == 0 for f, _ in sink.frames) > 2
    warnings = [r.getMessage() for r in caplog.records if "editor exploded" in r.getMessage()]
    assert len(warnings) == 1 and "go out unedited" in warnings[0]


def test_a_source_error_ends_the_run_with_that_error():
    from reenact.errors import CorruptMedia

    def broken():
        yield from frames_at(3, 0.01)
        raise CorruptMedia("decoder exploded")

    sink = Collect()
    with pytest.raises(CorruptMedia, match="decoder exploded"):
        LiveRunner(Pipeline([]), broken(), sink).run()
    assert len(sink.frames) == 3


# --- the camera goes away -----------------------------------------------------------------------------


class Unplugged(FileCamera):
    """A file played as a camera that is unplugged after `after` frames for `away_s` seconds: reads fail
    and it cannot be opened until it is back."""

    def __init__(self, path, after: int, away_s: float):
        super().__init__(path)
        self.after, self.away_s = after, away_s
        self.reads, self.opens, self.back_at = 0, 0, None

    def open(self, index, width, height, fps):
        self.opens += 1
        return (self.back_at is None or time.monotonic() >= self.back_at) and super().open(index, width, height, fps)

    def read(self):
        self.reads += 1
        if self.reads == self.after:
            self.back_at = time.monotonic() + self.away_s
        if self.back_at is not None and time.monotonic() < self.back_at:
            time.sleep(0.01)
            return False, None
        return super().read()


def test_a_camera_that_stops_is_covered_and_reopened(clip, caplog):
    cfg = load_config(overrides={"live.read_timeout_s": 0.3, "live.reconnect_s": 0.2})
    camera = Unplugged(clip, after=12, away_s=1.2)
    sink = Collect()
    with caplog.at_level(logging.WARNING, logger="reenact"):
        session = api.start_live(sink, cfg=cfg, camera_backend=camera)
        end = time.monotonic() + 20
        # until five new frames have come after the camera's return
        while time.monotonic() < end and not (session.stats().held and session.stats().frames > camera.after + 5):
            time.sleep(0.05)
        session.stop()
        stats = session.wait()
    frames = [f for f, _ in sink.frames]
    pts = [f.pts for f in frames]
    assert pts == sorted(set(pts))  # one clock throughout, so a recording stays valid
    held = [i for i, (f, img) in enumerate(sink.frames) if i and f.index == frames[i - 1].index]
    assert stats.held == len(held) >= 10  # the outputs kept getting frames at the camera's rate
    last_good = sink.frames[held[0] - 1][1]
    assert np.array_equal(sink.frames[held[0]][1], mark_camera_lost(last_good))
    assert frames[-1].index > frames[held[-1]].index >= 10  # and real frames came back after
    assert camera.opens >= 3  # reopened more than once while it was away
    lines = [r.getMessage() for r in caplog.records]
    assert sum("camera 0 lost" in m for m in lines) == 1 and sum("camera 0 is back" in m for m in lines) == 1


# --- faces come and go --------------------------------------------------------------------------------


def test_a_lost_face_fades_out_and_fades_back_in(clip):
    """Frames 10–19 have no face: the edit fades to the unedited input over ease_s (no pop), and eases
    in again when the face is back."""
    import av

    with av.open(str(clip)) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    images[10:20] = [np.full_like(images[0], 128)] * 10
    frames = [Frame(img, i, pts=i, time_base=Fraction(1, 15)) for i, img in enumerate(images)]
    cfg = api.with_edit(load_config(overrides={"live.ease_s": 0.2}), editor="rig", target="surprise")
    with api.build_pipeline(cfg, live=True) as pipe:
        packets = [pipe.process(Packet(frame=f)) for f in frames]
    weight = [max((float(s.edit.mask.max()) for s in p.faces), default=0.0) for p in packets]
    edit = [sum(float(np.abs((s.target_au - s.source_au).values).sum()) for s in p.faces) for p in packets]
    exact = [np.array_equal(p.output, p.frame.image) for p in packets]
    # out: the last edit, pasted where it was, at a weight falling along a 0.2 s smoothstep
    assert weight[9] > 0.9 and not exact[9]
    assert weight[10] == pytest.approx(weight[9] * (1 - 0.259), abs=0.01) and not exact[10]
    assert weight[11] == pytest.approx(weight[9] * (1 - 0.741), abs=0.01) and not exact[11]
    assert all(exact[12:20]) and not any(p.faces for p in packets[12:20])
    # in: the AU edit grows from nothing over the same time
    steady = np.median(edit[5:10])
    assert edit[20] == 0 < edit[21] < 0.4 * steady and edit[21] < edit[22] < edit[23]
    assert edit[24] == pytest.approx(steady, rel=0.3)


# --- the CLI ----------------------------------------------------------------------------------------


def test_live_without_a_display_or_output_serves_the_panel(clip, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    rc = main(["live", "--source", str(clip), "--max-frames", "5"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert out[0] == "reenact: no display for a preview window; serving the control panel instead"
    assert out[1].startswith("reenact: control panel at http://127.0.0.1:") and "?token=" in out[1]
    assert out[2].startswith("live: 5 frames")
    assert re.fullmatch(r"live latency, capture to output: p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms; "
                        r"dropped \d+ of \d+ \([\d.]+ %\)", out[3]), out[3]


def test_file_camera_plays_at_its_own_rate_and_loops(clip):
    cam = FileCamera(clip)
    assert cam.open(0, 1, 1, 30)
    t0 = time.monotonic()
    got = [cam.read() for _ in range(45)]  # 30 frames in the file
    took = time.monotonic() - t0
    cam.release()
    assert all(ok and img.shape == (240, 320, 3) for ok, img in got)
    assert np.array_equal(got[0][1], got[30][1])
    assert 44 / 15 - 0.1 < took < 44 / 15 + 0.5


# --- the session's controls -------------------------------------------------------------------------


def test_faces_left_out_ease_back_to_no_edit():
    from reenact.pipeline.types import AUVector, Face, FaceSample, HeadPose
    from reenact.stages.easing import EaseIn

    def packet(t):
        faces = tuple(FaceSample(Face(tid, np.zeros((478, 3), np.float32), np.zeros((478, 3), np.float32), 1.0,
                                      HeadPose()), source_au=AUVector.zeros(),
                                 target_au=AUVector.from_dict({"AU12": 4.0}))
                      for tid in (3, 7))
        return Packet(Frame(np.zeros((4, 4, 3), np.uint8), t, pts=t, time_base=Fraction(1, 10)), faces)

    ease = EaseIn(seconds=0.2)
    out = [ease.process(packet(t)) for t in range(4)]          # both fade in: 0, 1/2, 1, 1
    assert [p.faces[0].target_au["AU12"] for p in out] == pytest.approx([0, 2, 4, 4])
    ease.select([7])
    out = [ease.process(packet(t)) for t in range(4, 8)]       # face 3 eases back out, face 7 stays
    assert [p.faces[0].target_au["AU12"] for p in out] == pytest.approx([2, 0, 0, 0])
    assert [p.faces[1].target_au["AU12"] for p in out] == pytest.approx([4, 4, 4, 4])


def test_session_records_swaps_editors_and_reports(clip, tmp_path):
    import av

    sink = Collect()
    session = api.start_live(sink, cfg=load_config(), camera_backend=FileCamera(clip))
    _until(lambda: session.stats().frames >= 3)
    path = session.record(True, tmp_path / "rec.mp4")
    session.set_editor("rig")
    session.set_target("surprise")
    _until(lambda: session.controls.editor == "rig" and session.controls.target == "surprise")
    n = len(sink.frames)
    _until(lambda: len(sink.frames) >= n + 10)
    session.record(False)
    _until(lambda: session.controls.recording == "")
    # the preview window's hotkeys go down the same channel
    for key in "2+0":
        session.on_key(key)
    _until(lambda: session.controls.target == "sad" and session.controls.strength == pytest.approx(1.1)
           and session.stats().bypass)
    session.stop()
    stats = session.wait()
    assert stats.frames == len(sink.frames) and stats.errors == 0
    edited = [not np.array_equal(img, f.image) for f, img in sink.frames]
    assert any(edited[n:]) and not edited[-1]  # rig + surprise edited it, until the bypass
    time.sleep(0.5)  # the recording is finished off the output thread
    with av.open(path) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) >= 10 and times[0] == 0 and times == sorted(times)
    with pytest.raises(Exception, match="unknown editor"):
        session.set_editor("nope")


def _until(cond, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)
