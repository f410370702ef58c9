"""Test-input samplers for the op table: each returns `sample(gen) -> (inputs, params)`.

`gen` is a source of random shapes and arrays (tests/sampling.py drives it with
hypothesis). Samplers keep inputs away from an op's kinks (relu at 0, |x| at 0)
and outside its singular points (log of x <= 0), where finite differences lie.
"""
from __future__ import annotations

import numpy as np


def unary(low=-2.0, high=2.0, avoid=(), params=None):
    def sample(gen):
        return (gen.array(gen.shape(), low, high, avoid=avoid),), dict(params or {})
    return sample


def binary(low=-2.0, high=2.0, low2=None, high2=None, avoid2=()):
    def sample(gen):
        s1, s2 = gen.broadcastable(2)
        x = gen.array(s1, low, high)
        y = gen.array(s2, low if low2 is None else low2, high if high2 is None else high2,
                      avoid=avoid2)
        return (x, y), {}
    return sample


def where_sample(gen):
    s0, s1, s2 = gen.broadcastable(3)
    return (gen.array(s0, -1, 1) > 0, gen.array(s1), gen.array(s2)), {}


def reduction(gen):
    shape = gen.shape(min_dims=1)
    return (gen.array(shape),), {"axis": gen.axis(len(shape)), "keepdims": gen.boolean()}


def reshape_sample(gen):
    shape = gen.shape()
    size = int(np.prod(shape, dtype=int))
    target = gen.choice([(size,), tuple(reversed(shape)), (1,) + tuple(shape), (size, 1)])
    return (gen.array(shape),), {"shape": target}


def transpose_sample(gen):
    shape = gen.shape()
    axes = gen.choice([None, tuple(gen.permutation(len(shape)))])
    return (gen.array(shape),), {"axes": axes}


def broadcast_to_sample(gen):
    s1, s2 = gen.broadcastable(2)
    return (gen.array(s1),), {"shape": tuple(np.broadcast_shapes(s1, s2))}


def index_for(gen, shape):
    """A basic or advanced index into an array of `shape` (ndim >= 1)."""
    n = shape[0]
    kind = gen.choice(["int", "slice", "array", "tuple", "mask"])
    if kind == "int":
        return gen.integers(-n, n - 1)
    if kind == "slice":
        start = gen.integers(0, n - 1)
        return slice(start, n, gen.integers(1, 2))
    if kind == "array":   # repeats on purpose: their gradients must add up
        return gen.int_array((gen.integers(1, 5),), 0, n - 1)
    if kind == "mask":
        return gen.array(shape, -1, 1) > 0
    return tuple(slice(None, None, -1) if i % 2 else slice(0, None) for i in range(len(shape)))


def getitem_sample(gen):
    shape = gen.shape(min_dims=1)
    return (gen.array(shape),), {"index": index_for(gen, shape)}


def scatter_add_sample(gen):
    shape = gen.shape(min_dims=1)
    index = index_for(gen, shape)
    part = np.zeros(shape)[index].shape
    return (gen.array(part),), {"index": index, "shape": tuple(shape)}


def index_put_sample(gen):
    """index_put needs distinct positions (a repeated one is written once, by whichever wins);
    value is either the indexed part's full shape or a broadcast row/number."""
    shape = gen.shape(min_dims=1)
    n = shape[0]
    kind = gen.choice(["int", "slice", "array", "mask"])
    if kind == "int":
        index = gen.integers(-n, n - 1)
    elif kind == "slice":
        index = slice(gen.integers(0, n - 1), n, gen.integers(1, 2))
    elif kind == "array":
        index = np.asarray(gen.permutation(n))[:gen.integers(1, n)]
    else:
        index = gen.array(shape, -1, 1) > 0
    part = np.zeros(shape)[index].shape
    value_shape = gen.choice([part, part[1:], ()])
    return (gen.array(shape), gen.array(value_shape)), {"index": index}


def concatenate_sample(gen):
    shape = list(gen.shape(min_dims=1))
    axis = gen.integers(0, len(shape) - 1)
    arrays = []
    for _ in range(gen.integers(1, 3)):
        shape[axis] = gen.integers(1, 3)
        arrays.append(gen.array(tuple(shape)))
    return tuple(arrays), {"axis": axis}


def matmul_sample(gen):
    batch_a, batch_b = gen.broadcastable(2, max_dims=2)
    m, k, n = gen.integers(1, 4), gen.integers(1, 4), gen.integers(1, 4)
    return (gen.array(tuple(batch_a) + (m, k)), gen.array(tuple(batch_b) + (k, n))), {}


def linear_sample(gen):
    batch = tuple(gen.integers(1, 3) for _ in range(gen.integers(0, 3)))   # x: (in,), (n, in) or (m, n, in)
    n_in, n_out = gen.integers(1, 4), gen.integers(1, 4)
    x = gen.array(batch + (n_in,))
    w = gen.array((n_out, n_in))
    return ((x, w, gen.array((n_out,))) if gen.boolean() else (x, w)), {}


def log_softmax_sample(gen):
    shape = gen.shape(min_dims=1)
    # large logits too: the forward subtracts the maximum, so nothing overflows
    return (gen.array(shape, -2.0, 2.0) * gen.choice([1.0, 300.0]),), {"axis": gen.integers(-len(shape), len(shape) - 1)}


def cross_entropy_sample(gen):
    rows, classes = gen.integers(1, 4), gen.integers(1, 5)
    logits = gen.array((rows, classes), -2.0, 2.0) * gen.choice([1.0, 300.0])
    q = gen.array((rows, classes), 0.1, 1.0)       # soft targets: positive rows summing to 1
    return (logits, q / q.sum(axis=1, keepdims=True)), {}


def astype_sample(gen):
    return (gen.array(gen.shape()),), {"dtype": np.dtype(np.float64)}


def batch_norm_sample(gen):
    shape = gen.choice([(4, 3), (3, 2, 5), (2, 3, 2, 3)])
    channels = shape[1]
    return ((gen.array(shape), gen.array((channels,), 0.5, 1.5), gen.array((channels,))),
            {"eps": 1e-5})
