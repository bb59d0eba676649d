"""The backbone end to end on real media: tracker, aligner, compositor, runners, API."""
from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from reenact import api
from reenact.stages.aligner import Aligner
from reenact.stages.compositor import Compositor
from reenact.config import CompositorConfig, TrackerConfig, load_config
from reenact.editors.stage import EditorStage
from reenact.editors import EDITORS, EditRequest, create_editor
from reenact.errors import PipelineError
from reenact.stages.landmarks import to_ibug68
from reenact.registry import UnknownName
from reenact.pipeline.live import LiveRunner
from reenact.pipeline.runner import OfflineRunner
from reenact.pipeline.stage import Pipeline
from reenact.stages.tracker import FaceTracker
from reenact.pipeline.types import AUVector, Edit, Frame, Packet

from conftest import load_rgb, media_path


def decode(path):
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(st)]
        return frames, st.average_rate, st.time_base


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else float("inf")


@pytest.fixture(scope="module")
def static_tracker():
    tr = FaceTracker(TrackerConfig(max_faces=4), static=True)
    yield tr
    tr.close()


def test_landmarks_match_hand_placed_points(static_tracker):
    img = load_rgb("takeo.ppm")
    text = media_path("takeo.pts").read_text()
    gt = np.array(text.split("{")[1].split("}")[0].split(), float).reshape(68, 2)
    face = static_tracker.process(Packet(Frame(img, 0))).faces[0].face
    pred = to_ibug68(face.landmarks[:, :2])
    iod = np.linalg.norm(gt[36:42].mean(0) - gt[42:48].mean(0))
    assert np.linalg.norm(pred - gt, axis=1).mean() / iod <= 0.08


def test_a_stills_subject_is_the_face_in_the_middle_not_a_larger_one_cut_by_the_frame():
    """A photo framed on one person, a bigger bystander cut by the right edge: with max_faces 1 the subject
    in the middle is the face edited (it was the largest face, the bystander)."""
    def tile(name, side):
        img = load_rgb(name)
        x0, y0 = img.shape[1] // 2 - min(img.shape[:2]) // 2, img.shape[0] // 2 - min(img.shape[:2]) // 2
        square = img[y0:y0 + min(img.shape[:2]), x0:x0 + min(img.shape[:2])]
        return cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)

    canvas = np.full((720, 720, 3), 96, np.uint8)
    canvas[180:540, 180:540] = tile("portrait_man.jpg", 360)
    canvas[150:450, 500:] = tile("jesper.jpg", 300)[:, :220]
    one = FaceTracker(TrackerConfig(max_faces=1), static=True)
    two = FaceTracker(TrackerConfig(max_faces=2), static=True)
    try:
        found = two.detect(canvas)
        (subject,) = one.detect(canvas)
    finally:
        one.close(), two.close()
    sizes = [float(np.ptp(f[:, :2], 0).max()) for f in found]
    assert len(found) == 2 and max(sizes) > 1.5 * float(np.ptp(subject[:, :2], 0).max())  # the bystander's
    assert np.abs(subject[:, :2].mean(0) - 360).max() < 60 and np.allclose(subject, found[0])


def test_tracker_hands_mediapipe_the_frame_without_a_copy():
    """MediaPipe copies a writable array on every call and takes a read-only one by reference."""
    from reenact.stages.tracker import _by_reference

    img = load_rgb("astronaut.png")
    view = _by_reference(img)
    assert np.shares_memory(view, img) and not view.flags.writeable and img.flags.writeable
    assert not np.shares_memory(_by_reference(img[:, 10:20]), img)  # a strided tile must be made contiguous


def test_landmarks_read_from_the_wire_are_the_protobuf_floats(static_tracker):
    """The mesh's landmark list read in one step from its serialised form gives the very floats the per-message
    loop gives, and a list serialised otherwise (a landmark with visibility) still reads right."""
    from mediapipe.framework.formats import landmark_pb2
    from reenact.stages.tracker import _by_reference, landmark_array

    res = static_tracker._mesh.process(_by_reference(load_rgb("astronaut.png")))
    lm = res.multi_face_landmarks[0]
    loop = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
    got = landmark_array(lm)
    assert got.shape == (478, 3) and got.dtype == np.float32 and got.tobytes() == loop.tobytes()
    other = landmark_pb2.NormalizedLandmarkList()
    other.CopyFrom(lm)
    other.landmark[7].visibility = 0.5
    other.landmark[9].x = 0.0
    expect = np.array([(p.x, p.y, p.z) for p in other.landmark], dtype=np.float32)
    assert landmark_array(other).tobytes() == expect.tobytes() and expect[9, 0] == 0.0


