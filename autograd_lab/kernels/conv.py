"""2-D convolution (NCHW input, OIHW weights) as im2col + matrix products.

The batch is processed in chunks of a few images (kernels.parallel): for each
chunk, the columns are laid out (C*KH*KW, n*OH*OW), one row per kernel tap
over every output position, so building them copies contiguous runs of the
input; then W(O, C*KH*KW) @ cols gives the chunk's outputs. A chunk's buffers
stay in cache, and the full im2col matrix (11.8 MB for W3's second layer) is
never written to memory: the weight gradient rebuilds the columns chunk by chunk.
Each worker runs its chunks as a loop of compiled pieces (im2col, col2im,
layout changes) and single-threaded BLAS products through numpy.

Two direct paths skip im2col, each where it is faster:
- a stride-1 float32 convolution whose outputs come in fours and whose output rows
  in 16 columns (both of W3's layers, W4) runs `_vector_conv` for the forward and the
  input gradient and `_vector_conv_grad_weight` (8 columns) for the weight gradient:
  register-blocked kernels in explicit 8-lane vectors (kernels.simd), only where
  the CPU Numba compiles for has fused multiply-add (and AVX2 on x86): elsewhere
  each `fma8` becomes a library call per lane, 47x slower (kernels.simd);
- otherwise a 3x3, stride-1 convolution of an input with few channels runs
  `_direct3x3`, since a product with an inner dimension of 9*C is too short for
  BLAS to run fast (float64, and W3's first layer on a CPU without FMA).
Every other geometry and dtype takes im2col.
"""
from __future__ import annotations

import numpy as np
from . import jit
from .parallel import chunk_size, run_chunks
from .simd import (fma8, fma16, load8, load16, splat8, splat16, store8, store16, vector_kernels_fit,
                   wide_kernels_fit, winner16, pairs_swapped16, even_lanes16, equal16)


