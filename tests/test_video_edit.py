"""Issue 4's video bar: a rig edit of talking_man.mp4 keeps frames and audio and adds no visible flicker."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from reenact import api
from reenact.config import load_config
from reenact.tasks.demo import write_clip
from reenact.tasks.evaluate import face_masks, flicker
from reenact.stages.tracker import FaceTracker
from reenact.pipeline.types import Frame, Packet

from conftest import media_path

FRAMES = 90


def _decode(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_happy_on_talking_man_keeps_frames_audio_and_is_steady(tmp_path):
    src = write_clip(tmp_path / "in.mp4", _decode(media_path("talking_man.mp4"))[:FRAMES], fps=30, crf=12)
    out = tmp_path / "out.mp4"
    cfg = api.with_edit(load_config(), editor="rig", target="happy")
    stats = api.process_video(src, out, cfg=cfg, progress=False)
    ins, outs = _decode(src), _decode(out)
    assert stats.frames == len(outs) == len(ins) == FRAMES
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.streams.audio and b.streams.audio[0].codec_context.name == a.streams.audio[0].codec_context.name
        assert abs(float(b.streams.audio[0].duration * b.streams.audio[0].time_base)
                   - float(a.streams.audio[0].duration * a.streams.audio[0].time_base)) < 0.05
    # the edit is visible...
    assert np.mean([np.abs(o.astype(int) - i).mean() for i, o in zip(ins, outs)]) > 0.3
    # ...and adds at most one grey level of frame-to-frame change inside the face
    tracker = FaceTracker(cfg.tracker)
    masks = []
    for k, img in enumerate(ins):
        faces = tracker.process(Packet(Frame(img, k, pts=k, time_base=Fraction(1, 30)))).faces
        masks.append(face_masks(faces[0].face.landmarks, img.shape, cfg.compositor)[0] if faces else None)
    tracker.close()
    added = flicker(outs, masks) - flicker(ins, masks)
    assert added <= 1.0