def test_pose_follows_in_plane_rotation(static_tracker):
    img = load_rgb("portrait_man.jpg")
    h, w = img.shape[:2]
    rolls = []
    for angle in (-15, 0, 15):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        face = static_tracker.process(Packet(Frame(cv2.warpAffine(img, m, (w, h)), 0))).faces[0].face
        rolls.append(face.pose.roll)
        assert 0.0 < face.confidence <= 1.0
    # OpenCV's positive angle turns the image anticlockwise; our roll is clockwise-positive
    assert rolls[0] - rolls[1] == pytest.approx(15, abs=4)
    assert rolls[1] - rolls[2] == pytest.approx(15, abs=4)


def test_aligner_puts_eyes_on_the_template(static_tracker):
    img = load_rgb("jesper.jpg")  # tilted face
    packet = Aligner().process(static_tracker.process(Packet(Frame(img, 0))))
    al = packet.faces[0].aligned
    r_eye = al.landmarks[[33, 133], :2].mean(0)
    l_eye = al.landmarks[[263, 362], :2].mean(0)
    assert abs(r_eye[1] - l_eye[1]) < 0.03 * al.size  # eyes level after alignment
    # the inverse transform maps crop landmarks back onto the image landmarks
    back = al.landmarks[:, :2] @ al.to_image[:, :2].T + al.to_image[:, 2]
    assert np.abs(back - packet.faces[0].face.landmarks[:, :2]).max() < 1e-2


def test_multiple_faces_get_distinct_tracks(static_tracker):
    a = cv2.resize(load_rgb("smile_man.jpg"), (400, 400))
    b = cv2.resize(load_rgb("portrait_man.jpg"), (400, 400))
    faces = static_tracker.process(Packet(Frame(np.hstack([a, b]), 0))).faces
    assert len(faces) == 2
    assert len({s.face.track_id for s in faces}) == 2
    xs = [s.face.landmarks[:, 0].mean() for s in faces]
    assert min(xs) < 400 < max(xs)


def test_tiny_face_passes_through(static_tracker):
    img = load_rgb("astronaut.png")
    small = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 480, 3), 128, np.uint8)
    canvas[200:248, 200:248] = small
    assert static_tracker.process(Packet(Frame(canvas, 0))).faces == ()


class _Invert:
    """A test editor that changes every pixel of the crop: exposes what the compositor touches."""

    needs_au = False

    def edit(self, req):
        return Edit(crop=255 - req.crop, mask=np.ones(req.crop.shape[:2], np.float32))

    def reset(self):
        pass

    def close(self):
        pass


def test_compositor_touches_only_the_face():
    img = load_rgb("portrait_man.jpg")
    cfg = load_config()
    with Pipeline([FaceTracker(cfg.tracker, static=True), Aligner(), EditorStage(_Invert()),
                   Compositor(CompositorConfig())]) as pipe:
        packet = pipe.process(Packet(Frame(img, 0)))
    out = packet.output
    changed = np.any(out != img, axis=2)
    assert changed.any()
    face = packet.faces[0].face
    x0, y0, x1, y1 = face.bbox
    pad = 0.1 * face.size  # the feather may reach a little past the eroded hull
    ys, xs = np.nonzero(changed)
    # every changed pixel lies near the face's landmark box; the rest is a bit-exact copy
    assert xs.min() >= x0 - pad and xs.max() <= x1 + pad and ys.min() >= y0 - pad and ys.max() <= y1 + pad
    assert np.array_equal(out[~changed], img[~changed])


def test_identity_image_is_bit_exact(tmp_path):
    src = media_path("portrait_man.jpg")
    out = tmp_path / "out.png"
    stats = api.process_image(src, out)
    assert stats.frames_with_face == 1
    assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(src)))


