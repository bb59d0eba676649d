"""reenact: real-time facial expression reenactment driven by facial action units."""
from .pipeline.types import AU_NAMES, AUVector, AlignedFace, Edit, Face, FaceSample, Frame, HeadPose, Packet, Warp
from .errors import ReenactError
from .config import Config, load_config

__all__ = [
    "AU_NAMES", "AUVector", "AlignedFace", "Edit", "Face", "FaceSample", "Frame", "HeadPose", "Packet", "Warp",
    "ReenactError", "Config", "load_config",
]
__version__ = "0.1.0"
