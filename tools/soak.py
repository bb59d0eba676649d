"""Soak test of `reenact live`: run it on a looped clip for a long time and watch memory and latency.

    python tools/soak.py --minutes 30 --out out/soak

A 640×480 clip (talking_man.mp4 from the shared media, else the astronaut) is played as a 30 fps camera
(FileCamera, looped) through a live run with the rig editor and `happy`. Every --every seconds it samples
the process's resident memory, the capture-to-output latency p50/p95 and the delivered fps over that
interval, and the dropped share; it writes soak.csv and soak.png to --out and prints the first and last
samples. Not part of CI.
"""
from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reenact import api, load_config
from reenact.config import MEDIA_DIR
from reenact.io.camera import FileCamera
from reenact.tasks.bench import make_bench_clip
from reenact.tasks.live.bench import Discard

FIELDS = ("t_s", "rss_mb", "p50_ms", "p95_ms", "fps", "dropped_percent")


def rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["t_s"] / 60 for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    axes[0].plot(t, [r["rss_mb"] for r in rows])
    axes[0].set_ylabel("RSS (MB)")
    axes[0].set_ylim(bottom=0)
    axes[1].plot(t, [r["p50_ms"] for r in rows], label="p50")
    axes[1].plot(t, [r["p95_ms"] for r in rows], label="p95")
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend()
    axes[2].plot(t, [r["fps"] for r in rows], label="fps")
    axes[2].plot(t, [r["dropped_percent"] for r in rows], label="dropped %")
    axes[2].set_ylabel("fps, dropped %")
    axes[2].set_xlabel("minutes")
    axes[2].legend()
    fig.suptitle("reenact live soak: rig + happy, 640x480 at 30 fps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--out", default="out/soak")
    ap.add_argument("--media", default=str(MEDIA_DIR))
    ap.add_argument("--editor", default="rig")
    ap.add_argument("--target-au", dest="target", default="happy")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = api.with_edit(load_config(), editor=args.editor, target=args.target or None)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="reenact-soak-") as tmp:
        clip = make_bench_clip(Path(tmp) / "camera.mp4", Path(args.media), 240, (640, 480))
        session = api.start_live(Discard(), cfg=cfg, camera_backend=FileCamera(clip))
        t0 = last_t = time.perf_counter()
        last = session.stats()
        try:
            while time.perf_counter() - t0 < 60 * args.minutes:
                time.sleep(args.every)
                now, st = time.perf_counter(), session.stats()
                lat = np.array([s.latency_s for s in session.runner.latency.stamps() if s.delivered >= last_t])
                captured = st.captured - last.captured
                row = {"t_s": round(now - t0, 1), "rss_mb": round(rss_mb(), 1),
                       "p50_ms": round(1e3 * float(np.percentile(lat, 50)), 2) if lat.size else 0.0,
                       "p95_ms": round(1e3 * float(np.percentile(lat, 95)), 2) if lat.size else 0.0,
                       "fps": round(lat.size / (now - last_t), 2),
                       "dropped_percent": round(100.0 * (st.dropped - last.dropped) / captured, 2) if captured else 0.0}
                rows.append(row)
                print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
                last, last_t = st, now
        finally:
            session.stop()
            stats = session.wait()
    with open(out / "soak.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    if rows:
        plot(rows, out / "soak.png")
        first, final = rows[0], rows[-1]
        print(f"RSS {first['rss_mb']} → {final['rss_mb']} MB; p95 {first['p95_ms']} → {final['p95_ms']} ms; "
              f"whole run {stats.latency.line()}, {stats.fps:.1f} fps, dropped {stats.dropped_percent:.1f} %")
    print(f"wrote {out / 'soak.csv'} and {out / 'soak.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
