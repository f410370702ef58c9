"""2-D convolution (NCHW input, OIHW weights) as im2col + one matrix product.

The columns are laid out (C*KH*KW, N*OH*OW): each row is one kernel tap over
every output position, so building them copies contiguous runs of the input,
and the product W(O, C*KH*KW) @ cols has one large dimension, where BLAS is at
its best. The forward pass keeps the columns for the weight gradient.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from . import jit


def output_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# ---- kernels ---------------------------------------------------------------------
def _im2col(xp, KH, KW, sh, sw, dh, dw, OH, OW, cols):
    N, C = xp.shape[0], xp.shape[1]
    P = OH * OW
    for n in prange(N):
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    k = (c * KH + kh) * KW + kw
                    for oh in range(OH):
                        ih = oh * sh + kh * dh
                        start = n * P + oh * OW
                        for ow in range(OW):
                            cols[k, start + ow] = xp[n, c, ih, ow * sw + kw * dw]


def _col2im(dcols, KH, KW, sh, sw, dh, dw, OH, OW, dxp):
    N, C = dxp.shape[0], dxp.shape[1]
    P = OH * OW
    for n in prange(N):           # each image is written by one thread: no races
        for c in range(C):
            for kh in range(KH):
                for kw in range(KW):
                    k = (c * KH + kh) * KW + kw
                    for oh in range(OH):
                        ih = oh * sh + kh * dh
                        start = n * P + oh * OW
                        for ow in range(OW):
                            dxp[n, c, ih, ow * sw + kw * dw] += dcols[k, start + ow]


def _rows_to_images(y, bias, N, out):
    """(O, N*P) product rows -> (N, O, P) images, adding the bias on the way."""
    O = y.shape[0]
    P = out.shape[2]
    for n in prange(N):
        for o in range(O):
            b = bias[o]
            for p in range(P):
                out[n, o, p] = y[o, n * P + p] + b


def _images_to_rows(g, out):
    """(N, O, P) -> (O, N*P)."""
    N, O, P = g.shape
    for o in prange(O):
        for n in range(N):
            for p in range(P):
                out[o, n * P + p] = g[n, o, p]


im2col_kernel = jit(parallel=True)(_im2col)
col2im_kernel = jit(parallel=True)(_col2im)
rows_to_images_kernel = jit(parallel=True)(_rows_to_images)
images_to_rows_kernel = jit(parallel=True)(_images_to_rows)


# ---- array-level functions ------------------------------------------------------------
def _pad(x, ph, pw):
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def im2col(x, kernel, stride, padding, dilation):
    (KH, KW), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    N, C, H, W = x.shape
    OH, OW = output_size(H, KH, sh, ph, dh), output_size(W, KW, sw, pw, dw)
    cols = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    im2col_kernel(_pad(x, ph, pw), KH, KW, sh, sw, dh, dw, OH, OW, cols)
    return cols, OH, OW


def conv2d_forward(x, w, b, stride, padding, dilation):
    """y = conv(x, w) + b; returns (y, cols) with the im2col columns for backward."""
    O, C, KH, KW = w.shape
    N = x.shape[0]
    cols, OH, OW = im2col(x, (KH, KW), stride, padding, dilation)
    rows = w.reshape(O, -1) @ cols
    out = np.empty((N, O, OH * OW), dtype=rows.dtype)
    bias = np.zeros(O, dtype=rows.dtype) if b is None else b.astype(rows.dtype, copy=False)
    rows_to_images_kernel(rows, bias, N, out)
    return out.reshape(N, O, OH, OW), cols


def grad_rows(g):
    """The output gradient (N, O, OH, OW) as (O, N*OH*OW) rows."""
    N, O = g.shape[0], g.shape[1]
    out = np.empty((O, g.size // O), dtype=g.dtype)
    images_to_rows_kernel(np.ascontiguousarray(g).reshape(N, O, -1), out)
    return out


def conv2d_grad_weight(x, g, w_shape, stride, padding, dilation, cols=None):
    """d<g, conv(x, w)>/dw, reusing the forward's columns when given."""
    O, C, KH, KW = w_shape
    if cols is None:
        cols, _, _ = im2col(x, (KH, KW), stride, padding, dilation)
    return (grad_rows(g) @ cols.T).reshape(w_shape)


def conv2d_grad_input(g, w, x_shape, stride, padding, dilation):
    """d<g, conv(x, w)>/dx: the transposed convolution of g with w."""
    O, C, KH, KW = w.shape
    N, _, H, W = x_shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    OH, OW = g.shape[2], g.shape[3]
    dcols = w.reshape(O, -1).T @ grad_rows(g)
    dxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=dcols.dtype)
    col2im_kernel(dcols, KH, KW, sh, sw, dh, dw, OH, OW, dxp)
    return np.ascontiguousarray(dxp[:, :, ph:ph + H, pw:pw + W])


# ---- numpy references (the tests' oracle): one shifted slice per kernel tap --------------
def _tap(xp, kh, kw, OH, OW, stride, dilation):
    (sh, sw), (dh, dw) = stride, dilation
    return xp[:, :, kh * dh: kh * dh + sh * (OH - 1) + 1: sh, kw * dw: kw * dw + sw * (OW - 1) + 1: sw]


def conv2d_reference(x, w, b, stride, padding, dilation):
    O, C, KH, KW = w.shape
    N, _, H, W = x.shape
    OH = output_size(H, KH, stride[0], padding[0], dilation[0])
    OW = output_size(W, KW, stride[1], padding[1], dilation[1])
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    out = np.zeros((N, O, OH, OW), dtype=np.result_type(x, w))
    for kh in range(KH):
        for kw in range(KW):
            out += np.einsum("nchw,oc->nohw", _tap(xp, kh, kw, OH, OW, stride, dilation), w[:, :, kh, kw])
    return out if b is None else out + b.reshape(1, O, 1, 1)


def conv2d_grad_input_reference(g, w, x_shape, stride, padding, dilation):
    O, C, KH, KW = w.shape
    N, _, H, W = x_shape
    OH, OW = g.shape[2], g.shape[3]
    dxp = np.zeros((N, C, H + 2 * padding[0], W + 2 * padding[1]), dtype=np.result_type(g, w))
    for kh in range(KH):
        for kw in range(KW):
            _tap(dxp, kh, kw, OH, OW, stride, dilation)[...] += np.einsum("nohw,oc->nchw", g, w[:, :, kh, kw])
    return dxp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W]


def conv2d_grad_weight_reference(x, g, w_shape, stride, padding, dilation):
    O, C, KH, KW = w_shape
    OH, OW = g.shape[2], g.shape[3]
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    gw = np.zeros(w_shape, dtype=np.result_type(x, g))
    for kh in range(KH):
        for kw in range(KW):
            gw[:, :, kh, kw] = np.einsum("nohw,nchw->oc", g, _tap(xp, kh, kw, OH, OW, stride, dilation))
    return gw
