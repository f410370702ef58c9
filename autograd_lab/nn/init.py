"""Weight initialisation, drawn from the library generator (see al.manual_seed).

Each function returns a new float32 array (default dtype) of the given shape; the
PyTorch-named forms ending in `_` (`xavier_uniform_(layer.weight)`) fill a tensor in place;
fan_in is the product of all but the first dimension (PyTorch's convention).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.random import generator
from ..core.state import state


def _fans(shape):
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _cast(a):
    return a.astype(state.default_dtype)


def uniform(shape, low=-1.0, high=1.0):
    return _cast(generator().uniform(low, high, size=shape))


def normal(shape, mean=0.0, std=1.0):
    return _cast(generator().normal(mean, std, size=shape))


def zeros(shape):
    return np.zeros(shape, state.default_dtype)


def xavier_uniform(shape, gain=1.0):
    """Glorot: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)); suits tanh and sigmoid."""
    fan_in, fan_out = _fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, -a, a)


def xavier_normal(shape, gain=1.0):
    fan_in, fan_out = _fans(shape)
    return normal(shape, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform(shape, gain=math.sqrt(2.0)):
    """He: U(-a, a), a = gain * sqrt(3 / fan_in); gain sqrt(2) suits ReLU."""
    fan_in, _ = _fans(shape)
    a = gain * math.sqrt(3.0 / fan_in)
    return uniform(shape, -a, a)


def kaiming_normal(shape, gain=math.sqrt(2.0)):
    fan_in, _ = _fans(shape)
    return normal(shape, 0.0, gain / math.sqrt(fan_in))


# ---- PyTorch's in-place forms: fill an existing tensor (a parameter), return it --------------
# They write into `.data` directly, as torch's run under no_grad: initialisation is not recorded.
def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity ('relu', 'leaky_relu', 'tanh', ...)."""
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def _fill(tensor, values):
    data = tensor.data
    data[...] = np.asarray(values, dtype=data.dtype)
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, generator().normal(mean, std, size=tensor.shape))


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = _fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor.shape)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
