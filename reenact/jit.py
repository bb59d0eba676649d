"""Compiled per-pixel loops (numba): the few hot loops that numpy can only vectorise by building arrays as
large as the work itself (a scanline rasteriser's rows and pixels), and chains of numpy steps on small
arrays that cost more in calls than in arithmetic (each written in numpy's order and precision).

Machine code is cached on disk ($NUMBA_CACHE_DIR if set, else <user cache>/numba, where numba falls back
to its own choices when that cannot be written), so a process compiles only what it finds no cache for;
with no cache anywhere the functions still compile, on first use (about 2 s for the rasteriser). Editors
warm their kernels at load, so a video's first frame does not pay for it.
"""
from __future__ import annotations

import os

from .files import user_cache_dir

# numba reads its cache folder from the environment once, when it is first imported
os.environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))

import numba  # noqa: E402


def compiled(fn):
    """numba.njit(fn) with its machine code cached on disk where that can be written."""
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:   # numba found nowhere to write its cache
        return numba.njit(nogil=True)(fn)
