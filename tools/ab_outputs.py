"""Fingerprints of what `reenact video` writes, to show that a change (a speed-up, say) leaves outputs as they were.

`record` runs process_video on each clip with the code on PYTHONPATH and stores, per frame, the md5 of the
RGB picture handed to the sink and of the decoded output frame, and the md5 of every audio packet. Record
once with the old tree and once with the new one, then `compare` says which frames or packets differ.
Run: PYTHONPATH=OLD_TREE python tools/ab_outputs.py record old.json [--target happy] [clips…]
     PYTHONPATH=$PWD python tools/ab_outputs.py record new.json
     python tools/ab_outputs.py compare old.json new.json      (exit 1 when anything differs)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import av

from reenact.config import MEDIA_DIR
from reenact.files import write_atomic

CLIPS = ("talking_man.mp4", "smile_man.mp4")
KINDS = ("rgb", "decoded", "audio")


def _md5(data) -> str:
    return hashlib.md5(data).hexdigest()


def record(clip: Path, editor: str, target: str) -> dict[str, list]:
    from reenact.api import process_video, with_edit
    from reenact.config import load_config
    from reenact.io import video_file

    rgb = []
    write = video_file.VideoFileSink.write

    def fingerprinted(sink, frame, image):
        rgb.append(_md5(image.tobytes()))
        return write(sink, frame, image)

    video_file.VideoFileSink.write = fingerprinted
    try:
        with tempfile.TemporaryDirectory(prefix="reenact-ab-") as tmp:
            out = Path(tmp) / "out.mp4"
            process_video(clip, out, cfg=with_edit(load_config(), editor=editor, target=target), progress=False)
            with av.open(str(out)) as c:
                decoded = [_md5(f.to_ndarray(format="yuv420p").tobytes()) for f in c.decode(video=0)]
            with av.open(str(out)) as c:
                audio = ([[p.pts, _md5(bytes(p))] for p in c.demux(c.streams.audio[0]) if p.size]
                         if c.streams.audio else [])
    finally:
        video_file.VideoFileSink.write = write
    return {"rgb": rgb, "decoded": decoded, "audio": audio}


def compare(a: dict, b: dict) -> bool:
    same = True
    for clip in sorted(set(a) | set(b)):
        for kind in KINDS:
            x, y = a.get(clip, {}).get(kind), b.get(clip, {}).get(kind)
            if x is None or y is None:
                print(f"{clip}: {kind} missing in one record")
                same = False
                continue
            bad = [i for i, (p, q) in enumerate(zip(x, y)) if p != q]
            ok = len(x) == len(y) and not bad
            same &= ok
            what = "identical" if ok else f"DIFFER: {len(x)} vs {len(y)} items, first different at {bad[:5]}"
            print(f"{Path(clip).name:20s} {kind:8s} {len(x):5d} items  {what}")
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="fingerprint the outputs of the code on PYTHONPATH")
    rec.add_argument("out", type=Path)
    rec.add_argument("clips", nargs="*", type=Path, help=f"default: {', '.join(CLIPS)} from --media")
    rec.add_argument("--media", type=Path, default=MEDIA_DIR)
    rec.add_argument("--editor", default="rig")
    rec.add_argument("--target", default="happy")
    cmp_ = sub.add_parser("compare", help="say whether two records match")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "compare":
        try:
            records = [json.loads(p.read_text()) for p in (args.a, args.b)]
        except (OSError, ValueError) as e:
            print(f"ab_outputs: error: cannot read a record ({e})", file=sys.stderr)
            sys.exit(2)
        for path, r in zip((args.a, args.b), records):
            # a record: {clip: {kind: [fingerprint, ...]}}, as `record` writes it
            if not (isinstance(r, dict) and all(isinstance(v, dict) and all(isinstance(x, list) for x in v.values())
                                                for v in r.values())):
                print(f"ab_outputs: error: {path} is not a record written by `ab_outputs.py record`", file=sys.stderr)
                sys.exit(2)
        same = compare(*records)
        print("all identical" if same else "outputs differ")
        sys.exit(0 if same else 1)
    clips = args.clips or [args.media / c for c in CLIPS]
    result = {}
    for clip in clips:
        result[str(clip)] = record(clip, args.editor, args.target)
        print(f"{clip}: {len(result[str(clip)]['rgb'])} frames, {len(result[str(clip)]['audio'])} audio packets")
    write_atomic(args.out, json.dumps(result).encode())


if __name__ == "__main__":
    main()
