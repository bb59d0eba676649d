"""`reenact doctor`: what this machine has, and one line per missing piece saying how to get it."""
from __future__ import annotations

import importlib.util
import platform
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""  # how to get it, when missing


def _mediapipe() -> Check:
    if importlib.util.find_spec("mediapipe") is None:
        return Check("mediapipe", False, "not installed", "pip install mediapipe==0.10.21")
    import mediapipe

    root = Path(mediapipe.__file__).parent / "modules"
    need = ["face_landmark/face_landmark_with_attention.tflite", "face_detection/face_detection_short_range.tflite",
            "face_detection/face_detection_full_range_sparse.tflite"]
    missing = [n for n in need if not (root / n).exists()]
    if missing:
        return Check("mediapipe models", False, f"missing {', '.join(missing)}",
                     "reinstall mediapipe==0.10.21 (newer releases no longer ship FaceMesh models)")
    return Check("mediapipe models", True, f"{mediapipe.__version__}, FaceMesh and detector models present")


def _onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except ImportError:
        return Check("onnxruntime", False, "not installed", "pip install onnxruntime")
    return Check("onnxruntime", True, f"{ort.__version__}, providers: {', '.join(ort.get_available_providers())}")


def _gpu() -> list[Check]:
    out = []
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is None:
        out.append(Check("torch", False, "not installed (only needed to export and train)",
                         "pip install 'reenact[torch]'"))
    else:
        import torch

        cuda = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
        out.append(Check("torch", True, f"{torch.__version__}, {name}"))
    if importlib.util.find_spec("tensorrt") is None:
        out.append(Check("tensorrt", False, "not installed; the TensorRT backend is optional and has not been "
                         "executed in this project's CI",
                         "on an NVIDIA machine: pip install tensorrt (from NVIDIA's index)"))
    else:
        import tensorrt

        out.append(Check("tensorrt", True, f"{tensorrt.__version__} (backend not executed in this project's CI)"))
    return out


def _virtual_camera() -> Check:
    try:
        from ..io.virtual_camera import probe_virtual_camera
    except ImportError as e:
        return Check("virtual camera", False, str(e), "pip install pyvirtualcam")
    ok, detail, fix = probe_virtual_camera()
    return Check("virtual camera", ok, detail, fix)


def _cameras(max_index: int = 4) -> Check:
    from ..io.camera import list_cameras

    found = list_cameras(max_index)
    if found:
        return Check("cameras", True, "found index " + ", ".join(map(str, found)))
    return Check("cameras", False, "no camera device found",
                 "plug in a webcam; on Linux check /dev/video* and that your user is in the 'video' group")


def run_checks() -> list[Check]:
    checks = [Check("python", sys.version_info >= (3, 10), f"{platform.python_version()} on {platform.platform()}",
                    "use Python 3.10-3.12")]
    checks += [_mediapipe(), _onnxruntime(), *_gpu(), _virtual_camera(), _cameras()]
    return checks
