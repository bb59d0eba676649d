"""The rig's appearance layer on against off: edit-step CPU time, added flicker on a clip, steadiness.

Speed: the requests of tools/bench_rig.py, on and off interleaved on every repeat, so both see the same
load; process CPU time, which a shared machine's waiting does not inflate. Video: every preset on the
first --frames of --video through the whole pipeline; added flicker is the eval's metric (mean |Δ luma|
between frames inside the face region, edited minus source), and steadiness is the shading's own mean
frame-to-frame change in crop coordinates, with the video easing on and off.
Run: python tools/appearance_ab.py [--repeat 20] [--video talking_man.mp4] [--frames 90]
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from bench_rig import requests
from reenact import api
from reenact.config import MEDIA_DIR, load_config
from reenact.editors.rig.appearance import Appearance
from reenact.editors.rig.editor import RigEditor
from reenact.io import open_source
from reenact.pipeline.types import Packet
from reenact.stages.targets import presets
from reenact.tasks.evaluate.metrics import face_masks, flicker


def speed(repeat: int) -> None:
    on, off = RigEditor(memory=False, appearance=True), RigEditor(memory=False, appearance=False)
    rows = []
    for _, _, _, req in requests(Path(MEDIA_DIR)):
        on.edit(req), off.edit(req)
        times = {True: [], False: []}
        for i in range(repeat):
            for ed_on in ((True, False) if i % 2 else (False, True)):
                t = time.process_time()
                (on if ed_on else off).edit(req)
                times[ed_on].append(time.process_time() - t)
        rows.append([1000 * np.median(times[k]) for k in (False, True)])
    off_ms, on_ms = np.median(rows, 0)
    print(f"edit step, process CPU time, median over {len(rows)} preset × face pairs: off {off_ms:.2f} ms, "
          f"on {on_ms:.2f} ms")


def video(clip: Path, frames: int) -> None:
    with open_source(str(clip)) as src:
        clip_frames = [f for f, _ in zip(src, range(frames))]
    steady_off = dataclasses.replace(Appearance().cfg, steady_s=1e-9)
    print(f"{'preset':9s} {'added flicker off':>18s} {'on':>6s} {'shading Δ/frame eased':>22s} {'not eased':>10s}")
    for preset in presets():
        flick, change = {}, {}
        for name, editor in (("off", RigEditor(appearance=False)), ("on", RigEditor(appearance=True)),
                             ("not eased", RigEditor(appearance=True))):
            if name == "not eased":
                editor.appearance = Appearance(steady_off)
            cfg = api.with_edit(load_config(), editor="rig", target=preset)
            outs, masks, shades = [], [], []
            with api.build_pipeline(cfg, editor=editor) as pipe:
                for f in clip_frames:
                    p = pipe.process(Packet(f))
                    outs.append(p.output)
                    masks.append(face_masks(p.faces[0].face.landmarks, f.image.shape)[0] if p.faces else None)
                    warp = p.faces[0].edit.warp if p.faces and p.faces[0].edit is not None else None
                    shades.append(np.log(warp.shade) if warp is not None and warp.shade is not None else None)
            flick[name] = flicker(outs, masks) - flicker([f.image for f in clip_frames], masks)
            pairs = [np.abs(b - a).mean() for a, b in zip(shades, shades[1:]) if a is not None and b is not None]
            change[name] = float(np.mean(pairs)) if pairs else 0.0
        print(f"{preset:9s} {flick['off']:18.3f} {flick['on']:6.3f} {change['on']:22.5f} {change['not eased']:10.5f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--video", default="talking_man.mp4")
    ap.add_argument("--frames", type=int, default=90)
    args = ap.parse_args()
    speed(args.repeat)
    video(MEDIA_DIR / args.video, args.frames)


if __name__ == "__main__":
    main()