def test_video_identity_adds_no_loss(tmp_path):
    """Same frames and pts as the input, and PSNR within 0.3 dB of a bare transcode at the same settings."""
    src = media_path("talking_man.mp4")
    cfg = load_config()
    out = tmp_path / "out.mp4"
    stats = api.process_video(src, out, cfg=cfg, progress=False)
    bare = tmp_path / "bare.mp4"
    api.transcode(src, bare, Pipeline([]), cfg=cfg, progress=False)
    ref, rate_in, tb_in = decode(src)
    got, rate_out, tb_out = decode(out)
    base, _, _ = decode(bare)
    assert stats.frames == len(ref) == len(got) == 237
    assert stats.frames_with_face > 200
    assert rate_out == rate_in
    assert [float(p * tb_out) for p, _ in got] == pytest.approx([float(p * tb_in) for p, _ in ref], abs=1e-3)
    p_pipe = np.mean([psnr(a, b) for (_, a), (_, b) in zip(ref, got)])
    p_bare = np.mean([psnr(a, b) for (_, a), (_, b) in zip(ref, base)])
    assert p_pipe >= p_bare - 0.3
    # the default encoder settings are close to transparent: 37.95 dB measured at crf 18, 32.8 at crf 28
    assert p_pipe >= 37.0


def test_face_leaving_and_returning(tmp_path):
    """A synthetic cut to an empty frame and back: no error, blank frames pass through unchanged."""
    frames, _, _ = decode(media_path("talking_man.mp4"))
    imgs = [f for _, f in frames[:20]]
    blank = np.full_like(imgs[0], 90)
    seq = imgs[:10] + [blank] * 40 + imgs[10:20]
    cfg = load_config()
    ids = []
    with Pipeline([FaceTracker(cfg.tracker), Aligner(), EditorStage(create_editor("identity")),
                   Compositor()]) as pipe:
        for i, img in enumerate(seq):
            packet = pipe.process(Packet(Frame(img, i, pts=i * 1000, time_base=Fraction(1, 30000))))
            if 10 <= i < 50:
                assert packet.faces == () and packet.output is img
            ids.append(tuple(s.face.track_id for s in packet.faces))
    assert ids[0] == ids[9] and len(ids[0]) == 1
    assert len(ids[55]) == 1  # re-detected after the gap


def test_pipeline_rejects_bad_wiring():
    class NeedsAU(_Invert):
        needs_au = True

    class Faces:
        requires, provides = (), ("faces",)

    with pytest.raises(PipelineError, match="source_au"):
        Pipeline([Faces(), Aligner(), EditorStage(NeedsAU())])
    with pytest.raises(PipelineError, match="faces"):
        Pipeline([Aligner()])


def test_unknown_editor_lists_known_names():
    with pytest.raises(UnknownName, match="identity"):
        create_editor("nope")
    assert "identity" in EDITORS


def test_live_runner_drops_stale_frames_and_obeys_control():
    """A slow pipeline behind a fast source: frames are dropped and counted; latency does not build up."""
    img = np.zeros((64, 64, 3), np.uint8)

    class Slow:
        requires, provides = (), ()
        seen: list = []

        def process(self, packet):
            time.sleep(0.02)
            self.seen.append(packet.frame.index)
            return packet

        def reset(self):
            pass

        def close(self):
            pass

    def fast_source():
        for i in range(200):
            time.sleep(0.002)
            yield Frame(img, i, pts=i)

    class Collect:
        def __init__(self):
            self.got = []

        def write(self, frame, image):
            self.got.append(frame.index)

    slow, sink = Slow(), Collect()
    runner = LiveRunner(Pipeline([slow]), fast_source(), sink)
    applied = threading.Event()
    runner.send(lambda pipe: applied.set())
    stats = runner.run()
    assert applied.is_set()
    assert stats.dropped > 0
    assert stats.frames + stats.dropped <= 200
    assert sink.got == sorted(sink.got)  # ordered, never stale-after-fresh


def test_ctrl_c_closes_the_file_cleanly(tmp_path):
    """KeyboardInterrupt mid-run: the frames done so far end up in a valid, playable file."""
    from reenact.io.video_file import VideoFileSink
    from reenact.io import open_source

    class StopAt:
        requires, provides = (), ()

        def process(self, packet):
            if packet.frame.index == 12:
                raise KeyboardInterrupt
            return packet

        def reset(self):
            pass

        def close(self):
            pass

    out = tmp_path / "cut.mp4"
    with open_source(str(media_path("talking_man.mp4"))) as source, \
            VideoFileSink(out, source=source) as sink:
        stats = OfflineRunner(Pipeline([StopAt()]), source, sink, progress=False).run()
    assert stats.interrupted
    frames, _, _ = decode(out)
    # whatever reached the encoder before the interrupt, and nothing after it
    assert 0 < len(frames) == stats.frames <= 12


