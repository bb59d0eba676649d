"""tools/bench_rig.py runs end to end on the shared stills (it calls the editor's inner steps, so an API
change there breaks it without any other test noticing)."""
import subprocess
import sys
from pathlib import Path

from conftest import MEDIA, media_path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_rig_times_every_preset_and_splits_the_median():
    faces = ("astronaut.png", "portrait_man.jpg", "jesper.jpg")
    for name in faces:
        media_path(name)
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_rig.py"), "--media", str(MEDIA), "--repeat", "1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = [line for line in run.stdout.splitlines() if line.split()[:1] and line.split()[0] in faces]
    assert len(rows) == 21  # 3 faces × 7 presets (neutral is not timed)
    split = next(line for line in run.stdout.splitlines() if line.startswith("split of the median"))
    for stage in ("mesh", "flow", "appearance", "fills", "warp+blend"):
        assert stage in split
