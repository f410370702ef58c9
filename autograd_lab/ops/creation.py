"""Tensor constructors with PyTorch's names and signatures: `al.zeros(2, 3)`, `al.randn(8, 1, 40, 63)`,
`al.arange(10)`, `al.from_numpy(a)`, ...

Sizes may be given as separate ints or one tuple. Floating results take the default
dtype (float32, see `al.set_default_dtype`); integer ones (`arange` of ints,
`randint`, `randperm`) are int64, as in PyTorch. Random ones draw from the library
generator, so `al.manual_seed(s)` makes them repeatable.

>>> import autograd_lab as al
>>> al.zeros(2, 3).shape, al.ones((2,)).dtype, al.arange(3).tolist()
((2, 3), dtype('float32'), [0, 1, 2])
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.node import Node, Tensor
from ..core.random import generator
from ..core.state import state

# dtype names as PyTorch spells them (al.float32, al.long, ...): plain numpy dtypes
float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
half, double = float16, float64
int32, int64, long, uint8 = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.int64), np.dtype(np.uint8)
bool_ = np.dtype(bool)


# names whose numpy meaning differs from PyTorch's ("float" is float64 to numpy, float32 to torch)
_TORCH_DTYPE_NAMES = {"float": float32, "double": float64, "half": float16, "long": int64,
                      "int": int32, "bool": np.dtype(bool)}


def as_dtype(dtype) -> np.dtype:
    """A numpy dtype from what a user may pass: np.float64, "float64", al.double, PyTorch's
    names ("float" is float32 as in torch, "double", "long") and torch.float64 itself."""
    if dtype is not None and not isinstance(dtype, (str, type, np.dtype)) \
            and type(dtype).__name__ == "dtype":          # torch.float64, without importing torch
        dtype = str(dtype)
    if isinstance(dtype, str):
        name = dtype[len("torch."):] if dtype.startswith("torch.") else dtype
        if name in _TORCH_DTYPE_NAMES:
            return _TORCH_DTYPE_NAMES[name]
        dtype = name
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r} (use e.g. al.float64, np.float32 or 'float64')") from None


def parse_to(what, args, kwargs):
    """The dtype asked for by .to(...) (None: keep it), in any of PyTorch's call forms:
    to(dtype), to(device), to(device, dtype), to(tensor), to(dtype=..., device=...).
    The only device is the CPU; `non_blocking`, `copy` and `memory_format` change nothing here."""
    dtype = kwargs.pop("dtype", None)
    devices = [kwargs.pop("device", None)]
    for key in ("non_blocking", "copy", "memory_format"):
        kwargs.pop(key, None)
    if kwargs:
        raise TypeError(f"{what}.to(): unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, (type, np.dtype)):
            dtype = a.dtype                       # to(other): other's dtype (and device: the CPU)
        elif type(a).__name__ == "device" or (isinstance(a, str) and a.split(":")[0] in _DEVICES):
            devices.append(a)
        elif a is not None:
            dtype = a
    for device in devices:
        if device is not None and str(device).split(":")[0] != "cpu":
            raise RuntimeError(f"{what}.to({str(device)!r}): autograd_lab runs on the CPU only "
                               f"(numpy arrays); drop the device or use 'cpu'")
    return None if dtype is None else as_dtype(dtype)


_DEVICES = ("cpu", "cuda", "mps", "xpu", "meta", "xla", "hip", "ipu", "vulkan", "mkldnn")


def _on_cpu(make):
    """Accept PyTorch's `device=` keyword on a constructor: the CPU, or a clear error."""
    @functools.wraps(make)
    def wrapper(*args, device=None, **kwargs):
        if device is not None:
            parse_to(make.__name__, (device,), {})
        return make(*args, **kwargs)
    return wrapper


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _make(data, dtype, requires_grad):
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def _float(dtype):
    return np.dtype(dtype) if dtype is not None else state.default_dtype