def test_offline_run_shortens_the_gil_switch_interval_and_restores_it():
    """Stage threads hold the GIL for milliseconds at a time; during a run the switch interval is short, so
    decode and encode get it back promptly, and OpenCV runs each call on its caller's thread; after the run
    both are what they were, also when a stage fails."""
    import sys

    import cv2

    from reenact.pipeline import runner

    seen, cv_seen = [], []

    class Probe:
        requires, provides = (), ()

        def process(self, packet):
            seen.append(sys.getswitchinterval())
            cv_seen.append(cv2.getNumThreads())
            if packet.frame.index == 3:
                raise RuntimeError("stage failed")
            return packet

        def reset(self):
            pass

        def close(self):
            pass

    class Sink:
        closed_by_user = False

        def write(self, frame, image):
            pass

    before, cv_before = sys.getswitchinterval(), cv2.getNumThreads()
    assert before > runner.SWITCH_INTERVAL_S
    frames = [Frame(np.zeros((8, 8, 3), np.uint8), i, i, Fraction(1, 30)) for i in range(8)]
    with pytest.raises(RuntimeError, match="stage failed"):
        OfflineRunner(Pipeline([Probe()]), frames, Sink(), progress=False).run()
    assert len(seen) == 4 and all(s == runner.SWITCH_INTERVAL_S for s in seen)
    assert cv_seen == [min(cv_before, runner.RUN_CV_THREADS)] * 4
    assert sys.getswitchinterval() == before and cv2.getNumThreads() == cv_before

    # overlapping runs (on threads): the first to end leaves the interval short for the other, and the last
    # to end puts the process's own back
    def waiting_run(go: threading.Event) -> threading.Thread:
        class Wait(Probe):
            def process(self, packet):
                go.wait(10)
                return packet

        t = threading.Thread(target=OfflineRunner(Pipeline([Wait()]), frames[:1], Sink(), progress=False).run)
        t.start()
        return t

    go_first, go_second = threading.Event(), threading.Event()
    first = waiting_run(go_first)
    while sys.getswitchinterval() == before:
        time.sleep(0.01)
    second = waiting_run(go_second)
    time.sleep(0.2)
    go_first.set()
    first.join(10)
    assert sys.getswitchinterval() == runner.SWITCH_INTERVAL_S
    go_second.set()
    second.join(10)
    assert sys.getswitchinterval() == before


def test_offline_run_starts_a_thread_only_at_stages_that_ask_for_one():
    """Cheap stages ride on the thread of the stage before them; the frames still come out all and in order,
    each stage's time is still counted under its own name, and the real pipeline runs on two workers."""
    from reenact.pipeline.runner import thread_groups
    from reenact.pipeline.stage import StageBase

    def stage(name: str, own: bool):
        class Named(StageBase):
            own_thread = own

            def __init__(self):
                self.threads = []

            def process(self, packet):
                self.threads.append(threading.current_thread().name)
                return packet.with_(output=packet.frame.image + 1)

        Named.__name__ = name
        return Named()

    stages = [stage("Heavy", True), stage("Light", False), stage("Next", True), stage("Tail", False)]

    class Sink:
        def __init__(self):
            self.got = []

        def write(self, frame, image):
            self.got.append((frame.index, int(image[0, 0, 0])))

    frames = [Frame(np.full((4, 4, 3), i, np.uint8), i, i, Fraction(1, 30)) for i in range(20)]
    sink = Sink()
    stats = OfflineRunner(Pipeline(stages), frames, sink, progress=False, queue_size=2).run()
    assert sink.got == [(i, i + 1) for i in range(20)]
    heavy, light, nxt, tail = ({*st.threads} for st in stages)
    assert len(heavy) == len(nxt) == 1 and heavy == light and nxt == tail and heavy != nxt
    assert threading.current_thread().name not in heavy | nxt
    assert set(stats.stage_seconds) == set(stats.stage_cpu_seconds) == {"Heavy", "Light", "Next", "Tail"}

    # stages that do not say (not a StageBase) keep a thread each, as before
    class Plain:
        requires, provides = (), ()

        def process(self, packet):
            return packet

    assert [len(g) for g in thread_groups([Plain(), Plain(), stage("Light", False)])] == [1, 2]
    with api.build_pipeline(api.with_edit(load_config(), editor="rig", target="happy")) as pipe:
        groups = thread_groups(pipe.stages)
    assert [[type(st).__name__ for st in g] for g in groups] == [
        ["FaceTracker", "Aligner", "OcclusionStage", "AUEstimator", "TargetStage"], ["EditorStage", "Compositor"]]


