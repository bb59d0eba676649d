"""Native libraries' log lines kept off the user's terminal.

MediaPipe (absl, TFLite) and OpenCV's camera probes log from C++ straight to file descriptor 2, where no
Python setting or environment variable reaches. `native_logs_quieted()` points descriptor 2 at a
temporary file around the calls that print them (model start-up, camera probing); afterwards it drops
the lines known to be noise and passes every other line on, so a real error still reaches the user.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from typing import Iterator

# what these libraries print at start-up and on a missing camera; errors and fatal lines are kept
NOISE = re.compile(
    r"^(INFO: Created TensorFlow Lite"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"                                      # absl/glog info, warning
    r"|\[ ?(WARN|INFO):\d+@[\d.]+\]"                                            # OpenCV warning, info
    r"|libpng (warning|error): "           # an odd iCCP profile; a failed decode is reported by the caller
    r"|\[ERROR:\d+@[\d.]+\] global obsensor\S* getStreamChannelGroup Camera index out of range)"
)

_lock = threading.RLock()  # one redirection at a time; a nested call runs inside the outer one
_depth = 0


@contextlib.contextmanager
def native_logs_quieted() -> Iterator[None]:
    global _depth
    with _lock:
        if _depth:
            _depth += 1
            try:
                yield
            finally:
                _depth -= 1
            return
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2 to quiet
            yield
            return
        sys.stderr.flush()
        with tempfile.TemporaryFile() as log:
            os.dup2(log.fileno(), 2)
            _depth = 1
            try:
                yield
            finally:
                _depth = 0
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                log.seek(0)
                kept = [line for line in log.read().decode("utf-8", "replace").splitlines()
                        if line.strip() and not NOISE.match(line)]
                if kept:
                    sys.stderr.write("\n".join(kept) + "\n")
                    sys.stderr.flush()