@_on_cpu
def zeros(*size, dtype=None, requires_grad=False):
    return _make(np.zeros(_size(size), _float(dtype)), None, requires_grad)


@_on_cpu
def ones(*size, dtype=None, requires_grad=False):
    return _make(np.ones(_size(size), _float(dtype)), None, requires_grad)


@_on_cpu
def full(size, fill_value, dtype=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (bool, int, np.integer)):
        dtype = np.int64 if not isinstance(fill_value, bool) else bool
    return _make(np.full(_size((size,)), fill_value, _float(dtype) if dtype is None else dtype), None,
                 requires_grad)


@_on_cpu
def empty(*size, dtype=None, requires_grad=False):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)    # zeros: nothing uninitialised


def _like(x):
    return x.data if isinstance(x, Node) else np.asarray(x)


@_on_cpu
def zeros_like(x, dtype=None, requires_grad=False):
    return _make(np.zeros_like(_like(x), dtype=dtype), None, requires_grad)


@_on_cpu
def ones_like(x, dtype=None, requires_grad=False):
    return _make(np.ones_like(_like(x), dtype=dtype), None, requires_grad)


@_on_cpu
def full_like(x, fill_value, dtype=None, requires_grad=False):
    return _make(np.full_like(_like(x), fill_value, dtype=dtype), None, requires_grad)


@_on_cpu
def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    """[start, end) by step: int64 when all are ints (PyTorch), else the default float dtype."""
    if end is None:
        start, end = 0, start
    ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    kind = np.int64 if ints and dtype is None else _float(dtype)
    return _make(np.arange(start, end, step, dtype=kind), None, requires_grad)


@_on_cpu
def linspace(start, end, steps, dtype=None, requires_grad=False):
    return _make(np.linspace(start, end, int(steps), dtype=_float(dtype)), None, requires_grad)


@_on_cpu
def eye(n, m=None, dtype=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=_float(dtype)), None, requires_grad)


@_on_cpu
def randn(*size, dtype=None, requires_grad=False):
    """Standard normal samples from the library generator (al.manual_seed)."""
    return _make(generator().standard_normal(_size(size)).astype(_float(dtype)), None, requires_grad)


@_on_cpu
def rand(*size, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) from the library generator."""
    return _make(generator().random(_size(size)).astype(_float(dtype)), None, requires_grad)


@_on_cpu
def randint(low, high=None, size=None, dtype=None):
    """Integers in [low, high) (or [0, low) with two arguments, as randint(high, size))."""
    if size is None:
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint: call as randint(high, size) or randint(low, high, size)")
    return Tensor(generator().integers(low, high, _size((size,)), dtype=np.int64 if dtype is None else dtype))


@_on_cpu
def randperm(n, dtype=None):
    """A random permutation of 0..n-1 (int64)."""
    return Tensor(generator().permutation(int(n)).astype(np.int64 if dtype is None else dtype))


@_on_cpu
def randn_like(x, dtype=None, requires_grad=False):
    data = _like(x)
    return randn(*data.shape, dtype=dtype or (data.dtype if data.dtype.kind == "f" else None),
                 requires_grad=requires_grad)


@_on_cpu
def rand_like(x, dtype=None, requires_grad=False):
    data = _like(x)
    return rand(*data.shape, dtype=dtype or (data.dtype if data.dtype.kind == "f" else None),
                requires_grad=requires_grad)


def from_numpy(array):
    """A tensor sharing the array's memory and keeping its dtype (as torch.from_numpy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected an ndarray, got {type(array).__name__}")
    return Tensor(array)


@_on_cpu
def as_tensor(data, dtype=None):
    """A tensor of data without a copy where possible (ndarrays keep their dtype)."""
    if isinstance(data, Tensor) and dtype is None:
        return data
    return Tensor(np.asarray(data.data if isinstance(data, Node) else data), dtype=dtype)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def numel(x) -> int:
    return int(np.size(_like(x)))


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    return bool(np.allclose(_like(a), _like(b), rtol=rtol, atol=atol, equal_nan=equal_nan))
