"""2-D max and average pooling over NCHW arrays.

Max pooling records, for each output, the flat index of the input element that
won; its backward pass is then a scatter-add of the gradient to those indices,
not a second search. Average pooling counts padding in the divisor (PyTorch's
default, count_include_pad=True), which makes it linear with a plain transpose.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from . import jit
from .conv import output_size


def _max_pool(x, KH, KW, sh, sw, ph, pw, out, argmax):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        base = nc * H * W
        for oh in range(OH):
            for ow in range(OW):
                best = -np.inf
                best_at = -1
                for kh in range(KH):
                    ih = oh * sh - ph + kh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw - pw + kw
                        if iw < 0 or iw >= W:
                            continue
                        v = x[n, c, ih, iw]
                        # the first maximum wins; NaN wins and propagates, as in PyTorch
                        if best_at < 0 or v > best or (v != v and best == best):
                            best = v
                            best_at = base + ih * W + iw
                out[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_at


def _scatter_add_flat(values, index, out):
    for i in range(values.size):       # serial: overlapping windows may share an index
        out[index[i]] += values[i]


def _avg_pool(x, KH, KW, sh, sw, ph, pw, out):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    scale = 1.0 / (KH * KW)
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oh in range(OH):
            for ow in range(OW):
                total = 0.0
                for kh in range(KH):
                    ih = oh * sh - ph + kh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw - pw + kw
                        if 0 <= iw < W:
                            total += x[n, c, ih, iw]
                out[n, c, oh, ow] = total * scale


def _avg_pool_backward(g, KH, KW, sh, sw, ph, pw, dx):
    N, C, H, W = dx.shape
    OH, OW = g.shape[2], g.shape[3]
    scale = 1.0 / (KH * KW)
    for nc in prange(N * C):           # each plane is written by one thread
        n = nc // C
        c = nc % C
        for oh in range(OH):
            for ow in range(OW):
                share = g[n, c, oh, ow] * scale
                for kh in range(KH):
                    ih = oh * sh - ph + kh
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw - pw + kw
                        if 0 <= iw < W:
                            dx[n, c, ih, iw] += share


max_pool_kernel = jit(parallel=True)(_max_pool)
scatter_add_flat_kernel = jit()(_scatter_add_flat)
avg_pool_kernel = jit(parallel=True)(_avg_pool)
avg_pool_backward_kernel = jit(parallel=True)(_avg_pool_backward)


def _out_shape(x_shape, kernel, stride, padding):
    N, C, H, W = x_shape
    return (N, C, output_size(H, kernel[0], stride[0], padding[0], 1),
            output_size(W, kernel[1], stride[1], padding[1], 1))


def max_pool2d_forward(x, kernel, stride, padding):
    """(output, argmax): argmax holds flat indices into x."""
    out = np.empty(_out_shape(x.shape, kernel, stride, padding), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.int64)
    max_pool_kernel(np.ascontiguousarray(x), kernel[0], kernel[1], stride[0], stride[1],
                    padding[0], padding[1], out, argmax)
    return out, argmax


def scatter_add_flat(values, index, size):
    """zeros(size) with values added at the flat indices."""
    out = np.zeros(size, dtype=values.dtype)
    scatter_add_flat_kernel(np.ascontiguousarray(values).ravel(), np.ascontiguousarray(index).ravel(), out)
    return out


def avg_pool2d_forward(x, kernel, stride, padding):
    out = np.empty(_out_shape(x.shape, kernel, stride, padding), dtype=x.dtype)
    avg_pool_kernel(np.ascontiguousarray(x), kernel[0], kernel[1], stride[0], stride[1],
                    padding[0], padding[1], out)
    return out


def avg_pool2d_backward(g, x_shape, kernel, stride, padding):
    dx = np.zeros(x_shape, dtype=g.dtype)
    avg_pool_backward_kernel(np.ascontiguousarray(g), kernel[0], kernel[1], stride[0], stride[1],
                             padding[0], padding[1], dx)
    return dx


# ---- numpy references (the tests' oracle) ------------------------------------------------
def _windows(x, kernel, stride, padding, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2), constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(xp, kernel, axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1]]


def max_pool2d_reference(x, kernel, stride, padding):
    return _windows(x, kernel, stride, padding, -np.inf).max(axis=(4, 5))


def avg_pool2d_reference(x, kernel, stride, padding):
    return _windows(x, kernel, stride, padding, 0).sum(axis=(4, 5)) / math.prod(kernel)


def max_pool2d_grad_reference(x, g, kernel, stride, padding):
    """Loops written out: each output's gradient goes to its window's first maximum."""
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    for n, c, oh, ow in np.ndindex(*g.shape):
        best, at = -np.inf, None
        for kh in range(kernel[0]):
            for kw in range(kernel[1]):
                ih, iw = oh * stride[0] - padding[0] + kh, ow * stride[1] - padding[1] + kw
                if 0 <= ih < H and 0 <= iw < W and (at is None or x[n, c, ih, iw] > best):
                    best, at = x[n, c, ih, iw], (ih, iw)
        dx[n, c][at] += g[n, c, oh, ow]
    return dx
