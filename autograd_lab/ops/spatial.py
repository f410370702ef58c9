"""Convolution and pooling primitives, with their Numba kernels (autograd_lab/kernels).

Params: `stride`, `padding`, `dilation` and `kernel` are (height, width) pairs.

Each gradient here is itself a primitive with its own rules, so second
derivatives flow through convolutions and pooling as well:

    conv2d(x, w)              -> dx = conv2d_grad_input(g, w),  dw = conv2d_grad_weight(x, g)
    conv2d_grad_input(g, w)   -> dg = conv2d(h, w),             dw = conv2d_grad_weight(h, g)
    conv2d_grad_weight(x, g)  -> dx = conv2d_grad_input(g, k),  dg = conv2d(x, k)
    avg_pool2d <-> avg_pool2d_backward,   max_pool2d -> scatter_add at the saved argmax
"""
from __future__ import annotations

import math

import numpy as np

from ..core.node import Node
from ..core.op import per_output_element, primitive
from ..kernels import conv as K
from ..kernels import pool as KP
from .primitives import reshape, scatter_add, sum


# ---- rules that pick a compiled kernel for raw arrays --------------------------------------
def _grad_bias(g):
    if isinstance(g, Node):
        return sum(g, axis=(0, 2, 3), keepdims=False)
    return K.conv2d_grad_bias(g)       # channel sums by threads over the batch


def _max_pool_grad(g, out, x, *, kernel, stride, padding, saved):
    """g added at the winning inputs (`saved`: the argmax of every window, flat indices)."""
    if isinstance(g, Node):
        size = int(np.prod(x.shape))
        flat = scatter_add(reshape(g, shape=(int(np.prod(g.shape)),)), index=saved.reshape(-1), shape=(size,))
        return reshape(flat, shape=tuple(x.shape))
    return KP.max_pool2d_backward(g, saved, x.shape)    # a scatter by threads over images


# ---- samplers: small random geometries, every output at least 1x1 ---------------------------
def _geometry(gen):
    if gen.boolean():    # half the samples take the direct 3x3 kernels' path (kernels.conv)
        k, d, s = (3, 3), (1, 1), (1, 1)
    else:
        k = (gen.integers(1, 3), gen.integers(1, 3))
        d = (gen.integers(1, 2), gen.integers(1, 2))
        s = (gen.integers(1, 2), gen.integers(1, 2))
    p = (gen.integers(0, 2), gen.integers(0, 2))
    hw = tuple(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]) + gen.integers(0, 3) for i in range(2))
    return k, s, p, d, hw


def _conv_sample(gen):
    k, s, p, d, (H, W) = _geometry(gen)
    N, C, O = gen.integers(1, 2), gen.integers(1, 3), gen.integers(1, 3)
    x, w = gen.array((N, C, H, W)), gen.array((O, C) + k)
    inputs = (x, w, gen.array((O,))) if gen.boolean() else (x, w)
    return inputs, {"stride": s, "padding": p, "dilation": d}


def _conv_parts(gen):
    (x, w, *_), params = _conv_sample(gen)
    out_shape = np.shape(K.conv2d_reference(x, w, None, **params))
    return x, w, gen.array(out_shape), params


def _grad_input_sample(gen):
    x, w, g, params = _conv_parts(gen)
    return (g, w), dict(params, x_shape=x.shape)


def _grad_weight_sample(gen):
    x, w, g, params = _conv_parts(gen)
    return (x, g), dict(params, w_shape=w.shape)


