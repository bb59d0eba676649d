"""A small interpreter for tfjs *graph models* (model.json's node list) in numpy, float32, NHWC.

It runs the ops small classifiers converted from Keras use, with TensorFlow's semantics:
  _FusedConv2D (Conv2D + BiasAdd [+ Relu]; batch norm is already folded into the bias),
  DepthwiseConv2dNative, MaxPool, Pad (zeros), Reshape, AddV2, Relu, Mean, Softmax, Identity, Const and
  Placeholder.
An op outside this list raises IntegrityError naming it, so a different model fails loudly instead of
computing something else. "SAME" padding puts the odd pixel after (bottom/right), as TensorFlow does.
"""
from __future__ import annotations

import base64
from collections.abc import Callable

import cv2
import numpy as np

from ..errors import IntegrityError


def same_padding(size: int, stride: int, k: int = 3) -> tuple[int, int, int]:
    """TensorFlow 'same': output size and the padding before/after (the odd one goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def pad_input(x: np.ndarray, kh: int, kw: int, stride: int, padding: str = "SAME",
              value: float = 0.0) -> tuple[np.ndarray, int, int]:
    """x padded for a kh×kw window at `stride` ("SAME" or "VALID"), and the output height and width."""
    n, h, w, c = x.shape
    if padding == "VALID":
        return x, (h - kh) // stride + 1, (w - kw) // stride + 1
    ho, top, bottom = same_padding(h, stride, kh)
    wo, left, right = same_padding(w, stride, kw)
    if top == bottom == left == right == 0:
        return x, ho, wo
    xp = np.full((n, h + top + bottom, w + left + right, c), value, np.float32)
    xp[:, top:top + h, left:left + w] = x
    return xp, ho, wo


def _taps(xp: np.ndarray, kh: int, kw: int, stride: int, ho: int, wo: int):
    """(i, j, the window's tap (i, j) at every output position) for each of the kh×kw taps."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride]


def conv2d(x: np.ndarray, filters: np.ndarray, stride: int, padding: str = "SAME") -> np.ndarray:
    """Conv with filters HWIO, as one im2col matmul (no bias)."""
    kh, kw, c, c_out = filters.shape
    n = x.shape[0]
    if kh == kw == 1:       # 1×1 ("SAME" and "VALID" agree): the strided pixels themselves
        x = x[:, ::stride, ::stride]
        return (x.reshape(-1, c) @ filters.reshape(c, c_out)).reshape(*x.shape[:3], c_out)
    xp, ho, wo = pad_input(x, kh, kw, stride, padding)
    cols = np.empty((n, ho, wo, kh, kw, c), np.float32)
    for i, j, tap in _taps(xp, kh, kw, stride, ho, wo):
        cols[:, :, :, i, j] = tap
    return (cols.reshape(-1, kh * kw * c) @ filters.reshape(kh * kw * c, c_out)).reshape(n, ho, wo, c_out)


def depthwise_conv2d(x: np.ndarray, filters: np.ndarray, stride: int, padding: str = "SAME") -> np.ndarray:
    """One kh×kw filter per channel (filters (kh, kw, C, 1)), summed tap by tap."""
    kh, kw, c, mult = filters.shape
    if mult != 1:
        raise IntegrityError(f"depthwise channel multiplier {mult} is not supported")
    if stride == 1 and padding == "SAME" and kh % 2 and kw % 2:
        # OpenCV filters a whole plane at once (a correlation, as TensorFlow's conv is, zeros outside):
        # about 4× faster than tap-by-tap numpy on few channels, which leave numpy short inner loops
        planes = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        out = np.empty_like(planes)
        for n in range(planes.shape[0]):
            for k in range(c):
                cv2.filter2D(planes[n, k], -1, filters[:, :, k, 0], dst=out[n, k], borderType=cv2.BORDER_CONSTANT)
        return out.transpose(0, 2, 3, 1)
    xp, ho, wo = pad_input(x, kh, kw, stride, padding)
    acc = np.zeros((x.shape[0], ho, wo, c), np.float32)
    tmp = np.empty_like(acc)
    for i, j, tap in _taps(xp, kh, kw, stride, ho, wo):
        np.multiply(tap, filters[i, j, :, 0], out=tmp)
        acc += tmp
    return acc


def max_pool(x: np.ndarray, k: int, stride: int, padding: str = "SAME") -> np.ndarray:
    xp, ho, wo = pad_input(x, k, k, stride, padding, value=-np.inf)
    out = np.full((x.shape[0], ho, wo, x.shape[3]), -np.inf, np.float32)
    for _, _, tap in _taps(xp, k, k, stride, ho, wo):
        np.maximum(out, tap, out=out)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _attr(node: dict, key: str):
    """A node attribute as Python: strings base64-decoded, lists of ints as ints."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return None
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "list" in a:
        lst = a["list"]
        return [base64.b64decode(s).decode() for s in lst["s"]] if "s" in lst else [int(i) for i in lst.get("i", [])]
    if "b" in a:
        return bool(a["b"])
    return a


def _spatial_stride(node: dict) -> int:
    s = _attr(node, "strides") or [1, 1, 1, 1]
    dilated = (_attr(node, "dilations") or [1] * 4) != [1] * 4
    if _attr(node, "data_format") not in (None, "NHWC") or s[1] != s[2] or dilated:
        raise IntegrityError(f"{node['name']}: only NHWC, square strides and no dilation are supported")
    return s[1]


def _fused_conv(node: dict, x: np.ndarray, w: np.ndarray, *args: np.ndarray) -> np.ndarray:
    fused = _attr(node, "fused_ops") or []
    if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]) or len(args) != 1:
        raise IntegrityError(f"{node['name']}: fused ops {fused} are not supported")
    y = conv2d(x, w, _spatial_stride(node), _attr(node, "padding"))
    y += args[0]
    return np.maximum(y, 0, out=y) if fused[-1] == "Relu" else y


def _mean(node: dict, x: np.ndarray, axes: np.ndarray) -> np.ndarray:
    return x.mean(axis=tuple(int(a) for a in axes), keepdims=bool(_attr(node, "keep_dims")), dtype=np.float32)


def _max_pool(node: dict, x: np.ndarray) -> np.ndarray:
    k = _attr(node, "ksize")
    if k[1] != k[2]:
        raise IntegrityError(f"{node['name']}: only square pooling windows are supported")
    return max_pool(x, k[1], _spatial_stride(node), _attr(node, "padding"))


OPS: dict[str, Callable[..., np.ndarray]] = {
    "_FusedConv2D": _fused_conv,
    "DepthwiseConv2dNative": lambda node, x, w: depthwise_conv2d(x, w, _spatial_stride(node), _attr(node, "padding")),
    "MaxPool": _max_pool,
    "Pad": lambda node, x, pads: np.pad(x, [(int(a), int(b)) for a, b in pads]),
    "Reshape": lambda node, x, shape: x.reshape([int(v) for v in shape]),
    "AddV2": lambda node, a, b: a + b,
    "Relu": lambda node, x: np.maximum(x, 0),
    "Mean": _mean,
    "Softmax": lambda node, x: softmax(x),
    "Identity": lambda node, x: x,
}


def _inputs(node: dict) -> list[str]:
    """A node's data inputs by node name (control inputs '^x' dropped, output ports ':k' stripped)."""
    return [i.split(":")[0] for i in node.get("input", []) if not i.startswith("^")]


class Graph:
    """A graph model's nodes with their constant tensors; `run` evaluates the outputs asked for."""

    def __init__(self, nodes: list[dict], tensors: dict[str, np.ndarray]):
        self.nodes = {n["name"]: n for n in nodes}
        self.tensors = tensors
        unknown = sorted({n["op"] for n in nodes} - set(OPS) - {"Const", "Placeholder"})
        if unknown:
            raise IntegrityError(f"the graph uses ops this interpreter lacks: {', '.join(unknown)}")
        missing = [n["name"] for n in nodes if n["op"] == "Const" and n["name"] not in tensors]
        if missing:
            raise IntegrityError(f"constants missing from the weights: {', '.join(missing[:3])}")
        self.inputs = [n["name"] for n in nodes if n["op"] == "Placeholder"]
        if len(self.inputs) != 1:
            raise IntegrityError(f"expected one input, the graph has {len(self.inputs)}")
        # per output set: the ops in order with their inputs, and how many ops read each value
        self._plans: dict[tuple[str, ...], tuple[list[tuple[str, list[str]]], dict[str, int]]] = {}

    def schedule(self, outputs: tuple[str, ...]) -> list[str]:
        """The ops needed for `outputs`, each after its inputs."""
        order: list[str] = []
        seen = set(self.tensors) | set(self.inputs)

        def visit(name: str) -> None:
            if name not in seen:
                seen.add(name)
                for i in _inputs(self.nodes[name]):
                    visit(i)
                order.append(name)

        for o in outputs:
            visit(o)
        return order

    def run(self, x: np.ndarray, *outputs: str) -> list[np.ndarray]:
        """The values of the nodes `outputs` for the graph's single input `x` (float32). An activation is
        dropped once its last consumer has run, so memory is reused (the detector's first maps are 1.5 MB)."""
        if outputs not in self._plans:
            plan = [(name, _inputs(self.nodes[name])) for name in self.schedule(outputs)]
            counts: dict[str, int] = {}
            for _, inputs in plan:
                for i in inputs:
                    counts[i] = counts.get(i, 0) + 1
            self._plans[outputs] = (plan, counts)
        plan, counts = self._plans[outputs]
        uses = dict(counts)
        values: dict[str, np.ndarray] = {self.inputs[0]: np.asarray(x, np.float32)}
        for name, inputs in plan:
            node = self.nodes[name]
            args = [values[i] if i in values else self.tensors[i] for i in inputs]
            values[name] = OPS[node["op"]](node, *args)
            for i in inputs:
                uses[i] -= 1
                if uses[i] == 0 and i in values and i not in outputs:
                    del values[i]
        return [values[o] for o in outputs]