def output_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# ---- kernels ---------------------------------------------------------------------
def _valid_range(out_size, offset, stride, size):
    """The outputs o in [lo, hi) whose input position o*stride + offset lies in [0, size)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    hi = out_size
    if (out_size - 1) * stride + offset >= size:
        hi = max(0, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


# Loops index pre-sliced views with a plain range counter: Numba then vectorizes
# them (a slice `+=` allocates a temporary; a computed index costs a sign check).
def _copy(src, dst):
    for i in range(dst.size):
        dst[i] = src[i]


def _add(src, dst):
    for i in range(dst.size):
        dst[i] += src[i]


def _valid_rows(OH, kh, sh, dh, ph, H):
    return _valid_range(OH, kh * dh - ph, sh, H)


def _zero(dst):
    for i in range(dst.size):
        dst[i] = 0


def _copy_kept(src, keep, dst):
    """dst = src where keep is nonzero, else 0 (a select, not a product: 0 * inf would be NaN)."""
    for i in range(dst.size):
        dst[i] = src[i] if keep[i] != 0 else 0


def _kept_columns(KW, pw, dw, OH, W, dtype):
    """keep[kw, oh*W + ow] = 1 where tap column kw of output column ow lies inside the image row."""
    keep = np.zeros((KW, OH * W), dtype)
    for kw in range(KW):
        ow_lo, ow_hi = _valid_range(W, kw * dw - pw, 1, W)
        for oh in range(OH):
            for ow in range(ow_lo, ow_hi):
                keep[kw, oh * W + ow] = 1
    return keep


def _im2col(x, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, cols):
    if sh == 1 and sw == 1 and OW == x.shape[3]:
        _im2col_same_width(x, KH, KW, ph, pw, dh, dw, OH, cols)
        return
    N, C, H, W = x.shape
    P = OH * OW
    for n in range(N):
        for c in range(C):
            for kh in range(KH):
                oh_lo, oh_hi = _valid_rows(OH, kh, sh, dh, ph, H)
                for kw in range(KW):
                    out = cols[(c * KH + kh) * KW + kw, n * P:(n + 1) * P]
                    base = kw * dw - pw
                    ow_lo, ow_hi = _valid_range(OW, base, sw, W)
                    out[:oh_lo * OW] = 0
                    out[oh_hi * OW:] = 0
                    for oh in range(oh_lo, oh_hi):
                        ih = oh * sh + kh * dh - ph
                        start = oh * OW
                        for ow in range(ow_lo):
                            out[start + ow] = 0
                        for ow in range(ow_lo, ow_hi):
                            out[start + ow] = x[n, c, ih, ow * sw + base]
                        for ow in range(ow_hi, OW):
                            out[start + ow] = 0


def _im2col_same_width(x, KH, KW, ph, pw, dh, dw, OH, cols):
    """im2col for stride 1 and OW == W: output p = oh*W + ow reads input p + shift,
    so one tap over one image is one contiguous run of the flat image, except for
    the columns that wrap to a neighbouring row, which `keep` zeroes on the way.
    Flat views and index arithmetic keep the per-run cost down (a 2-D slice and a
    reshape per run cost as much as the copy, measured: 23 -> 15 µs for W4's chunk)."""
    N, C, H, W = x.shape
    P = OH * W
    HW = H * W
    flat = x.reshape(-1)
    keep = _kept_columns(KW, pw, dw, OH, W, cols.dtype)
    for c in range(C):
        for kh in range(KH):
            oh_lo, oh_hi = _valid_rows(OH, kh, 1, dh, ph, H)
            for kw in range(KW):
                row = cols[(c * KH + kh) * KW + kw]
                base = kw * dw - pw
                ow_lo, ow_hi = _valid_range(W, base, 1, W)
                wraps = ow_lo > 0 or ow_hi < W
                shift = (kh * dh - ph) * W + base
                lo = max(oh_lo * W, -shift)
                hi = max(lo, min(oh_hi * W, HW - shift))
                kept = keep[kw, lo:hi]
                for n in range(N):
                    o = n * P
                    s = (n * C + c) * HW + shift
                    _zero(row[o:o + lo])
                    if wraps:
                        _copy_kept(flat[s + lo:s + hi], kept, row[o + lo:o + hi])
                    else:
                        _copy(flat[s + lo:s + hi], row[o + lo:o + hi])
                    _zero(row[o + hi:o + P])


def _col2im(dcols, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW, dx):
    """Adds the columns back into dx. Overwrites the wrapped entries of dcols (a temporary)."""
    N, C, H, W = dx.shape
    P = OH * OW
    one_run = sh == 1 and sw == 1 and OW == W
    for n in range(N):
        for c in range(C):
            image = dx[n, c].reshape(-1)
            for kh in range(KH):
                oh_lo, oh_hi = _valid_rows(OH, kh, sh, dh, ph, H)
                for kw in range(KW):
                    k = (c * KH + kh) * KW + kw
                    src = dcols[k, n * P:(n + 1) * P]
                    base = kw * dw - pw
                    ow_lo, ow_hi = _valid_range(OW, base, sw, W)
                    if one_run:
                        for oh in range(oh_lo, oh_hi):     # wrapped columns must add nothing
                            for ow in range(ow_lo):
                                src[oh * OW + ow] = 0
                            for ow in range(ow_hi, OW):
                                src[oh * OW + ow] = 0
                        shift = (kh * dh - ph) * W + base
                        lo, hi = max(oh_lo * OW, -shift), min(oh_hi * OW, H * W - shift)
                        if lo < hi:
                            _add(src[lo:hi], image[lo + shift:hi + shift])
                        continue
                    for oh in range(oh_lo, oh_hi):
                        ih = oh * sh + kh * dh - ph
                        start = oh * OW
                        for ow in range(ow_lo, ow_hi):
                            dx[n, c, ih, ow * sw + base] += src[start + ow]


def _rows_to_images(y, bias, N, out):
    """(O, N*P) product rows -> (N, O, P) images, adding the bias on the way."""
    O = y.shape[0]
    P = out.shape[2]
    for n in range(N):
        for o in range(O):
            b = bias[o]
            src = y[o, n * P:(n + 1) * P]
            dst = out[n, o]
            for p in range(P):
                dst[p] = src[p] + b


def _images_to_rows(g, out):
    """(N, O, P) -> (O, N*P)."""
    N, O, P = g.shape
    for o in range(O):
        for n in range(N):
            _copy(g[n, o], out[o, n * P:(n + 1) * P])


def _channel_sums(g, out):
    """out[n, o] = sum of g[n, o, :]."""
    N, O, P = g.shape
    for n in range(N):
        for o in range(O):
            row = g[n, o]
            total = row[0] * 0
            for p in range(P):
                total += row[p]
            out[n, o] = total


def _pad_image(image, ph, pw, padded):
    """The interior of `padded` (C, H + 2ph, W + 2pw) = image; its border is left as it is (zero)."""
    C, H, W = image.shape
    for c in range(C):
        for h in range(H):
            _copy(image[c, h], padded[c, ph + h, pw:pw + W])


# Direct 3x3 convolution (stride 1, dilation 1) for inputs with few channels. An
# im2col product there has an inner dimension of 9*C, too short for BLAS (W3's
# first layer, one channel: about 20 GFLOP/s). Here each image is padded once and
# seen as one flat row of width Wp = W + 2*pw: output p = oh*Wp + ow (ow < OW)
# reads inputs p + kh*Wp + kw, so every tap is a shifted contiguous run and one
# long vectorised loop per plane keeps the nine taps' sum in registers. The two
# columns per row past OW are computed and dropped.
def _direct3x3(x, w, bias, ph, pw, padded, plane, out):
    """out (N, O, OH, OW) = the convolution of x (N, C, H, W) with 3x3 w, plus bias.

    Scratch: padded (C, H + 2ph, Wp) with a zero border; plane (OH * Wp,).
    """
    N, C = x.shape[:2]
    O, OH, OW = out.shape[1:]
    Wp = padded.shape[2]
    L = OH * Wp - 2             # the last row's two dropped columns would read past the end
    for n in range(N):
        _pad_image(x[n], ph, pw, padded)
        for o in range(O):
            for c in range(C):
                image = padded[c].reshape(-1)
                r0 = image[0:]
                r1 = image[Wp:]
                r2 = image[2 * Wp:]
                k = w[o, c]
                w0, w1, w2 = k[0, 0], k[0, 1], k[0, 2]
                w3, w4, w5 = k[1, 0], k[1, 1], k[1, 2]
                w6, w7, w8 = k[2, 0], k[2, 1], k[2, 2]
                if c == 0:          # the first channel starts from the bias: no pass to fill it
                    b = bias[o]
                    for q in range(L):
                        plane[q] = b + (w0 * r0[q] + w1 * r0[q + 1] + w2 * r0[q + 2]
                                        + w3 * r1[q] + w4 * r1[q + 1] + w5 * r1[q + 2]
                                        + w6 * r2[q] + w7 * r2[q + 1] + w8 * r2[q + 2])
                else:
                    for q in range(L):
                        plane[q] += (w0 * r0[q] + w1 * r0[q + 1] + w2 * r0[q + 2]
                                     + w3 * r1[q] + w4 * r1[q + 1] + w5 * r1[q + 2]
                                     + w6 * r2[q] + w7 * r2[q + 1] + w8 * r2[q + 2])
            for oh in range(OH):
                _copy(plane[oh * Wp:oh * Wp + OW], out[n, o, oh])


def _direct3x3_grad_weight(x, g, ph, pw, padded, plane, total):
    """total[o, c, 3*kh + kw] += the weight gradient of `_direct3x3` (sums in float64).

    Scratch as in `_direct3x3`; plane holds g's rows at width Wp, zero past OW.
    """
    N, C = x.shape[:2]
    O, OH, OW = g.shape[1:]
    Wp = padded.shape[2]
    L = OH * Wp - 2
    plane[:] = 0
    for n in range(N):
        _pad_image(x[n], ph, pw, padded)
        for o in range(O):
            for oh in range(OH):
                _copy(g[n, o, oh], plane[oh * Wp:oh * Wp + OW])
            for c in range(C):
                image = padded[c].reshape(-1)
                acc = total[o, c]
                for kh in range(3):
                    for kw in range(3):
                        # one dot product per tap: LLVM vectorises a single running
                        # sum well, nine at once not at all (measured: 4x slower)
                        tap = image[kh * Wp + kw:]
                        t = plane[0] * 0
                        for q in range(L):
                            t += plane[q] * tap[q]
                        acc[3 * kh + kw] += t



# Direct convolution in float32 vectors (kernels.simd), stride 1: no im2col. Each
# image is padded once; a block of 4 output channels x 16 columns of one output
# row is 8 vector accumulators, and every tap adds two shifted 8-column loads of
# the input times one broadcast weight per output channel. The taps run as one
# loop over a table of offsets into the flat padded image, so any kernel size or
# dilation is the same loop. Measured on W4's layer, one thread: 83 GFLOP/s
# against 66 for im2col + sgemm (the products alone reach 76).
def _vector_conv(x, weights, bias, offsets, ph, pw, padded, out):
    """out (N, O, OH, OW) = the stride-1 convolution of x (N, C, H, W), plus bias.

    weights (O/4, T, 4): tap t of four outputs side by side; offsets (T,): where tap
    t reads in the flat padded image, relative to the output position; padded:
    (C, H + 2ph, W + 2pw) scratch with a zero border. OW is a multiple of 16.
    """
    blocks, T = weights.shape[0], weights.shape[1]
    OH, OW = out.shape[2], out.shape[3]
    P = OH * OW
    Wp = padded.shape[2]
    image = padded.reshape(-1)
    for n in range(x.shape[0]):
        _pad_image(x[n], ph, pw, padded)
        y = out[n].reshape(-1)
        for ob in range(blocks):
            w = weights[ob].reshape(-1)
            for oh in range(OH):
                for ow in range(0, OW, 16):
                    a00 = splat8(bias, 4 * ob)
                    a01 = a00
                    a10 = splat8(bias, 4 * ob + 1)
                    a11 = a10
                    a20 = splat8(bias, 4 * ob + 2)
                    a21 = a20
                    a30 = splat8(bias, 4 * ob + 3)
                    a31 = a30
                    base = oh * Wp + ow
                    for t in range(T):
                        left = load8(image, base + offsets[t])
                        right = load8(image, base + offsets[t] + 8)
                        k = splat8(w, 4 * t)
                        a00, a01 = fma8(k, left, a00), fma8(k, right, a01)
                        k = splat8(w, 4 * t + 1)
                        a10, a11 = fma8(k, left, a10), fma8(k, right, a11)
                        k = splat8(w, 4 * t + 2)
                        a20, a21 = fma8(k, left, a20), fma8(k, right, a21)
                        k = splat8(w, 4 * t + 3)
                        a30, a31 = fma8(k, left, a30), fma8(k, right, a31)
                    d = 4 * ob * P + oh * OW + ow
                    store8(y, d, a00)
                    store8(y, d + 8, a01)
                    store8(y, d + P, a10)
                    store8(y, d + P + 8, a11)
                    store8(y, d + 2 * P, a20)
                    store8(y, d + 2 * P + 8, a21)
                    store8(y, d + 3 * P, a30)
                    store8(y, d + 3 * P + 8, a31)


def _vector_conv_grad_weight(x, g, offsets, ph, pw, padded, partial):
    """partial (O/4, C, G, 4, 3, 8) += the stride-1 weight gradient, per vector lane.

    Taps go three at a time: offsets (3G,) as in `_vector_conv` but within one
    channel (a short last group repeats a tap; its sums are dropped). 4 outputs x
    3 taps are 12 accumulators; each step loads one 8-column piece of g per output
    and of the input per tap. OW is a multiple of 8; the caller adds the lanes up.
    """
    blocks, C, groups = partial.shape[0], partial.shape[1], partial.shape[2]
    OH, OW = g.shape[2], g.shape[3]
    P = OH * OW
    Hp, Wp = padded.shape[1], padded.shape[2]
    image = padded.reshape(-1)
    sums = partial.reshape(-1)
    for n in range(x.shape[0]):
        _pad_image(x[n], ph, pw, padded)
        grad = g[n].reshape(-1)
        for ob in range(blocks):
            for c in range(C):
                for group in range(groups):
                    k = ((ob * C + c) * groups + group) * 96
                    a00, a01, a02 = load8(sums, k), load8(sums, k + 8), load8(sums, k + 16)
                    a10, a11, a12 = load8(sums, k + 24), load8(sums, k + 32), load8(sums, k + 40)
                    a20, a21, a22 = load8(sums, k + 48), load8(sums, k + 56), load8(sums, k + 64)
                    a30, a31, a32 = load8(sums, k + 72), load8(sums, k + 80), load8(sums, k + 88)
                    t0 = c * Hp * Wp + offsets[3 * group]
                    t1 = c * Hp * Wp + offsets[3 * group + 1]
                    t2 = c * Hp * Wp + offsets[3 * group + 2]
                    # one loop over every 8-column piece of the image, in reading order:
                    # g's pieces are contiguous, the input's pointer skips the padding at
                    # each row's end. Each block's loop is OH*OW/8 long with no restart
                    # (W3's second layer, one thread: 2.60 against 2.96 ms for columns
                    # outside and rows inside, AMD EPYC; that order had measured 1.42
                    # against 1.78 ms for a flat loop over a padded copy of g, Intel)
                    s = 0
                    col = 0
                    q = 4 * ob * P
                    for _ in range(P // 8):
                        in0, in1, in2 = load8(image, s + t0), load8(image, s + t1), load8(image, s + t2)
                        d = load8(grad, q)
                        a00, a01, a02 = fma8(d, in0, a00), fma8(d, in1, a01), fma8(d, in2, a02)
                        d = load8(grad, q + P)
                        a10, a11, a12 = fma8(d, in0, a10), fma8(d, in1, a11), fma8(d, in2, a12)
                        d = load8(grad, q + 2 * P)
                        a20, a21, a22 = fma8(d, in0, a20), fma8(d, in1, a21), fma8(d, in2, a22)
                        d = load8(grad, q + 3 * P)
                        a30, a31, a32 = fma8(d, in0, a30), fma8(d, in1, a31), fma8(d, in2, a32)
                        q += 8
                        s += 8
                        col += 8
                        if col == OW:
                            col = 0
                            s += Wp - OW
                    store8(sums, k, a00)
                    store8(sums, k + 8, a01)
                    store8(sums, k + 16, a02)
                    store8(sums, k + 24, a10)
                    store8(sums, k + 32, a11)
                    store8(sums, k + 40, a12)
                    store8(sums, k + 48, a20)
                    store8(sums, k + 56, a21)
                    store8(sums, k + 64, a22)
                    store8(sums, k + 72, a30)
                    store8(sums, k + 80, a31)
                    store8(sums, k + 88, a32)


# The same two kernels in 16-lane vectors, for CPUs with AVX-512 (kernels.simd): 32
# registers of 16 lanes hold twice the block. The forward takes 8 output channels x
# two 16-column pieces of the output (the next piece in reading order: the next row
# when rows are 16 wide), 16 accumulators; each tap adds two loads times 8 broadcast
# weights. The weight gradient takes 8 outputs x 3 taps, 24 accumulators.
def _eight_by_two(image, s0, s1, offsets, w, bias, o):
    """The block of `_wide_conv`: 8 output channels (from o) x two 16-column pieces whose
    first tap reads image[s0] and image[s1], 16 accumulators (a0-a7 for the first piece,
    then b0-b7), each started at its channel's bias; w = weights[o // 8] flat, (T, 8).
    Inlined into its callers (Numba IR), so the accumulators stay in registers."""
    T = offsets.shape[0]
    a0 = splat16(bias, o)
    a1 = splat16(bias, o + 1)
    a2 = splat16(bias, o + 2)
    a3 = splat16(bias, o + 3)
    a4 = splat16(bias, o + 4)
    a5 = splat16(bias, o + 5)
    a6 = splat16(bias, o + 6)
    a7 = splat16(bias, o + 7)
    b0, b1, b2, b3, b4, b5, b6, b7 = a0, a1, a2, a3, a4, a5, a6, a7
    for t in range(T):
        first = load16(image, s0 + offsets[t])
        second = load16(image, s1 + offsets[t])
        k = splat16(w, 8 * t)
        a0, b0 = fma16(k, first, a0), fma16(k, second, b0)
        k = splat16(w, 8 * t + 1)
        a1, b1 = fma16(k, first, a1), fma16(k, second, b1)
        k = splat16(w, 8 * t + 2)
        a2, b2 = fma16(k, first, a2), fma16(k, second, b2)
        k = splat16(w, 8 * t + 3)
        a3, b3 = fma16(k, first, a3), fma16(k, second, b3)
        k = splat16(w, 8 * t + 4)
        a4, b4 = fma16(k, first, a4), fma16(k, second, b4)
        k = splat16(w, 8 * t + 5)
        a5, b5 = fma16(k, first, a5), fma16(k, second, b5)
        k = splat16(w, 8 * t + 6)
        a6, b6 = fma16(k, first, a6), fma16(k, second, b6)
        k = splat16(w, 8 * t + 7)
        a7, b7 = fma16(k, first, a7), fma16(k, second, b7)
    return a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7


def _wide_conv(x, weights, bias, offsets, ph, pw, padded, out):
    """As `_vector_conv`, with weights (O/8, T, 8) and OW a multiple of 16."""
    blocks, T = weights.shape[0], weights.shape[1]
    OH, OW = out.shape[2], out.shape[3]
    P = OH * OW
    Wp = padded.shape[2]
    image = padded.reshape(-1)
    per_row = OW // 16
    pieces = OH * per_row
    for n in range(x.shape[0]):
        _pad_image(x[n], ph, pw, padded)
        y = out[n].reshape(-1)
        for ob in range(blocks):
            w = weights[ob].reshape(-1)
            o = 8 * ob
            for j in range(0, pieces, 2):
                j1 = min(j + 1, pieces - 1)     # an odd last piece is computed twice
                oh0, ow0 = j // per_row, (j % per_row) * 16
                oh1, ow1 = j1 // per_row, (j1 % per_row) * 16
                s0, s1 = oh0 * Wp + ow0, oh1 * Wp + ow1
                a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7 = _eight_by_two(
                    image, s0, s1, offsets, w, bias, o)
                d0 = o * P + oh0 * OW + ow0
                d1 = o * P + oh1 * OW + ow1
                store16(y, d0, a0)
                store16(y, d0 + P, a1)
                store16(y, d0 + 2 * P, a2)
                store16(y, d0 + 3 * P, a3)
                store16(y, d0 + 4 * P, a4)
                store16(y, d0 + 5 * P, a5)
                store16(y, d0 + 6 * P, a6)
                store16(y, d0 + 7 * P, a7)
                store16(y, d1, b0)
                store16(y, d1 + P, b1)
                store16(y, d1 + 2 * P, b2)
                store16(y, d1 + 3 * P, b3)
                store16(y, d1 + 4 * P, b4)
                store16(y, d1 + 5 * P, b5)
                store16(y, d1 + 6 * P, b6)
                store16(y, d1 + 7 * P, b7)


def _wide_conv_grad_weight(x, g, offsets, ph, pw, padded, partial):
    """As `_vector_conv_grad_weight`, with partial (O/8, C, G, 8, 3, 16) and OW a multiple of 16."""
    blocks, C, groups = partial.shape[0], partial.shape[1], partial.shape[2]
    OH, OW = g.shape[2], g.shape[3]
    P = OH * OW
    Hp, Wp = padded.shape[1], padded.shape[2]
    image = padded.reshape(-1)
    sums = partial.reshape(-1)
    for n in range(x.shape[0]):
        _pad_image(x[n], ph, pw, padded)
        grad = g[n].reshape(-1)
        for ob in range(blocks):
            for c in range(C):
                for group in range(groups):
                    k = ((ob * C + c) * groups + group) * 384
                    a00, a01, a02 = load16(sums, k), load16(sums, k + 16), load16(sums, k + 32)
                    a10, a11, a12 = load16(sums, k + 48), load16(sums, k + 64), load16(sums, k + 80)
                    a20, a21, a22 = load16(sums, k + 96), load16(sums, k + 112), load16(sums, k + 128)
                    a30, a31, a32 = load16(sums, k + 144), load16(sums, k + 160), load16(sums, k + 176)
                    a40, a41, a42 = load16(sums, k + 192), load16(sums, k + 208), load16(sums, k + 224)
                    a50, a51, a52 = load16(sums, k + 240), load16(sums, k + 256), load16(sums, k + 272)
                    a60, a61, a62 = load16(sums, k + 288), load16(sums, k + 304), load16(sums, k + 320)
                    a70, a71, a72 = load16(sums, k + 336), load16(sums, k + 352), load16(sums, k + 368)
                    t0 = c * Hp * Wp + offsets[3 * group]
                    t1 = c * Hp * Wp + offsets[3 * group + 1]
                    t2 = c * Hp * Wp + offsets[3 * group + 2]
                    for ow in range(0, OW, 16):
                        for oh in range(OH):
                            q = 8 * ob * P + oh * OW + ow
                            s = oh * Wp + ow
                            in0, in1, in2 = load16(image, s + t0), load16(image, s + t1), load16(image, s + t2)
                            d = load16(grad, q)
                            a00, a01, a02 = fma16(d, in0, a00), fma16(d, in1, a01), fma16(d, in2, a02)
                            d = load16(grad, q + P)
                            a10, a11, a12 = fma16(d, in0, a10), fma16(d, in1, a11), fma16(d, in2, a12)
                            d = load16(grad, q + 2 * P)
                            a20, a21, a22 = fma16(d, in0, a20), fma16(d, in1, a21), fma16(d, in2, a22)
                            d = load16(grad, q + 3 * P)
                            a30, a31, a32 = fma16(d, in0, a30), fma16(d, in1, a31), fma16(d, in2, a32)
                            d = load16(grad, q + 4 * P)
                            a40, a41, a42 = fma16(d, in0, a40), fma16(d, in1, a41), fma16(d, in2, a42)
                            d = load16(grad, q + 5 * P)
                            a50, a51, a52 = fma16(d, in0, a50), fma16(d, in1, a51), fma16(d, in2, a52)
                            d = load16(grad, q + 6 * P)
                            a60, a61, a62 = fma16(d, in0, a60), fma16(d, in1, a61), fma16(d, in2, a62)
                            d = load16(grad, q + 7 * P)
                            a70, a71, a72 = fma16(d, in0, a70), fma16(d, in1, a71), fma16(d, in2, a72)
                    store16(sums, k, a00)
                    store16(sums, k + 16, a01)
                    store16(sums, k + 32, a02)
                    store16(sums, k + 48, a10)
                    store16(sums, k + 64, a11)
                    store16(sums, k + 80, a12)
                    store16(sums, k + 96, a20)
                    store16(sums, k + 112, a21)
                    store16(sums, k + 128, a22)
                    store16(sums, k + 144, a30)
                    store16(sums, k + 160, a31)
                    store16(sums, k + 176, a32)
                    store16(sums, k + 192, a40)
                    store16(sums, k + 208, a41)
                    store16(sums, k + 224, a42)
                    store16(sums, k + 240, a50)
                    store16(sums, k + 256, a51)
                    store16(sums, k + 272, a52)
                    store16(sums, k + 288, a60)
                    store16(sums, k + 304, a61)
                    store16(sums, k + 320, a62)
                    store16(sums, k + 336, a70)
                    store16(sums, k + 352, a71)
                    store16(sums, k + 368, a72)


# A convolution followed by 2x2, stride-2 max-pooling, in one pass (al.compile's
# conv_pool rewrite; W3's first layer): the convolution's output is never written,
# only the pooled values and their argmax. Each image is padded and split into its
# even and odd columns, so that the even and the odd output columns are each 16
# contiguous lanes: a block is 4 output channels x the four positions of 16 windows
# (two rows x even/odd columns), 16 accumulators. The four are compared in an
# L1-sized scratch, first maximum in reading order, NaN winning, as max_pool2d does.
def _split_pad_image(image, ph, pw, split):
    """split (2, C, Hp, Wh): the zero-padded image's even columns, then its odd ones."""
    C, H, W = image.shape
    for c in range(C):
        for h in range(H):
            row = image[c, h]
            even = split[0, c, ph + h]
            odd = split[1, c, ph + h]
            for w in range(W):
                col = w + pw
                if col % 2 == 0:
                    even[col // 2] = row[w]
                else:
                    odd[col // 2] = row[w]


def _window_winner(a, b, c, d, codes):
    """The maximum of four positions lane by lane, first in reading order, NaN winning;
    and which position won, as 0.0-3.0 (codes holds 0, 1, 2, 3)."""
    code = splat16(codes, 0)
    code = winner16(b, a, splat16(codes, 1), code)
    best = winner16(b, a, b, a)
    code = winner16(c, best, splat16(codes, 2), code)
    best = winner16(c, best, c, best)
    code = winner16(d, best, splat16(codes, 3), code)
    best = winner16(d, best, d, best)
    return best, code


def _store_winner(a, b, c, d, codes, zero, relu, y, at, code_row, code_at):
    """y[at:at + 16] = the four positions' winner (relu of it with `relu`: NaN stays, as
    relu's), code_row[code_at:code_at + 16] = which position won, as 0.0-3.0."""
    best, code = _window_winner(a, b, c, d, codes)
    if relu:
        best = winner16(best, zero, best, zero)
    store16(y, at, best)
    store16(code_row, code_at, code)


def _store_pooled_pair(a, b, codes, zero, relu, y, at, code_row, code_at):
    """Rows a (2r) and b (2r + 1) of 16 output columns -> y[at:at + 8] = the 8 windows' maxima
    (even lanes of the winner: each window is a pair of lanes; relu of them with `relu`) and
    code_row[code_at:code_at + 8] = which of the four won, as 0.0-3.0."""
    best, code = _window_winner(a, pairs_swapped16(a), b, pairs_swapped16(b), codes)
    if relu:
        best = winner16(best, zero, best, zero)    # NaN stays, as relu's
    store8(y, at, even_lanes16(best))
    store8(code_row, code_at, even_lanes16(code))


def _wide_conv_max_pool_pairs(x, weights, bias, offsets, ph, pw, padded, scratch, out, argmax, first_index,
                              relu):
    """As `_wide_conv_max_pool` (out, argmax, relu), with each window a pair of lanes: a block
    is 8 output channels x two output rows (2r, 2r + 1) of 16 columns, 16 accumulators, as
    `_wide_conv`'s; the rows' maxima lane by lane, then each lane against its neighbour.

    weights (O/8, T, 8) and offsets (T,) as `_wide_conv`'s; padded as `_vector_conv`'s;
    scratch (72,): 64 codes, then 0, 1, 2, 3. OW is a multiple of 16, OH is even.
    """
    blocks, T = weights.shape[0], weights.shape[1]
    O, PH, PW = out.shape[1], out.shape[2], out.shape[3]
    OH, OW = 2 * PH, 2 * PW
    Wp = padded.shape[2]
    image = padded.reshape(-1)
    codes = scratch[64:]
    zero = splat16(codes, 0)
    for n in range(x.shape[0]):
        _pad_image(x[n], ph, pw, padded)
        y = out[n].reshape(-1)
        for ob in range(blocks):
            w = weights[ob].reshape(-1)
            o = 8 * ob
            for r in range(PH):
                for ow in range(0, OW, 16):
                    top = 2 * r * Wp + ow
                    bottom = top + Wp
                    a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7 = _eight_by_two(
                        image, top, bottom, offsets, w, bias, o)
                    d = (o * PH + r) * PW + ow // 2
                    _store_pooled_pair(a0, b0, codes, zero, relu, y, d, scratch, 0)
                    _store_pooled_pair(a1, b1, codes, zero, relu, y, d + PH * PW, scratch, 8)
                    _store_pooled_pair(a2, b2, codes, zero, relu, y, d + 2 * PH * PW, scratch, 16)
                    _store_pooled_pair(a3, b3, codes, zero, relu, y, d + 3 * PH * PW, scratch, 24)
                    _store_pooled_pair(a4, b4, codes, zero, relu, y, d + 4 * PH * PW, scratch, 32)
                    _store_pooled_pair(a5, b5, codes, zero, relu, y, d + 5 * PH * PW, scratch, 40)
                    _store_pooled_pair(a6, b6, codes, zero, relu, y, d + 6 * PH * PW, scratch, 48)
                    _store_pooled_pair(a7, b7, codes, zero, relu, y, d + 7 * PH * PW, scratch, 56)
                    for ch in range(8):
                        base = first_index + ((n * O + o + ch) * OH + 2 * r) * OW + ow
                        row = argmax[n, o + ch, r]
                        for lane in range(8):
                            k = np.int64(scratch[8 * ch + lane])
                            row[ow // 2 + lane] = base + 2 * lane + (k & 1) + (k >> 1) * OW


def _wide_conv_max_pool(x, weights, bias, even_offsets, odd_offsets, ph, pw, split, scratch, out, argmax,
                        first_index, relu):
    """out (N, O, OH/2, OW/2), argmax (flat indices into the (N, O, OH, OW) convolution,
    counted from first_index) = the 2x2 max-pool of the stride-1 convolution of x; with
    `relu`, out = relu(that) (the argmax stays the pool's).

    weights (O/4, T, 4) as in `_vector_conv`; even_offsets / odd_offsets (T,): where tap t
    of an even / odd output column reads in `split`, relative to the window's row and
    pooled column; scratch (5, 16): four rows of codes, then 0, 1, 2, 3. OW/2 is a
    multiple of 16, OH is even.
    """
    blocks, T = weights.shape[0], weights.shape[1]
    O, PH, PW = out.shape[1], out.shape[2], out.shape[3]
    OH, OW = 2 * PH, 2 * PW
    Wh = split.shape[3]
    image = split.reshape(-1)
    code_row = scratch.reshape(-1)
    codes = scratch[4].reshape(-1)
    zero = splat16(codes, 0)
    for n in range(x.shape[0]):
        _split_pad_image(x[n], ph, pw, split)
        y = out[n].reshape(-1)
        for ob in range(blocks):
            w = weights[ob].reshape(-1)
            o = 4 * ob
            for r in range(PH):
                for j in range(0, PW, 16):
                    top = 2 * r * Wh + j
                    bottom = top + Wh
                    a0 = splat16(bias, o)
                    a1 = splat16(bias, o + 1)
                    a2 = splat16(bias, o + 2)
                    a3 = splat16(bias, o + 3)
                    b0, b1, b2, b3 = a0, a1, a2, a3
                    c0, c1, c2, c3 = a0, a1, a2, a3
                    d0, d1, d2, d3 = a0, a1, a2, a3
                    for t in range(T):
                        te = load16(image, top + even_offsets[t])
                        to = load16(image, top + odd_offsets[t])
                        be = load16(image, bottom + even_offsets[t])
                        bo = load16(image, bottom + odd_offsets[t])
                        k = splat16(w, 4 * t)
                        a0, b0, c0, d0 = fma16(k, te, a0), fma16(k, to, b0), fma16(k, be, c0), fma16(k, bo, d0)
                        k = splat16(w, 4 * t + 1)
                        a1, b1, c1, d1 = fma16(k, te, a1), fma16(k, to, b1), fma16(k, be, c1), fma16(k, bo, d1)
                        k = splat16(w, 4 * t + 2)
                        a2, b2, c2, d2 = fma16(k, te, a2), fma16(k, to, b2), fma16(k, be, c2), fma16(k, bo, d2)
                        k = splat16(w, 4 * t + 3)
                        a3, b3, c3, d3 = fma16(k, te, a3), fma16(k, to, b3), fma16(k, be, c3), fma16(k, bo, d3)
                    # each window's winner (its value, and its position 0-3 in reading order
                    # as a float code), in registers; then the codes become flat indices
                    _store_winner(a0, b0, c0, d0, codes, zero, relu, y, (o * PH + r) * PW + j, code_row, 0)
                    _store_winner(a1, b1, c1, d1, codes, zero, relu, y, ((o + 1) * PH + r) * PW + j, code_row, 16)
                    _store_winner(a2, b2, c2, d2, codes, zero, relu, y, ((o + 2) * PH + r) * PW + j, code_row, 32)
                    _store_winner(a3, b3, c3, d3, codes, zero, relu, y, ((o + 3) * PH + r) * PW + j, code_row, 48)
                    for ch in range(4):
                        base = first_index + ((n * O + o + ch) * OH + 2 * r) * OW + 2 * j
                        row = argmax[n, o + ch, r]
                        for lane in range(16):
                            k = np.int64(code_row[16 * ch + lane])
                            row[j + lane] = base + 2 * lane + (k & 1) + (k >> 1) * OW


# The first layer's weight gradient from its pool's gradient (al.compile's pool_grad_weight):
# the gradient of the convolution's output is the pooled gradient at each window's winner
# and 0 elsewhere, so it is never built; each window's pooled gradient meets the input at
# the winner's position. Per image: the winners' positions (0-3, reading order) from the
# argmax, the image split into even and odd columns as in `_wide_conv_max_pool`; a block
# is 4 output channels x 3 taps, 12 accumulators, over every window of the image.
def _window_codes(argmax, first_index, O, OH, OW, codes):
    """codes (O, PH, PW) = the winner's position in its window (0-3), from flat indices."""
    PH, PW = codes.shape[1], codes.shape[2]
    for o in range(O):
        for r in range(PH):
            base = first_index + (o * OH + 2 * r) * OW
            src = argmax[o, r]
            dst = codes[o, r]
            for m in range(PW):
                at = src[m] - base - 2 * m
                dst[m] = (at & 1) + 2 * (at >= OW)


def _wide_conv_grad_weight_pooled(x, gradient, argmax, first_index, even_offsets, odd_offsets, ph, pw, split,
                                  codes, levels, partial):
    """partial (O/4, G, 4, 3, 16) += the weight gradient per lane, taps in threes (offsets of
    3G taps, a short last group repeating a tap); gradient, argmax (N, O, PH, PW), PW a
    multiple of 16; codes (O, PH, PW) scratch; levels (4,): 0, 1, 2, 3."""
    blocks, groups = partial.shape[0], partial.shape[1]
    N, O, PH, PW = gradient.shape
    OH, OW = 2 * PH, 2 * PW
    Wh = split.shape[3]
    image = split.reshape(-1)
    sums = partial.reshape(-1)
    flat_codes = codes.reshape(-1)
    zero = splat16(levels, 0)
    for n in range(N):
        _split_pad_image(x[n], ph, pw, split)
        _window_codes(argmax[n], first_index + n * O * OH * OW, O, OH, OW, codes)
        grad = gradient[n].reshape(-1)
        for ob in range(blocks):
            for group in range(groups):
                k = (ob * groups + group) * 192
                a00, a01, a02 = load16(sums, k), load16(sums, k + 16), load16(sums, k + 32)
                a10, a11, a12 = load16(sums, k + 48), load16(sums, k + 64), load16(sums, k + 80)
                a20, a21, a22 = load16(sums, k + 96), load16(sums, k + 112), load16(sums, k + 128)
                a30, a31, a32 = load16(sums, k + 144), load16(sums, k + 160), load16(sums, k + 176)
                for r in range(PH):
                    for j in range(0, PW, 16):
                        q = (4 * ob * PH + r) * PW + j
                        g0, g1 = load16(grad, q), load16(grad, q + PH * PW)
                        g2, g3 = load16(grad, q + 2 * PH * PW), load16(grad, q + 3 * PH * PW)
                        c0, c1 = load16(flat_codes, q), load16(flat_codes, q + PH * PW)
                        c2, c3 = load16(flat_codes, q + 2 * PH * PW), load16(flat_codes, q + 3 * PH * PW)
                        for position in range(4):
                            row = (2 * r + (position >> 1)) * Wh + j
                            if position & 1:
                                t0 = row + odd_offsets[3 * group]
                                t1 = row + odd_offsets[3 * group + 1]
                                t2 = row + odd_offsets[3 * group + 2]
                            else:
                                t0 = row + even_offsets[3 * group]
                                t1 = row + even_offsets[3 * group + 1]
                                t2 = row + even_offsets[3 * group + 2]
                            in0, in1, in2 = load16(image, t0), load16(image, t1), load16(image, t2)
                            level = splat16(levels, position)
                            d = equal16(c0, level, g0, zero)
                            a00, a01, a02 = fma16(d, in0, a00), fma16(d, in1, a01), fma16(d, in2, a02)
                            d = equal16(c1, level, g1, zero)
                            a10, a11, a12 = fma16(d, in0, a10), fma16(d, in1, a11), fma16(d, in2, a12)
                            d = equal16(c2, level, g2, zero)
                            a20, a21, a22 = fma16(d, in0, a20), fma16(d, in1, a21), fma16(d, in2, a22)
                            d = equal16(c3, level, g3, zero)
                            a30, a31, a32 = fma16(d, in0, a30), fma16(d, in1, a31), fma16(d, in2, a32)
                store16(sums, k, a00)
                store16(sums, k + 16, a01)
                store16(sums, k + 32, a02)
                store16(sums, k + 48, a10)
                store16(sums, k + 64, a11)
                store16(sums, k + 80, a12)
                store16(sums, k + 96, a20)
                store16(sums, k + 112, a21)
                store16(sums, k + 128, a22)
                store16(sums, k + 144, a30)
                store16(sums, k + 160, a31)
                store16(sums, k + 176, a32)


_copy = jit(_copy)
_add = jit(_add)
_valid_range = jit(_valid_range)
_valid_rows = jit(_valid_rows)
_zero = jit(_zero)
_copy_kept = jit(_copy_kept)
_kept_columns = jit(_kept_columns)
_im2col_same_width = jit(_im2col_same_width)
im2col_kernel = jit(_im2col)
_pad_image = jit(_pad_image)
# Both: contract, multiply-adds fused (one rounding instead of two). The weight
# gradient also: reassoc, so its dot products may be split across vector lanes,
# as BLAS splits them. Neither assumes finite values: NaN and inf propagate.
direct3x3_kernel = jit(_direct3x3, fastmath={"contract"})
direct3x3_grad_weight_kernel = jit(_direct3x3_grad_weight, fastmath={"reassoc", "contract"})
col2im_kernel = jit(_col2im)
vector_conv_kernel = jit(_vector_conv)
vector_conv_grad_weight_kernel = jit(_vector_conv_grad_weight)
_eight_by_two = jit(_eight_by_two, inline="always")
wide_conv_kernel = jit(_wide_conv)
_split_pad_image = jit(_split_pad_image)
_window_winner = jit(_window_winner)
_store_winner = jit(_store_winner)
_store_pooled_pair = jit(_store_pooled_pair)
wide_conv_max_pool_pairs_kernel = jit(_wide_conv_max_pool_pairs)
_window_codes = jit(_window_codes)
wide_conv_grad_weight_pooled_kernel = jit(_wide_conv_grad_weight_pooled)
wide_conv_max_pool_kernel = jit(_wide_conv_max_pool)
wide_conv_grad_weight_kernel = jit(_wide_conv_grad_weight)
rows_to_images_kernel = jit(_rows_to_images)
images_to_rows_kernel = jit(_images_to_rows)
# Reassociating the sum (and nothing else: NaN and inf keep their meaning) lets
# LLVM vectorise it, 3x faster than numpy's g.sum((0, 2, 3)); the error stays
# at numpy's level (partial sums per vector lane, much like pairwise summation).
channel_sums_kernel = jit(_channel_sums, fastmath={"reassoc"})


# ---- a worker's share of the batch: a loop over its chunks ---------------------------
# Buffers are flat and reshaped per chunk: a view of the first n*P columns of a 2-D
# buffer would not be contiguous, and the kernels' loops vectorise only over
# contiguous rows. The compiled pieces and BLAS release the GIL; between them a
# worker takes it back for a few µs. Until 2026-12 each share was one compiled loop
# calling BLAS through a function pointer; docs/performance.md says what that
# bought (nothing on W2 and W3, whose convolutions take the direct kernels) and why it went.
def _first(buffer, rows, columns):
    """The first rows*columns elements of a flat buffer, as a contiguous (rows, columns) array."""
    return buffer[:rows * columns].reshape(rows, columns)


def forward_chunks(ranges, x, weights, bias, args, cols, rows, out):
    """out[lo:hi] = conv(x[lo:hi]) + bias for each chunk [lo, hi): im2col, product, back to images."""
    O, taps = weights.shape
    P = args[-2] * args[-1]
    for lo, hi in ranges:
        columns, products = _first(cols, taps, (hi - lo) * P), _first(rows, O, (hi - lo) * P)
        im2col_kernel(x[lo:hi], *args, columns)
        np.matmul(weights, columns, out=products)
        rows_to_images_kernel(products, bias, hi - lo, out[lo:hi])


def grad_weight_chunks(ranges, x, g, args, cols, rows, total):
    """total (O, taps) += g's rows @ the columns of x, over each chunk."""
    O, taps = total.shape
    P = args[-2] * args[-1]
    for lo, hi in ranges:
        columns, g_rows = _first(cols, taps, (hi - lo) * P), _first(rows, O, (hi - lo) * P)
        im2col_kernel(x[lo:hi], *args, columns)
        images_to_rows_kernel(g[lo:hi], g_rows)
        total += g_rows @ columns.T


def grad_input_chunks(ranges, g, weights_t, args, rows, dcols, dx):
    """dx[lo:hi] = the columns' gradient (weights' transpose @ g's rows) added back into images."""
    taps, O = weights_t.shape
    P = args[-2] * args[-1]
    for lo, hi in ranges:
        columns, g_rows = _first(dcols, taps, (hi - lo) * P), _first(rows, O, (hi - lo) * P)
        images_to_rows_kernel(g[lo:hi], g_rows)
        np.matmul(weights_t, g_rows, out=columns)
        dx[lo:hi] = 0                 # zeroed here, in cache, rather than all at once up front
        col2im_kernel(columns, *args, dx[lo:hi])


# ---- array-level functions ------------------------------------------------------------
def _geometry(x_shape, w_shape, stride, padding, dilation):
    N, C, H, W = x_shape
    O, _, KH, KW = w_shape
    OH = output_size(H, KH, stride[0], padding[0], dilation[0])
    OW = output_size(W, KW, stride[1], padding[1], dilation[1])
    taps = C * KH * KW
    # scratch per image: columns, their gradient, and the product rows
    chunk = chunk_size(N, 4 * OH * OW * (2 * taps + O))
    args = (KH, KW, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], OH, OW)
    return N, O, taps, OH * OW, chunk, args


# Below these input-channel counts a 3x3, stride-1 convolution that the vector kernels
# do not take runs direct rather than as im2col + product. (W3's first layer, one
# channel, on 2 threads: vector kernels 0.36 ms forward and 0.52 ms weight gradient,
# direct 0.57 and 2.07 ms.) Measured on 2 threads, (64, C, 40, 32) input, 16
# outputs, forward: C=1 0.37 against 0.71 ms, C=2 0.59 against 0.81, C=4 1.05
# against 1.26, C=8 (20x16) 1.49 against 0.97; weight gradient: C=1 0.85 against
# 1.22 ms, C=2 even, C=4 3.0 against 1.6.
DIRECT_FORWARD_MAX_CHANNELS = 4
DIRECT_GRAD_WEIGHT_MAX_CHANNELS = 1


def _direct(w_shape, stride, dilation, max_channels):
    return (tuple(w_shape[2:]) == (3, 3) and w_shape[1] <= max_channels
            and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1))


def _direct_scratch(x_shape, padding, dtype):
    """Per-worker buffers of the direct kernels: a zero-bordered image and one output plane."""
    _, C, H, W = x_shape
    Wp = W + 2 * padding[1]
    OH = H + 2 * padding[0] - 2
    return np.zeros((C, H + 2 * padding[0], Wp), dtype), np.empty(OH * Wp, dtype)


# The vector kernels hold 4 output channels x 16 (forward) or 8 (weight gradient)
# columns per block, in float32; other shapes and float64 take im2col.
VECTOR_OUTPUTS = 4


def _vector(dtype, outputs, columns, width, stride):
    return (dtype == np.float32 and outputs % VECTOR_OUTPUTS == 0 and columns % width == 0
            and tuple(stride) == (1, 1) and vector_kernels_fit())


# The 16-lane kernels (AVX-512) hold 8 output channels per block.
WIDE_OUTPUTS = 8


def _wide(outputs):
    return outputs % WIDE_OUTPUTS == 0 and wide_kernels_fit()


def _tap_offsets(channels, KH, KW, Hp, Wp, dilation):
    """Where each tap (c, kh, kw) reads in a flat padded image of Hp x Wp, relative to the output."""
    dh, dw = dilation
    return np.array([c * Hp * Wp + kh * dh * Wp + kw * dw
                     for c in range(channels) for kh in range(KH) for kw in range(KW)], np.int64)


def _vector_forward(x, w, bias, padding, dilation):
    """The forward through `vector_conv_kernel`; also the input gradient's transposed convolution."""
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    Hp, Wp = H + 2 * padding[0], W + 2 * padding[1]
    OH, OW = Hp - dilation[0] * (KH - 1), Wp - dilation[1] * (KW - 1)
    wide = _wide(O)
    outputs = WIDE_OUTPUTS if wide else VECTOR_OUTPUTS
    kernel = wide_conv_kernel if wide else vector_conv_kernel
    weights = np.ascontiguousarray(w.reshape(O // outputs, outputs, C * KH * KW).transpose(0, 2, 1))
    offsets = _tap_offsets(C, KH, KW, Hp, Wp, dilation)
    out = np.empty((N, O, OH, OW), x.dtype)

    def work(ranges):
        padded = np.zeros((C, Hp, Wp), x.dtype)
        for lo, hi in ranges:
            kernel(x[lo:hi], weights, bias, offsets, padding[0], padding[1], padded, out[lo:hi])

    run_chunks(N, chunk_size(N, out[0].nbytes + x[0].nbytes), work)
    return out


def conv_max_pool_fits(x_shape, w_shape, dtype, stride, padding, dilation):
    """Whether `conv2d_max_pool2d` runs a fused kernel here: the 16-lane kernels (AVX-512),
    float32, stride 1, an even number of output rows, and either outputs in eights and rows
    of 16k columns (`_wide_conv_max_pool_pairs`) or outputs in fours and rows of 32k
    (`_wide_conv_max_pool`)."""
    N, C, H, W = x_shape
    O, _, KH, KW = w_shape
    OH = output_size(H, KH, 1, padding[0], dilation[0])
    OW = output_size(W, KW, 1, padding[1], dilation[1])
    return (np.dtype(dtype) == np.float32 and tuple(stride) == (1, 1) and OH > 0 and OH % 2 == 0 and OW > 0
            and ((O % WIDE_OUTPUTS == 0 and OW % 16 == 0) or (O % VECTOR_OUTPUTS == 0 and OW % 32 == 0))
            and wide_kernels_fit())


def conv2d_max_pool2d(x, w, b, stride, padding, dilation, relu=False):
    """(max_pool2d(conv2d(x, w) + b, 2), argmax), with `relu` relu of the pooled values: the
    argmax as kernels.pool's max-pool of the convolution's output gives it, so its backward
    is max-pooling's backward. Runs the fused kernel where `conv_max_pool_fits`, else the
    separate passes."""
    from .elementwise import relu as relu_kernel_of
    from .pool import max_pool2d_forward
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    (ph, pw), (dh, dw) = padding, dilation
    Hp, Wp = H + 2 * ph, W + 2 * pw
    OH, OW = Hp - dh * (KH - 1), Wp - dw * (KW - 1)
    if not (conv_max_pool_fits(x.shape, w.shape, np.result_type(x, w, *(() if b is None else (b,))), stride,
                               padding, dilation) and x.dtype == np.float32):
        out, argmax = max_pool2d_forward(conv2d_forward(x, w, b, stride, padding, dilation), (2, 2), (2, 2), (0, 0))
        return (relu_kernel_of(out) if relu else out), argmax
    w = np.ascontiguousarray(w, dtype=np.float32)
    bias = np.zeros(O, np.float32) if b is None else np.ascontiguousarray(b, dtype=np.float32)
    out = np.empty((N, O, OH // 2, OW // 2), np.float32)
    argmax = np.empty(out.shape, np.int64)
    image_size = O * OH * OW
    chunk = chunk_size(N, out[0].nbytes + argmax[0].nbytes + x[0].nbytes)
    # rows of 32k with outputs in fours take the split-column kernel (W3's first layer: 0.62
    # against 0.88 ms for the pairs kernel); else outputs in eights and rows of 16k (fits)
    if not (O % VECTOR_OUTPUTS == 0 and OW % 32 == 0):
        weights = np.ascontiguousarray(w.reshape(O // WIDE_OUTPUTS, WIDE_OUTPUTS, C * KH * KW).transpose(0, 2, 1))
        offsets = _tap_offsets(C, KH, KW, Hp, Wp, dilation)

        def pairs(ranges):
            padded = np.zeros((C, Hp, Wp), np.float32)
            scratch = np.zeros(72, np.float32)
            scratch[64:68] = np.arange(4)
            for lo, hi in ranges:
                wide_conv_max_pool_pairs_kernel(x[lo:hi], weights, bias, offsets, ph, pw, padded, scratch,
                                                out[lo:hi], argmax[lo:hi], lo * image_size, relu)
        run_chunks(N, chunk, pairs)
        return out, argmax
    weights = np.ascontiguousarray(w.reshape(O // VECTOR_OUTPUTS, VECTOR_OUTPUTS, C * KH * KW).transpose(0, 2, 1))
    Wh = (Wp + 1) // 2
    taps = [(c, kh, kw) for c in range(C) for kh in range(KH) for kw in range(KW)]
    # output column 2m + parity, tap kw reads padded column 2m + parity + kw*dw: split plane
    # (parity + kw*dw) % 2, column m + (parity + kw*dw) // 2
    offsets = [np.array([((((parity + kw * dw) % 2) * C + c) * Hp + kh * dh) * Wh + (parity + kw * dw) // 2
                         for c, kh, kw in taps], np.int64) for parity in (0, 1)]

    def work(ranges):
        split = np.zeros((2, C, Hp, Wh), np.float32)
        scratch = np.zeros((5, 16), np.float32)
        scratch[4, :4] = np.arange(4)
        for lo, hi in ranges:
            wide_conv_max_pool_kernel(x[lo:hi], weights, bias, offsets[0], offsets[1], ph, pw, split, scratch,
                                      out[lo:hi], argmax[lo:hi], lo * image_size, relu)

    run_chunks(N, chunk, work)
    return out, argmax


def pooled_grad_weight_fits(x_shape, w_shape, dtype, stride, padding, dilation):
    """Whether `conv2d_grad_weight_pooled` has its kernel here: where `conv2d_max_pool2d` splits
    the columns (outputs in fours, rows of 32k columns, an even number of rows, AVX-512)."""
    O = w_shape[0]
    OW = output_size(x_shape[3], w_shape[3], 1, padding[1], dilation[1])
    return (conv_max_pool_fits(x_shape, w_shape, dtype, stride, padding, dilation)
            and O % VECTOR_OUTPUTS == 0 and OW % 32 == 0)


def conv2d_grad_weight_pooled(x, gradient, argmax, w_shape, stride, padding, dilation):
    """conv2d_grad_weight(x, g) where g is the input gradient of a 2x2, stride-2 max-pool of the
    convolution (`gradient` at each window's winner, `argmax` as kernels.pool gives it, flat
    indices into the convolution's output), without building g. Elsewhere: the scatter,
    then conv2d_grad_weight."""
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    O, _, KH, KW = w_shape
    (ph, pw), (dh, dw) = padding, dilation
    Hp, Wp = H + 2 * ph, W + 2 * pw
    OH, OW = Hp - dh * (KH - 1), Wp - dw * (KW - 1)
    gradient = np.ascontiguousarray(gradient).reshape(argmax.shape)
    if not (pooled_grad_weight_fits(x.shape, w_shape, np.result_type(x, gradient), stride, padding, dilation)
            and x.dtype == gradient.dtype == np.float32 and argmax.shape == (N, O, OH // 2, OW // 2)):
        from .pool import max_pool2d_backward
        return conv2d_grad_weight(x, max_pool2d_backward(gradient, argmax, (N, O, OH, OW)), w_shape, stride,
                                  padding, dilation)
    argmax = np.ascontiguousarray(argmax)
    Wh = (Wp + 1) // 2
    taps = C * KH * KW
    groups = -(-taps // 3)
    order = [(c, kh, kw) for c in range(C) for kh in range(KH) for kw in range(KW)]
    order += [order[-1]] * (3 * groups - taps)
    offsets = [np.array([((((parity + kw * dw) % 2) * C + c) * Hp + kh * dh) * Wh + (parity + kw * dw) // 2
                         for c, kh, kw in order], np.int64) for parity in (0, 1)]
    levels = np.arange(4, dtype=np.float32)
    image_size = O * OH * OW

    def work(ranges):
        split = np.zeros((2, C, Hp, Wh), np.float32)
        codes = np.empty((O, OH // 2, OW // 2), np.float32)
        partial = np.zeros((O // VECTOR_OUTPUTS, groups, VECTOR_OUTPUTS, 3, 16), np.float32)
        for lo, hi in ranges:
            wide_conv_grad_weight_pooled_kernel(x[lo:hi], gradient[lo:hi], argmax[lo:hi], lo * image_size,
                                                offsets[0], offsets[1], ph, pw, split, codes, levels, partial)
        return partial

    partial = sum(run_chunks(N, chunk_size(N, 3 * gradient[0].nbytes + x[0].nbytes), work))
    # (O/4, groups, 4, 3, lanes) -> lanes added up -> (O, taps)
    sums = partial.sum(axis=-1).transpose(0, 2, 1, 3).reshape(O, 3 * groups)
    return np.ascontiguousarray(sums[:, :taps]).reshape(w_shape)


def _vector_grad_input(g, w, x_shape, padding, dilation):
    """dx = g, padded by each tap's reach less the forward's padding, convolved with w
    flipped and with its channel axes swapped."""
    KH, KW = w.shape[2:]
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    reach = (dilation[0] * (KH - 1) - padding[0], dilation[1] * (KW - 1) - padding[1])
    dx = _vector_forward(g, flipped, np.zeros(x_shape[1], g.dtype), reach, dilation)
    assert dx.shape == tuple(x_shape)
    return dx


def _vector_grad_weight(x, g, w_shape, padding, dilation):
    N, C, H, W = x.shape
    O, _, KH, KW = w_shape
    Hp, Wp = H + 2 * padding[0], W + 2 * padding[1]
    taps = KH * KW
    groups = -(-taps // 3)
    offsets = _tap_offsets(1, KH, KW, Hp, Wp, dilation)
    offsets = np.concatenate([offsets, np.repeat(offsets[-1:], 3 * groups - taps)])

    wide = _wide(O) and g.shape[3] % 16 == 0
    outputs, lanes = (WIDE_OUTPUTS, 16) if wide else (VECTOR_OUTPUTS, 8)
    kernel = wide_conv_grad_weight_kernel if wide else vector_conv_grad_weight_kernel

    def work(ranges):
        padded = np.zeros((C, Hp, Wp), x.dtype)
        partial = np.zeros((O // outputs, C, groups, outputs, 3, lanes), x.dtype)
        for lo, hi in ranges:
            kernel(x[lo:hi], g[lo:hi], offsets, padding[0], padding[1], padded, partial)
        return partial

    partial = sum(run_chunks(N, chunk_size(N, g[0].nbytes + x[0].nbytes), work))
    # (blocks, C, groups, outputs, 3, lanes) -> lanes added up -> (O, C, taps)
    sums = partial.sum(axis=-1).transpose(0, 3, 1, 2, 4).reshape(O, C, 3 * groups)
    return np.ascontiguousarray(sums[:, :, :taps]).reshape(w_shape)


def conv2d_forward(x, w, b, stride, padding, dilation):
    """y = conv(x, w) + b, NCHW."""
    x = np.asarray(x)
    dtype = np.result_type(x, w)
    x = np.ascontiguousarray(x, dtype=dtype)
    N, O, taps, P, chunk, args = _geometry(x.shape, w.shape, stride, padding, dilation)
    bias = np.zeros(O, dtype) if b is None else np.ascontiguousarray(b, dtype=dtype)
    if _vector(dtype, O, args[-1], 16, stride):
        return _vector_forward(x, np.ascontiguousarray(w, dtype=dtype), bias, padding, dilation)
    if _direct(w.shape, stride, dilation, DIRECT_FORWARD_MAX_CHANNELS):
        return _direct_forward(x, np.ascontiguousarray(w, dtype=dtype), bias, padding, args[-2], args[-1])
    weights = np.ascontiguousarray(w.reshape(O, taps), dtype=dtype)
    out = np.empty((N, O, P), dtype)

    def work(ranges):
        cols, rows = np.empty(taps * chunk * P, dtype), np.empty(O * chunk * P, dtype)
        forward_chunks(ranges, x, weights, bias, args, cols, rows, out)

    run_chunks(N, chunk, work)
    return out.reshape(N, O, args[-2], args[-1])


def _direct_forward(x, w, bias, padding, OH, OW):
    N, O = x.shape[0], w.shape[0]
    out = np.empty((N, O, OH, OW), x.dtype)

    def work(ranges):
        padded, plane = _direct_scratch(x.shape, padding, x.dtype)
        for lo, hi in ranges:
            direct3x3_kernel(x[lo:hi], w, bias, padding[0], padding[1], padded, plane, out[lo:hi])

    run_chunks(N, chunk_size(N, out[0].nbytes + x[0].nbytes), work)
    return out


def _direct_grad_weight(x, g, w_shape, padding):
    N = x.shape[0]

    def work(ranges):
        padded, plane = _direct_scratch(x.shape, padding, x.dtype)
        total = np.zeros(w_shape[:2] + (9,))
        for lo, hi in ranges:
            direct3x3_grad_weight_kernel(x[lo:hi], g[lo:hi], padding[0], padding[1], padded, plane, total)
        return total

    return sum(run_chunks(N, chunk_size(N, g[0].nbytes + x[0].nbytes), work)).reshape(w_shape).astype(x.dtype)


def conv2d_grad_weight(x, g, w_shape, stride, padding, dilation):
    """d<g, conv(x, w)>/dw."""
    x = np.asarray(x)
    dtype = np.result_type(x, g)
    x = np.ascontiguousarray(x, dtype=dtype)
    N, O, taps, P, chunk, args = _geometry(x.shape, w_shape, stride, padding, dilation)
    # The direct kernel also multiplies the dropped columns (where g is 0) by
    # neighbouring inputs: 0 * inf would put a NaN where the true gradient has none.
    if _vector(dtype, O, args[-1], 8, stride):
        return _vector_grad_weight(x, np.ascontiguousarray(g, dtype=dtype), tuple(w_shape), padding, dilation)
    if _direct(w_shape, stride, dilation, DIRECT_GRAD_WEIGHT_MAX_CHANNELS) and np.isfinite(x).all():
        return _direct_grad_weight(x, np.ascontiguousarray(g, dtype=dtype), tuple(w_shape), padding)
    g = np.ascontiguousarray(g, dtype=dtype).reshape(N, O, P)

    def work(ranges):
        cols, rows = np.empty(taps * chunk * P, dtype), np.empty(O * chunk * P, dtype)
        total = np.zeros((O, taps), dtype)
        grad_weight_chunks(ranges, x, g, args, cols, rows, total)
        return total

    return sum(run_chunks(N, chunk, work)).reshape(w_shape)


def conv2d_grad_input(g, w, x_shape, stride, padding, dilation):
    """d<g, conv(x, w)>/dx: the transposed convolution of g with w."""
    N, O, taps, P, chunk, args = _geometry(x_shape, w.shape, stride, padding, dilation)
    dtype = np.result_type(g, w)
    # The transposed convolution also multiplies the border's zeros by every tap:
    # 0 * inf would put a NaN where the true gradient has none. Padding wider than
    # a tap's reach would need a crop; both stay on im2col.
    reach_covers_padding = all(d * (k - 1) >= p for d, k, p in zip(dilation, w.shape[2:], padding))
    if (_vector(dtype, x_shape[1], x_shape[3], 16, stride) and reach_covers_padding
            and np.isfinite(w).all()):
        return _vector_grad_input(np.ascontiguousarray(g, dtype=dtype), np.asarray(w, dtype), x_shape,
                                  padding, dilation)
    g = np.ascontiguousarray(g, dtype=dtype).reshape(N, O, P)
    weights_t = np.ascontiguousarray(w.reshape(O, taps).T, dtype=dtype)
    dx = np.empty(x_shape, dtype)

    def work(ranges):
        rows, dcols = np.empty(O * chunk * P, dtype), np.empty(taps * chunk * P, dtype)
        grad_input_chunks(ranges, g, weights_t, args, rows, dcols, dx)

    run_chunks(N, chunk, work)
    return dx


def conv2d_grad_bias(g):
    """d<g, conv(x, w) + b>/db: g summed over batch and positions, per channel."""
    g = np.ascontiguousarray(g)
    N, O = g.shape[:2]
    rows = g.reshape(N, O, -1)
    sums = np.empty((N, O), g.dtype)

    def work(ranges):
        for lo, hi in ranges:
            channel_sums_kernel(rows[lo:hi], sums[lo:hi])
    run_chunks(N, chunk_size(N, g[0].nbytes), work)
    return sums.sum(axis=0)


def im2col(x, kernel, stride, padding, dilation):
    """The whole (C*KH*KW, N*OH*OW) column matrix (for tests and teaching)."""
    N, C = x.shape[:2]
    _, _, taps, P, _, args = _geometry(x.shape, (1, C) + tuple(kernel), stride, padding, dilation)
    cols = np.empty((taps, N * P), x.dtype)
    im2col_kernel(np.ascontiguousarray(x), *args, cols)
    return cols


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
