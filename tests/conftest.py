"""Shared fixtures. Real media comes from ../shared/media; a test that needs a file skips naming it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reenact.config import MEDIA_DIR

ROOT = Path(__file__).resolve().parents[1]
MEDIA = MEDIA_DIR


def media_path(name: str) -> Path:
    p = MEDIA / name
    if not p.exists():
        pytest.skip(f"shared media file {name} not found in {MEDIA}")
    return p


def load_rgb(name: str) -> np.ndarray:
    img = cv2.imread(str(media_path(name)), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture
def media():
    return media_path
