"""Functions that gradient rules are written with.

Each works on three kinds of data and picks the matching implementation:

  * a graph node (Tensor/Value): the engine's own recorded op, so a backward
    pass run with `create_graph=True` is itself a graph;
  * a numpy array: numpy, for the plain (unrecorded) backward pass;
  * a Python float: `math`, for al.Value's plain backward pass.

Operators (`g * y`, `1 - out * out`) need no helper: nodes, arrays and floats
all support them.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.node import Node
from ..core.op import OPS
from ..kernels import elementwise as KE
from ..kernels import matmul as KM
from ..kernels import softmax as KS


def _op(name):
    return OPS[name]


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


# ---- shape plumbing --------------------------------------------------------
def sum_to(g, shape):
    """Sum `g` down to `shape`: undoes numpy broadcasting (the one central place)."""
    shape = tuple(shape)
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = sum(g, axes, keepdims=True)
    return g if tuple(g.shape) == shape else reshape(g, shape)


# Array methods rather than np.sum / np.reshape / np.transpose where the data is an
# ndarray: the functions' dispatch layer costs ~1 µs a call, and a train step's
# backward pass makes dozens of these calls.
def sum(x, axis=None, keepdims=False):   # noqa: A001 - mirrors numpy's name
    if x.__class__ is np.ndarray:
        return x.sum(axis=axis, keepdims=keepdims)
    if isinstance(x, Node):
        return _op("sum")(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def broadcast_to(x, shape):
    if isinstance(x, Node):
        return _op("broadcast_to")(x, shape=tuple(shape))
    return np.broadcast_to(x, shape)


def reshape(x, shape):
    if x.__class__ is np.ndarray:
        return x.reshape(shape)
    if isinstance(x, Node):
        return _op("reshape")(x, shape=tuple(shape))
    return np.reshape(x, shape)


def transpose(x, axes=None):
    if x.__class__ is np.ndarray:
        return x.transpose(axes)
    if isinstance(x, Node):
        return _op("transpose")(x, axes=None if axes is None else tuple(axes))
    return np.transpose(x, axes)


def swap_last(x):
    """Swap the last two axes (the matrix transpose of a batch of matrices)."""
    if x.__class__ is np.ndarray:
        return x.swapaxes(-1, -2)
    n = len(x.shape)
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def matmul(a, b):
    if a.__class__ is np.ndarray and b.__class__ is np.ndarray:
        return KM.matmul(a, b)
    if isinstance(a, Node) or isinstance(b, Node):
        return _op("matmul")(a, b)
    return KM.matmul(a, b)


def getitem(x, index):
    if isinstance(x, Node):
        return _op("getitem")(x, index=index)
    return x[index]


def scatter_add(g, index, shape):
    """zeros(shape) with `g` added at `index` (repeated indices add up)."""
    if isinstance(g, Node):
        return _op("scatter_add")(g, index=index, shape=tuple(shape))
    return scatter_add_forward(g, index=index, shape=tuple(shape))


def scatter_add_forward(g, index, shape):
    if len(shape) == 1 and isinstance(index, np.ndarray) and index.dtype.kind in "iu" \
            and index.ndim == 1:
        from ..kernels.pool import scatter_add_flat   # compiled loop: np.add.at is slow
        return scatter_add_flat(np.asarray(g), index, shape[0])
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic_index(index):
        out[index] = g            # distinct positions: plain assignment is exact
    else:
        np.add.at(out, index, g)  # advanced index: repeated positions accumulate
    return out


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


def astype(x, dtype):
    if isinstance(x, Node):
        return x if x.dtype == dtype else _op("astype")(x, dtype=np.dtype(dtype))
    if isinstance(x, float):
        return x
    return x.astype(dtype, copy=False)


def dtype_of(x):
    return x.dtype if hasattr(x, "dtype") else np.dtype(np.float64)


# ---- elementwise -----------------------------------------------------------
def where(cond, a, b):
    if isinstance(cond, Node) or isinstance(a, Node) or isinstance(b, Node):
        return _op("where")(cond, a, b)
    if isinstance(cond, (bool, np.bool_)) and not isinstance(a, np.ndarray) \
            and not isinstance(b, np.ndarray):
        return a if cond else b
    return np.where(cond, a, b)


def log_softmax(x, axis):
    if isinstance(x, Node):
        return _op("log_softmax")(x, axis=axis)
    return _op("log_softmax").forward(x, axis=axis)


def exp(x):
    if isinstance(x, Node):
        return _op("exp")(x)
    if isinstance(x, float):
        return math.exp(x)
    return np.exp(x)


def log(x):
    if isinstance(x, Node):
        return _op("log")(x)
    if isinstance(x, float):
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    return np.log(x)


def sign(x):
    """-1, 0 or +1 in x's dtype; not differentiable (a constant in the graph)."""
    if isinstance(x, Node):
        return _op("sign")(x)
    if isinstance(x, float):
        return float((x > 0) - (x < 0))
    return np.sign(x)


def relu_backward(g, x):
    """g where x > 0, else 0."""
    if isinstance(g, Node) or isinstance(x, Node):
        return g * (x > 0)
    if isinstance(x, float):
        return g if x > 0 else 0.0
    return KE.relu_backward(g, x)


def cross_entropy_grad(g, log_probs, q):
    """g * (softmax - q) / batch, softmax = exp(log_probs): the cross-entropy's rule for its logits."""
    if isinstance(g, Node) or isinstance(log_probs, Node):
        return g * (exp(log_probs) - q) / log_probs.shape[0]
    return KS.cross_entropy_grad(g, log_probs, q)    # one compiled pass instead of four


def equal(a, b):
    if isinstance(a, Node) or isinstance(b, Node):
        return _op("equal")(a, b)
    return a == b


# ---- masks: derivatives of step functions are zero, so masks are constants ----
def _raw(x):
    return x.data if isinstance(x, Node) else x


def inside(x, low, high):
    """1 where low <= x <= high (None: unbounded), else 0; a constant."""
    raw = _raw(x)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    if isinstance(raw, float):
        return 1.0 if low <= raw <= high else 0.0
    return (raw >= low) & (raw <= high)


def share_of_extremum(g, mine, other, wins):
    """g where `mine` wins the elementwise max/min, g/2 on ties, 0 where it loses."""
    m, o = _raw(mine), _raw(other)
    if isinstance(m, float) and isinstance(o, float):
        return g * (1.0 if wins(m, o) else 0.5 if m == o else 0.0)
    share = np.where(wins(m, o), 1.0, np.where(m == o, 0.5, 0.0))
    return g * share.astype(dtype_of(_raw(g)), copy=False)
