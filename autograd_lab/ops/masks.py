"""Masks: the few helpers of gradient rules that are not ops.

A mask (where x lies inside a range, which side wins a maximum) is the
derivative of a step function: zero almost everywhere, so it is a constant to
differentiation. It is computed on raw data and multiplies the gradient; on
graph nodes that product is a recorded `mul` with a constant, so second
derivatives stay right. Everything else a rule needs is an op, called directly.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.node import Node


def raw(x):
    """The raw data of a node; anything else as it is."""
    return x.data if isinstance(x, Node) else x


def dtype_of(x):
    """The dtype of an array or node; float64 for a Python float."""
    return x.dtype if hasattr(x, "dtype") else np.dtype(np.float64)


def inside(x, low, high):
    """1 where low <= x <= high (None: unbounded), else 0; a constant."""
    data = raw(x)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    if isinstance(data, float):
        return 1.0 if low <= data <= high else 0.0
    return (data >= low) & (data <= high)


def share_of_extremum(g, mine, other, wins):
    """g where `mine` wins the elementwise max/min, g/2 on ties, 0 where it loses."""
    m, o = raw(mine), raw(other)
    if isinstance(m, float) and isinstance(o, float):
        return g * (1.0 if wins(m, o) else 0.5 if m == o else 0.0)
    share = np.where(wins(m, o), 1.0, np.where(m == o, 0.5, 0.0))
    return g * share.astype(dtype_of(raw(g)), copy=False)


def positive(x):
    """1 where x > 0, else 0 (relu's derivative, 0 at 0 as in PyTorch); a constant."""
    data = raw(x)
    if isinstance(data, float):
        return 1.0 if data > 0 else 0.0
    return data > 0


def is_zero(x):
    """1 where x == 0, else 0, in x's dtype; a constant (pow's rules step around 0 ** y)."""
    data = raw(x)
    if isinstance(data, float):
        return 1.0 if data == 0 else 0.0
    return (data == 0).astype(dtype_of(data), copy=False)
