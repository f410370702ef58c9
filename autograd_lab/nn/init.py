"""Weight initialisation, drawn from the library generator (see al.manual_seed).

Each function returns a new float32 array (default dtype) of the given shape;
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