def test_color_match_pulls_the_edit_to_the_original():
    from reenact.imaging import match_color

    img = load_rgb("astronaut.png")[100:356, 150:406]
    tinted = np.clip(img.astype(int) + (40, -20, 0), 0, 255).astype(np.uint8)
    weight = np.ones(img.shape[:2], np.float32)
    fixed = match_color(tinted, img, weight)
    before = np.abs(tinted.astype(int) - img).mean()
    after = np.abs(fixed.astype(int) - img).mean()
    assert after < before / 3


class _Shift:
    """A test editor that moves the whole crop 2 px right and says so through Edit.warp."""

    needs_au = False

    def edit(self, req):
        from reenact.pipeline.types import Warp

        s = req.crop.shape[0]
        flow = np.zeros((2, s, s), np.float32)
        flow[0] = -2.0
        crop = cv2.remap(req.crop, flow[0], flow[1], cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
        warp = Warp(flow=flow, fill=np.zeros((s, s, 3), np.float32), fill_mask=np.zeros((s, s), np.float32))
        return Edit(crop=crop, mask=np.ones((s, s), np.float32), warp=warp)

    def reset(self):
        pass

    def close(self):
        pass


def test_warp_is_replayed_at_frame_resolution():
    """A large face: replaying the warp on the frame keeps detail the 256² crop round trip loses."""
    img = load_rgb("portrait_man.jpg")  # face ≈ 500 px, twice the crop
    cfg = load_config()
    with Pipeline([FaceTracker(cfg.tracker, static=True), Aligner()]) as pipe:
        sample = pipe.process(Packet(Frame(img, 0))).faces[0]
    al = sample.aligned
    edit = _Shift().edit(EditRequest(crop=al.crop, landmarks=al.landmarks, source=AUVector(), target=AUVector()))
    comp = Compositor(CompositorConfig())
    replayed = comp.paste(img.copy(), sample.with_(edit=edit), img)
    resampled = comp.paste(img.copy(), sample.with_(edit=Edit(crop=edit.crop, mask=edit.mask)), img)
    # content moved +2 crop px along the crop's x axis, i.e. by that vector mapped into the frame
    shift = al.to_image[:, 0] * 2.0
    h, w = img.shape[:2]
    expected = cv2.warpAffine(img, np.float32([[1, 0, -shift[0]], [0, 1, -shift[1]]]), (w, h),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    x0, y0, x1, y1 = (int(v) for v in sample.face.bbox)
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    patch = (slice(cy - 40, cy + 40), slice(cx - 40, cx + 40))
    err_replay = np.abs(replayed[patch].astype(int) - expected[patch]).mean()
    err_resampled = np.abs(resampled[patch].astype(int) - expected[patch]).mean()
    assert np.hypot(*al.to_image[:, 0]) > 1.5
    assert err_replay < 1.0
    assert err_replay < err_resampled / 2


def test_hull_covers_a_dropped_chin_in_full():
    """A warp's hull reaches past where the chin moves to, at full weight: the chin covers the collar
    instead of showing through it as a ghost; far from the face it is still zero."""
    from reenact.stages.compositor import hull_mask
    from reenact.pipeline.types import Warp

    img = load_rgb("astronaut.png")
    cfg = load_config()
    with Pipeline([FaceTracker(cfg.tracker, static=True), Aligner()]) as pipe:
        al = pipe.process(Packet(Frame(img, 0))).faces[0].aligned
    s = al.size
    flow = np.zeros((2, s, s), np.float32)
    chin_y = al.landmarks[152, 1]
    mouth_y = al.landmarks[14, 1]
    flow[1, int(mouth_y):] = -12.0  # everything below the mouth shown 12 px lower
    warp = Warp(flow=flow, fill=np.zeros((s, s, 3), np.float32), fill_mask=np.zeros((s, s), np.float32))
    still = hull_mask(al.landmarks, s, cfg.compositor)
    moved = hull_mask(al.landmarks, s, cfg.compositor, warp)
    x = int(al.landmarks[152, 0])
    assert still[int(chin_y) + 2, x] < 0.5
    assert moved[int(chin_y) - 2:int(chin_y) + 12, x].min() > 0.99
    assert moved[:, :8].max() == 0 and moved[:, -8:].max() == 0


def test_paste_patches_cover_each_changed_pixel_once():
    """The compositor warps fills and shading only over boxes around their clusters: the boxes hold every
    frame pixel that samples a changed crop pixel, none overlaps another (it would be blended twice), and
    apart clusters cost far fewer pixels than one box around them all."""
    from reenact.stages.compositor import _footprint, _patches

    changed = np.zeros((256, 256), np.uint8)
    changed[40:60, 30:50] = changed[40:70, 200:230] = changed[150:160, 120:122] = changed[250, 5] = 255
    a = np.deg2rad(12.0)
    m = np.array([[2.6 * np.cos(a), -2.6 * np.sin(a), 150.0], [2.6 * np.sin(a), 2.6 * np.cos(a), 20.0]])
    shape = (800, 900, 3)
    boxes = _patches(changed, (0, 0, 256, 256), m, shape)
    for i, p in enumerate(boxes):
        for q in boxes[i + 1:]:
            assert not (p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3])
    covered = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    reached = cv2.warpAffine(changed, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR) > 0
    assert reached.sum() > 1000 and covered[reached].all()
    x, y, w, h = cv2.boundingRect(changed)
    whole = _footprint((x, y, x + w, y + h), m, shape)
    assert covered.sum() < 0.5 * (whole[2] - whole[0]) * (whole[3] - whole[1])


def test_drawn_fill_edges_stay_sharp_on_a_face_larger_than_its_crop():
    """Fills are drawn at the crop's resolution; on a face 2.5× the crop, bilinear upsampling alone spreads a
    drawn edge (a tooth against the dark mouth) over 2.5 frame px and more. Replayed, a painted edge is a
    quarter steeper and more, without a halo (no value outside the fill's own), and the frame outside the fill
    is untouched."""
    from reenact.stages.compositor import _replay
    from reenact.editors.rig.fills import coverage
    from reenact.pipeline.types import Warp

    s, k = 256, 2.5
    a = np.deg2rad(10.0)
    m = np.array([[k * np.cos(a), -k * np.sin(a), 60.0], [k * np.sin(a), k * np.cos(a), -40.0]])
    frame = np.full((640, 720, 3), 128, np.uint8)
    frame[::7] = 90                                     # texture: the frame's own pixels, kept as they are
    fill = np.full((s, s, 3), 60, np.float32)
    fill[100:140, 80:180] += 160 * coverage([(95.3, 108.6), (160.2, 111.1), (158.7, 131.4), (96.1, 128.2)],
                                            (80, 100, 180, 140))[..., None]
    fill_mask = np.zeros((s, s), np.float32)
    fill_mask[90:150, 70:190] = 1
    warp = Warp(np.zeros((2, s, s), np.float32), fill, fill_mask, painted=fill_mask)
    h, w = frame.shape[:2]

    def replay(sharpen):
        return _replay(frame, warp, (0, 0, s, s), m, (0, 0, w, h), [(0, 0, w, h)], (0.2, 0.4), sharpen)

    soft, sharp = replay(0.0), replay(CompositorConfig().fill_sharpen)
    inside = cv2.warpAffine(cv2.erode(fill_mask, np.ones((5, 5))), m, (w, h)) > 0.5
    outside = cv2.warpAffine(cv2.dilate(fill_mask, np.ones((3, 3))), m, (w, h)) == 0

    def steepest(img):
        g = img[..., 0].astype(np.float32)
        return np.percentile(cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[inside], 99)

    # a step of 160 over one crop pixel, 2.5 frame px, reads at most 64 a px (Sobel: ×8), less once blurred
    assert steepest(sharp) > 1.25 * steepest(soft)
    assert sharp[inside].min() >= 59 and sharp[inside].max() <= 221
    assert (sharp[outside] == frame[outside]).all()
