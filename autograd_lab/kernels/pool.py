"""2-D max and average pooling over NCHW arrays.

Max pooling records, for each output, the flat index of the input element that
won; its backward pass is then a scatter-add of the gradient to those indices,
not a second search. Average pooling counts padding in the divisor (PyTorch's
default, count_include_pad=True), which makes it linear with a plain transpose.
"""
from __future__ import annotations

import math

import numpy as np
from . import jit
from .conv import output_size
from .parallel import chunk_size, run_chunks


# Windows that lie wholly inside the image (all of them without padding) take a
# fast path: one loop over precomputed flat offsets. Tiny nested loops with
# bounds computed per output cost ~8 ns per output on their own (measured);
# the flat loop runs the whole W3 first pool (327,680 windows) in ~0.4 ms.
def _window_offsets(KH, KW, W):
    offsets = np.empty(KH * KW, np.int64)
    for kh in range(KH):
        for kw in range(KW):
            offsets[kh * KW + kw] = kh * W + kw
    return offsets


def _make_max_pool(propagate_nan):
    """The max-pool kernel. Testing every element for NaN made it 3.7x slower
    (measured), so that test is compiled in only for inputs known to hold NaN."""
    def max_pool(x, KH, KW, sh, sw, ph, pw, out, argmax, first_index):
        _max_pool_body(x, KH, KW, sh, sw, ph, pw, out, argmax, first_index, propagate_nan)
    return max_pool


def _has_nan(x):
    flat = x.reshape(-1)
    found = False
    for i in range(flat.size):
        found |= flat[i] != flat[i]
    return found


def _max_pool_body(x, KH, KW, sh, sw, ph, pw, out, argmax, first_index, propagate_nan):
    """argmax: flat indices into x, counted from `first_index` (the chunk's place in the batch)."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    offsets = _window_offsets(KH, KW, W)
    flat = x.reshape(-1)
    for n in range(N):
        for c in range(C):
            base = (n * C + c) * H * W
            for oh in range(OH):
                h0 = oh * sh - ph
                for ow in range(OW):
                    w0 = ow * sw - pw
                    if h0 >= 0 and w0 >= 0 and h0 + KH <= H and w0 + KW <= W:
                        start = base + h0 * W + w0
                        best = flat[start]
                        best_at = start
                        for k in range(1, KH * KW):
                            v = flat[start + offsets[k]]
                            # the first maximum wins; NaN wins and propagates, as in PyTorch
                            if v > best or (propagate_nan and v != v and best == best):
                                best = v
                                best_at = start + offsets[k]
                    else:
                        h_lo, h_hi = max(h0, 0), min(h0 + KH, H)
                        w_lo, w_hi = max(w0, 0), min(w0 + KW, W)
                        best = flat[base + h_lo * W + w_lo]
                        best_at = base + h_lo * W + w_lo
                        for ih in range(h_lo, h_hi):
                            for iw in range(w_lo, w_hi):
                                v = flat[base + ih * W + iw]
                                if v > best or (propagate_nan and v != v and best == best):
                                    best = v
                                    best_at = base + ih * W + iw
                    out[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = first_index + best_at


def _max_pool_2x2(x, out, argmax, first_index):
    """The common case, 2x2 windows with stride 2 and no padding, written out:
    LLVM turns the comparisons into selects and vectorises the row loop. ~4x
    faster than the general loop on W3's first pool (measured). No NaN test
    here (folding one in stops the vectorisation): inputs with NaN take the
    general kernel."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for n in range(N):
        for c in range(C):
            base = first_index + (n * C + c) * H * W
            for oh in range(OH):
                top = x[n, c, 2 * oh]
                bottom = x[n, c, 2 * oh + 1]
                row_out = out[n, c, oh]
                row_arg = argmax[n, c, oh]
                start = base + 2 * oh * W
                for ow in range(OW):
                    # ties go to the first maximum in reading order, as in the general kernel
                    best, at = top[2 * ow], 2 * ow
                    v = top[2 * ow + 1]
                    if v > best:
                        best, at = v, 2 * ow + 1
                    v = bottom[2 * ow]
                    if v > best:
                        best, at = v, W + 2 * ow
                    v = bottom[2 * ow + 1]
                    if v > best:
                        best, at = v, W + 2 * ow + 1
                    row_out[ow] = best
                    row_arg[ow] = start + at


def _scatter_into(values, index, first_index, out):
    """out = 0, then values added at index - first_index (zeroed here, while in cache).

    Serial: overlapping windows may share an index."""
    for i in range(out.size):
        out[i] = 0
    for i in range(values.size):
        out[index[i] - first_index] += values[i]


def _avg_pool(x, KH, KW, sh, sw, ph, pw, out):
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    offsets = _window_offsets(KH, KW, W)
    flat = x.reshape(-1)
    scale = 1.0 / (KH * KW)
    for n in range(N):
        for c in range(C):
            base = (n * C + c) * H * W
            for oh in range(OH):
                h0 = oh * sh - ph
                for ow in range(OW):
                    w0 = ow * sw - pw
                    total = 0.0
                    if h0 >= 0 and w0 >= 0 and h0 + KH <= H and w0 + KW <= W:
                        start = base + h0 * W + w0
                        for k in range(KH * KW):
                            total += flat[start + offsets[k]]
                    else:
                        for ih in range(max(h0, 0), min(h0 + KH, H)):
                            for iw in range(max(w0, 0), min(w0 + KW, W)):
                                total += flat[base + ih * W + iw]
                    out[n, c, oh, ow] = total * scale


