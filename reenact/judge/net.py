"""FaceExpressionNet (face-api.js) in numpy: 112×112 RGB face → probabilities of 7 expressions.

Written from the network's description, float32, NHWC, TensorFlow "same" padding:

    x = (rgb − MEAN_RGB) / 255
    4 × denseBlock4 (32, 64, 128, 256 channels), each starting at stride 2:
        out1 = relu(conv0(x))          conv0: a plain 3×3 conv in the first block, separable after
        out2 = sep1(out1)
        out3 = sep2(relu(out1 + out2))
        out4 = sep3(relu(out1 + out2 + out3))
        y    = relu(out1 + out2 + out3 + out4)
    7×7 average pool (global at 7×7) → fc 256→7 → softmax

A separable conv is a depthwise 3×3 (one filter per channel) then a pointwise 1×1, plus bias. Only
out1 and the block output pass through relu; out2..out4 do not (they are summed first).
"""
from __future__ import annotations

import numpy as np

from .graph import conv2d, depthwise_conv2d, softmax

MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)
INPUT_SIZE = 112
N_BLOCKS = 4


def conv3x3(x: np.ndarray, filters: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """Plain 3×3 conv (filters HWIO), plus bias."""
    out = conv2d(x, filters, stride)
    out += bias
    return out


def separable3x3(x: np.ndarray, depthwise: np.ndarray, pointwise: np.ndarray, bias: np.ndarray,
                 stride: int) -> np.ndarray:
    """Depthwise 3×3 (filters (3, 3, C, 1)) then pointwise 1×1 (filters (1, 1, C, C_out)), plus bias."""
    out = conv2d(depthwise_conv2d(x, depthwise, stride), pointwise, 1)
    out += bias
    return out


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _sep(x: np.ndarray, w: dict[str, np.ndarray], name: str, stride: int) -> np.ndarray:
    return separable3x3(x, w[f"{name}/depthwise_filter"], w[f"{name}/pointwise_filter"], w[f"{name}/bias"],
                        stride)


def dense_block4(x: np.ndarray, w: dict[str, np.ndarray], block: int) -> np.ndarray:
    p = f"dense{block}"
    if block == 0:
        out1 = conv3x3(x, w[f"{p}/conv0/filters"], w[f"{p}/conv0/bias"], 2)
    else:
        out1 = _sep(x, w, f"{p}/conv0", 2)
    _relu(out1)
    out2 = _sep(out1, w, f"{p}/conv1", 1)
    s = out1 + out2
    out3 = _sep(np.maximum(s, 0), w, f"{p}/conv2", 1)
    s += out3
    out4 = _sep(np.maximum(s, 0), w, f"{p}/conv3", 1)
    s += out4
    return _relu(s)


def normalize(batch: np.ndarray) -> np.ndarray:
    """(N, 112, 112, 3) RGB in 0..255 → the network's input: (x − MEAN_RGB) / 255, float32."""
    return (np.asarray(batch, np.float32) - MEAN_RGB) / np.float32(255)


def logits(batch: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 112, 112, 3) RGB in 0..255 (float or uint8) → (N, 7) logits."""
    x = np.asarray(batch)
    if x.ndim != 4 or x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"expected (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) RGB, got {x.shape}")
    x = normalize(x)
    for b in range(N_BLOCKS):
        x = dense_block4(x, weights, b)
    pooled = x.mean(axis=(1, 2), dtype=np.float32)   # 7×7 avg pool, stride 2, 'valid' on a 7×7 map
    return pooled @ weights["fc/weights"] + weights["fc/bias"]


def forward(batch: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 112, 112, 3) RGB in 0..255 → (N, 7) probabilities in EXPRESSIONS order."""
    return softmax(logits(batch, weights))
