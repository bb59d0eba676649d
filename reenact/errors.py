"""One error family with one-line messages; each also inherits the matching built-in."""
from __future__ import annotations


class ReenactError(Exception):
    """Base: `str(err)` is the one line the CLI prints."""

    def __init__(self, message: str, filename: str | None = None):
        super().__init__(f"{filename}: {message}" if filename else message)
        self.filename = filename

    def __str__(self) -> str:
        # OSError subclasses would otherwise print "[Errno None] None: <file>"
        return str(self.args[0]) if self.args else ""


class InputNotFound(ReenactError, FileNotFoundError):
    pass


class CorruptMedia(ReenactError, ValueError):
    pass


class UnsupportedInput(ReenactError, ValueError):
    pass


class OutputNotWritable(ReenactError, PermissionError):
    pass


class CameraUnavailable(ReenactError, OSError):
    pass


CAMERA_STOPPED = "camera stopped delivering frames"  # CameraUnavailable's message when reads time out


class VirtualCameraUnavailable(ReenactError, OSError):
    pass


class BackendUnavailable(ReenactError, ImportError):
    pass


class ConfigError(ReenactError, ValueError):
    """A bad setting; `key` (dotted, e.g. 'video.crf') and `detail` (the line without it) when one value is at fault."""

    def __init__(self, message: str, filename: str | None = None, *, key: str | None = None,
                 detail: str | None = None):
        super().__init__(message, filename)
        self.key, self.detail = key, detail


class NoFace(ReenactError, LookupError):
    pass


class IntegrityError(ReenactError, ValueError):
    """A model file does not match the hash its manifest records."""


class PipelineError(ReenactError, RuntimeError):
    """Stages wired wrongly: raised when the pipeline is assembled, not on frame 1,000."""