def _avg_pool_backward(g, KH, KW, sh, sw, ph, pw, dx):
    N, C, H, W = dx.shape
    OH, OW = g.shape[2], g.shape[3]
    offsets = _window_offsets(KH, KW, W)
    flat = dx.reshape(-1)
    scale = 1.0 / (KH * KW)
    for n in range(N):
        for c in range(C):
            base = (n * C + c) * H * W
            for oh in range(OH):
                h0 = oh * sh - ph
                for ow in range(OW):
                    w0 = ow * sw - pw
                    share = g[n, c, oh, ow] * scale
                    if h0 >= 0 and w0 >= 0 and h0 + KH <= H and w0 + KW <= W:
                        start = base + h0 * W + w0
                        for k in range(KH * KW):
                            flat[start + offsets[k]] += share
                    else:
                        for ih in range(max(h0, 0), min(h0 + KH, H)):
                            for iw in range(max(w0, 0), min(w0 + KW, W)):
                                flat[base + ih * W + iw] += share


_window_offsets = jit(_window_offsets)
_max_pool_body = jit(_max_pool_body)
has_nan_kernel = jit(_has_nan)
max_pool_kernel = jit(_make_max_pool(False))
max_pool_nan_kernel = jit(_make_max_pool(True))
max_pool_2x2_kernel = jit(_max_pool_2x2)
scatter_into_kernel = jit(_scatter_into)
avg_pool_kernel = jit(_avg_pool)
avg_pool_backward_kernel = jit(_avg_pool_backward)


def _by_image(fn, n_images, bytes_per_image):
    """Run fn(lo, hi) over chunks of images on the worker threads."""
    def work(ranges):
        for lo, hi in ranges:
            fn(lo, hi)
    run_chunks(n_images, chunk_size(n_images, bytes_per_image), work)


def _out_shape(x_shape, kernel, stride, padding):
    N, C, H, W = x_shape
    return (N, C, output_size(H, kernel[0], stride[0], padding[0], 1),
            output_size(W, kernel[1], stride[1], padding[1], 1))


def max_pool2d_forward(x, kernel, stride, padding):
    """(output, argmax): argmax holds flat indices into x."""
    x = np.ascontiguousarray(x)
    out = np.empty(_out_shape(x.shape, kernel, stride, padding), dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=np.int64)
    image_size = x[0].size

    two_by_two = tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0)

    def fn(lo, hi):
        chunk = x[lo:hi]
        if has_nan_kernel(chunk):
            max_pool_nan_kernel(chunk, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
                                out[lo:hi], argmax[lo:hi], lo * image_size)
        elif two_by_two:
            max_pool_2x2_kernel(chunk, out[lo:hi], argmax[lo:hi], lo * image_size)
        else:
            max_pool_kernel(chunk, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
                            out[lo:hi], argmax[lo:hi], lo * image_size)

    _by_image(fn, x.shape[0], x[0].nbytes)
    return out, argmax


def max_pool2d_backward(g, argmax, x_shape):
    """The input gradient of max pooling: each output's gradient added at its argmax.

    An image's argmax indices all fall inside that image, so chunks of images
    can be scattered by different threads without collisions.
    """
    g = np.ascontiguousarray(g)
    dx = np.empty(x_shape, dtype=g.dtype)
    flat = dx.reshape(-1)
    image_size = dx[0].size

    def fn(lo, hi):
        scatter_into_kernel(g[lo:hi].reshape(-1), argmax[lo:hi].reshape(-1), lo * image_size,
                            flat[lo * image_size:hi * image_size])

    _by_image(fn, x_shape[0], dx[0].nbytes)
    return dx


def scatter_add_flat(values, index, size):
    """zeros(size) with values added at the flat indices."""
    out = np.empty(size, dtype=values.dtype)
    scatter_into_kernel(np.ascontiguousarray(values).ravel(), np.ascontiguousarray(index).ravel(), 0, out)
    return out


def avg_pool2d_forward(x, kernel, stride, padding):
    x = np.ascontiguousarray(x)
    out = np.empty(_out_shape(x.shape, kernel, stride, padding), dtype=x.dtype)
    _by_image(lambda lo, hi: avg_pool_kernel(x[lo:hi], kernel[0], kernel[1], stride[0], stride[1],
                                             padding[0], padding[1], out[lo:hi]),
              x.shape[0], x[0].nbytes)
    return out


def avg_pool2d_backward(g, x_shape, kernel, stride, padding):
    g = np.ascontiguousarray(g)
    dx = np.zeros(x_shape, dtype=g.dtype)
    _by_image(lambda lo, hi: avg_pool_backward_kernel(g[lo:hi], kernel[0], kernel[1], stride[0],
                                                      stride[1], padding[0], padding[1], dx[lo:hi]),
              g.shape[0], dx[0].nbytes)
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