def _pool_sample(gen):
    k = (gen.integers(1, 3), gen.integers(1, 3))
    s = (gen.integers(1, 3), gen.integers(1, 3))
    p = (gen.integers(0, k[0] // 2), gen.integers(0, k[1] // 2))
    H, W = k[0] + gen.integers(0, 3), k[1] + gen.integers(0, 3)
    x = gen.array((gen.integers(1, 2), gen.integers(1, 2), H, W))
    return (x,), {"kernel": k, "stride": s, "padding": p}


def _avg_pool_backward_sample(gen):
    (x,), params = _pool_sample(gen)
    g = gen.array(KP.avg_pool2d_reference(x, **params).shape)
    return (g,), dict(params, x_shape=x.shape)


def _window_flops(out, x, *, kernel, **geometry):
    return math.prod(out) * math.prod(kernel)       # one per element of every window


# ---- the declarations ------------------------------------------------------------------------
# NCHW input, OIHW weights, optional bias (O,).
conv2d = primitive(
    "conv2d", lambda x, w, b=None, *, stride, padding, dilation:
        K.conv2d_forward(x, w, b, stride, padding, dilation),
    lambda g, out, x, w, b=None, *, stride, padding, dilation:
        conv2d_grad_input(g, w, x_shape=tuple(x.shape), stride=stride, padding=padding, dilation=dilation),
    lambda g, out, x, w, b=None, *, stride, padding, dilation:
        conv2d_grad_weight(x, g, w_shape=tuple(w.shape), stride=stride, padding=padding, dilation=dilation),
    lambda g, out, x, w, b=None, *, stride, padding, dilation:
        _grad_bias(g),
    flops=lambda out, x, w, b=None, **geometry:
        2 * math.prod(out) * math.prod(w[1:]) + (math.prod(out) if b is not None else 0),
    samples=_conv_sample)

# The transposed convolution: conv2d's gradient for its input.
conv2d_grad_input = primitive(
    "conv2d_grad_input", lambda g, w, *, x_shape, stride, padding, dilation:
        K.conv2d_grad_input(g, w, x_shape, stride, padding, dilation),
    lambda h, out, g, w, *, x_shape, stride, padding, dilation:
        conv2d(h, w, stride=stride, padding=padding, dilation=dilation),
    lambda h, out, g, w, *, x_shape, stride, padding, dilation:
        conv2d_grad_weight(h, g, w_shape=tuple(w.shape), stride=stride, padding=padding, dilation=dilation),
    flops=lambda out, g, w, **geometry: 2 * math.prod(g) * math.prod(w[1:]),
    samples=_grad_input_sample)

# conv2d's gradient for its weights.
conv2d_grad_weight = primitive(
    "conv2d_grad_weight", lambda x, g, *, w_shape, stride, padding, dilation:
        K.conv2d_grad_weight(x, g, w_shape, stride, padding, dilation),
    lambda k, out, x, g, *, w_shape, stride, padding, dilation:
        conv2d_grad_input(g, k, x_shape=tuple(x.shape), stride=stride, padding=padding, dilation=dilation),
    lambda k, out, x, g, *, w_shape, stride, padding, dilation:
        conv2d(x, k, stride=stride, padding=padding, dilation=dilation),
    flops=lambda out, x, g, *, w_shape, **geometry: 2 * math.prod(g) * math.prod(w_shape[1:]),
    samples=_grad_weight_sample)

# Keeps the argmax of every window, so backward is a scatter, not a search.
max_pool2d = primitive(
    "max_pool2d", lambda x, *, kernel, stride, padding: KP.max_pool2d_forward(x, kernel, stride, padding),
    _max_pool_grad,
    saves=True, flops=_window_flops, samples=_pool_sample)

# Padding counts in the divisor (count_include_pad=True).
avg_pool2d = primitive(
    "avg_pool2d", lambda x, *, kernel, stride, padding: KP.avg_pool2d_forward(x, kernel, stride, padding),
    lambda g, out, x, *, kernel, stride, padding:
        avg_pool2d_backward(g, x_shape=tuple(x.shape), kernel=kernel, stride=stride, padding=padding),
    flops=_window_flops, samples=_pool_sample)

# avg_pool2d's gradient: each output spread over its window.
avg_pool2d_backward = primitive(
    "avg_pool2d_backward", lambda g, *, x_shape, kernel, stride, padding:
        KP.avg_pool2d_backward(g, x_shape, kernel, stride, padding),
    lambda h, out, g, *, x_shape, kernel, stride, padding:
        avg_pool2d(h, kernel=kernel, stride=stride, padding=padding),
    flops=per_output_element, samples=_avg_pool_backward_sample)
