"""The NVIDIA GPU through the CUDA driver library (libcuda, installed with the driver), via ctypes.

Used to tell whether a GPU is here (and which: the TensorRT plan key) without importing torch, and to
give TensorRT device memory and a stream without torch or cuda-python. Device 0 only.
"""
from __future__ import annotations

import ctypes
import functools
import os
from ctypes import POINTER, c_char_p, c_int, c_size_t, c_uint, c_uint64, c_void_p
from dataclasses import dataclass

import numpy as np

_LIB = "nvcuda.dll" if os.name == "nt" else "libcuda.so.1"
_CC_MAJOR, _CC_MINOR = 75, 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*

_SIGNATURES = {
    "cuInit": (c_uint,),
    "cuDeviceGetCount": (POINTER(c_int),),
    "cuDeviceGet": (POINTER(c_int), c_int),
    "cuDeviceGetName": (c_char_p, c_int, c_int),
    "cuDeviceGetAttribute": (POINTER(c_int), c_int, c_int),
    "cuDevicePrimaryCtxRetain": (POINTER(c_void_p), c_int),
    "cuDevicePrimaryCtxRelease_v2": (c_int,),
    "cuCtxSetCurrent": (c_void_p,),
    "cuStreamCreate": (POINTER(c_void_p), c_uint),
    "cuStreamDestroy_v2": (c_void_p,),
    "cuStreamSynchronize": (c_void_p,),
    "cuMemAlloc_v2": (POINTER(c_uint64), c_size_t),
    "cuMemFree_v2": (c_uint64,),
    "cuMemcpyHtoDAsync_v2": (c_uint64, c_void_p, c_size_t, c_void_p),
    "cuMemcpyDtoHAsync_v2": (c_void_p, c_uint64, c_size_t, c_void_p),
}


@dataclass(frozen=True)
class GpuInfo:
    name: str
    capability: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.name} (compute {self.capability[0]}.{self.capability[1]})"


class _Driver:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL(_LIB)  # OSError when there is no NVIDIA driver
        for fn, args in _SIGNATURES.items():
            getattr(self.lib, fn).argtypes = args
        self("cuInit", 0)

    def __call__(self, fn: str, *args) -> None:
        rc = getattr(self.lib, fn)(*args)
        if rc != 0:
            raise RuntimeError(f"CUDA driver call {fn} failed with CUresult {rc}")


@functools.cache
def _driver() -> _Driver:
    return _Driver()


@functools.cache
def probe_gpu() -> tuple[GpuInfo | None, str]:
    """(device 0, "what was found") or (None, "why there is no usable GPU")."""
    try:
        drv = _driver()
        count, dev, major, minor = c_int(), c_int(), c_int(), c_int()
        drv("cuDeviceGetCount", ctypes.byref(count))
        if count.value == 0:
            return None, "no CUDA GPU (the NVIDIA driver sees no device)"
        drv("cuDeviceGet", ctypes.byref(dev), 0)
        name = ctypes.create_string_buffer(256)
        drv("cuDeviceGetName", name, len(name), dev)
        drv("cuDeviceGetAttribute", ctypes.byref(major), _CC_MAJOR, dev)
        drv("cuDeviceGetAttribute", ctypes.byref(minor), _CC_MINOR, dev)
    except OSError:
        return None, f"no CUDA GPU ({_LIB} not found: no NVIDIA driver)"
    except RuntimeError as e:
        return None, f"no CUDA GPU ({e})"
    info = GpuInfo(name.value.decode(errors="replace"), (major.value, minor.value))
    return info, str(info)


class CudaStream:
    """A stream in device 0's primary context (the one the CUDA runtime, hence TensorRT, uses), with
    device buffers that grow on demand and host↔device copies."""

    def __init__(self) -> None:
        self._drv = _driver()
        self._dev, self._ctx, self._stream = c_int(), c_void_p(), c_void_p()
        self._drv("cuDeviceGet", ctypes.byref(self._dev), 0)
        self._drv("cuDevicePrimaryCtxRetain", ctypes.byref(self._ctx), self._dev)
        self.make_current()
        self._drv("cuStreamCreate", ctypes.byref(self._stream), 0)
        self._buffers: dict[str, tuple[int, int]] = {}  # name → (pointer, bytes)

    @property
    def handle(self) -> int:
        return self._stream.value or 0

    def make_current(self) -> None:
        """Contexts are per thread; the live runner calls engines from worker threads."""
        self._drv("cuCtxSetCurrent", self._ctx)

    def buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                self._drv("cuMemFree_v2", ptr)
            p = c_uint64()
            self._drv("cuMemAlloc_v2", ctypes.byref(p), nbytes)
            ptr, size = p.value, nbytes
            self._buffers[name] = (ptr, size)
        return ptr

    def upload(self, ptr: int, host: np.ndarray) -> None:
        self._drv("cuMemcpyHtoDAsync_v2", ptr, host.ctypes.data, host.nbytes, self._stream)

    def download(self, host: np.ndarray, ptr: int) -> None:
        self._drv("cuMemcpyDtoHAsync_v2", host.ctypes.data, ptr, host.nbytes, self._stream)

    def synchronize(self) -> None:
        self._drv("cuStreamSynchronize", self._stream)

    def close(self) -> None:
        self.make_current()
        for ptr, _ in self._buffers.values():
            self._drv("cuMemFree_v2", ptr)
        self._buffers.clear()
        self._drv("cuStreamDestroy_v2", self._stream)
        self._drv("cuDevicePrimaryCtxRelease_v2", self._dev)
