"""Shape arithmetic of the engine: axes, keepdims shapes, and undoing broadcasting.

`sum_to` is the one place where broadcasting is undone: a gradient rule may
return a gradient of the broadcast shape, and the engine sums it back to the
input's shape. It uses only the `.sum` and `.reshape` methods, which numpy
arrays and graph nodes both have, so it needs nothing from `ops/`.
"""
from __future__ import annotations

import numpy as np


def normalize_axis(axis, ndim) -> tuple:
    """`axis` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def keepdims_shape(shape, axis) -> tuple:
    """The shape a reduction over `axis` has with keepdims=True."""
    axes = normalize_axis(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def sum_to(g, shape):
    """Sum `g` down to `shape`: undoes numpy broadcasting (the one central place).

    >>> import numpy as np
    >>> sum_to(np.ones((2, 3)), (3,)).tolist()
    [2.0, 2.0, 2.0]
    """
    shape = tuple(shape)
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g if tuple(g.shape) == shape else g.reshape(shape)
