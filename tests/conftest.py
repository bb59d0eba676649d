"""Shared fixtures. Real media comes from ../shared/media ($REENACT_MEDIA): a test that needs a missing
file skips naming it, except in CI (CI=true), where missing media is a failure rather than a skip."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact.config import MEDIA_DIR

ROOT = Path(__file__).resolve().parents[1]
MEDIA = MEDIA_DIR
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionstart(session) -> None:
    if IN_CI and not MEDIA.is_dir():
        pytest.exit(f"CI: the shared media folder {MEDIA} is missing (set REENACT_MEDIA); "
                    "without it most tests would only skip", returncode=1)


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory):
    """Run-time files (CPU measurements, plans, tracked frames) go to a private cache, not the user's."""
    patch = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    patch.setenv("REENACT_CACHE_DIR", str(cache))
    patch.delenv("REENACT_ENGINES_DIR", raising=False)
    yield cache
    patch.undo()


def media_path(name: str) -> Path:
    p = MEDIA / name
    if not p.exists():
        message = f"shared media file {name} not found in {MEDIA}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return p


def load_rgb(name: str) -> np.ndarray:
    img = cv2.imread(str(media_path(name)), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture
def media():
    return media_path
