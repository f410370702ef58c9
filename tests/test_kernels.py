"""Every kernel against its numpy reference, on hypothesis-drawn geometries.

Also run once with NUMBA_DISABLE_JIT=1 (test_kernels_without_jit), so the plain
Python kernels are checked too.
"""
import os
import threading
import time
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import autograd_lab as al
from autograd_lab.kernels import conv as K
from autograd_lab.kernels import pool as KP

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


@st.composite
def conv_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    H = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]) + draw(st.integers(0, 6))
    W = max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]) + draw(st.integers(0, 6))
    N, C, O = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C) + k).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, w, b, dict(stride=s, padding=p, dilation=d), dtype, rng


@given(conv_cases())
def test_conv2d_kernels_match_the_reference(case):
    x, w, b, params, dtype, rng = case
    y = K.conv2d_forward(x, w, b, **params)
    ref = K.conv2d_reference(x, w, b, **params)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(K.conv2d_grad_input(g, w, x.shape, **params),
                               K.conv2d_grad_input_reference(g, w, x.shape, **params), **TOL[dtype])
    np.testing.assert_allclose(K.conv2d_grad_weight(x, g, w.shape, **params),
                               K.conv2d_grad_weight_reference(x, g, w.shape, **params), **TOL[dtype])
    bias_grad = K.conv2d_grad_bias(g)
    assert bias_grad.dtype == dtype
    np.testing.assert_allclose(bias_grad, g.sum(axis=(0, 2, 3)), **TOL[dtype])


@st.composite
def direct_conv_cases(draw):
    """3x3, stride 1, dilation 1, few input channels: the direct kernels' geometry."""
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    H = max(1, 3 - 2 * p[0]) + draw(st.integers(0, 6))
    W = max(1, 3 - 2 * p[1]) + draw(st.integers(0, 6))
    N, O = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    C = draw(st.integers(1, K.DIRECT_FORWARD_MAX_CHANNELS))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, w, b, dict(stride=(1, 1), padding=p, dilation=(1, 1)), dtype, rng


@given(direct_conv_cases())
def test_direct_conv_kernels_match_the_reference(case):
    x, w, b, params, dtype, rng = case
    assert K._direct(w.shape, params["stride"], params["dilation"], K.DIRECT_FORWARD_MAX_CHANNELS)
    y = K.conv2d_forward(x, w, b, **params)
    ref = K.conv2d_reference(x, w, b, **params)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    g = rng.standard_normal(y.shape).astype(dtype)
    gw = K.conv2d_grad_weight(x, g, w.shape, **params)
    assert gw.dtype == dtype
    np.testing.assert_allclose(gw, K.conv2d_grad_weight_reference(x, g, w.shape, **params), **TOL[dtype])


def test_direct_conv_keeps_nan_and_inf_where_they_belong():
    """The direct kernels compute two dropped columns per row; those must not leak."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 6, 5))
    x[0, 0, 2, 0] = np.inf        # also read by the dropped columns of the row above
    x[1, 0, 3, 4] = np.nan
    w = rng.standard_normal((3, 1, 3, 3))
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    y = K.conv2d_forward(x, w, None, **params)
    ref = K.conv2d_reference(x, w, None, **params)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_allclose(y[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-10)
    x[1, 0, 3, 4] = 0.0           # the weight gradient, with the inf alone:
    g = rng.standard_normal(y.shape)
    gw = K.conv2d_grad_weight(x, g, w.shape, **params)
    ref = K.conv2d_grad_weight_reference(x, g, w.shape, **params)
    assert np.isinf(ref).any() and np.isfinite(ref).any()
    np.testing.assert_allclose(gw, ref, rtol=1e-10)     # inf where the reference has it, NaN nowhere


@st.composite
def vector_conv_cases(draw):
    """Stride 1, float32, outputs in fours, output rows of 16 columns (8 for some weight gradients):
    the geometry of the vector kernels (kernels.simd), for every pass."""
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = tuple(draw(st.integers(0, d[i] * (k[i] - 1))) for i in range(2))
    OH = draw(st.integers(1, 5))
    OW = draw(st.sampled_from([8, 16, 32]))
    H = OH + d[0] * (k[0] - 1) - 2 * p[0]
    W = OW + d[1] * (k[1] - 1) - 2 * p[1]
    assume(H >= 1 and W >= 1)
    N, C, O = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.sampled_from([4, 8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((O, C) + k).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    return x, w, b, dict(stride=(1, 1), padding=p, dilation=d), rng


@given(vector_conv_cases(), st.booleans())
def test_vector_conv_kernels_match_the_reference(case, wide):
    """Both widths: the 16-lane kernels where the CPU has AVX-512, the 8-lane ones elsewhere."""
    x, w, b, params, rng = case
    called = []
    kernels = ("wide_conv_kernel", "wide_conv_grad_weight_kernel", "vector_conv_kernel",
               "vector_conv_grad_weight_kernel")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("_vector_forward", "_vector_grad_input", "_vector_grad_weight") + kernels:
            patch.setattr(K, name, lambda *a, _run=getattr(K, name), _name=name: called.append(_name) or _run(*a))
        patch.setattr(K, "wide_kernels_fit", lambda: wide)
        y = K.conv2d_forward(x, w, b, **params)
        g = rng.standard_normal(y.shape).astype(np.float32)
        gx = K.conv2d_grad_input(g, w, x.shape, **params)
        gw = K.conv2d_grad_weight(x, g, w.shape, **params)
    np.testing.assert_allclose(y, K.conv2d_reference(x, w, b, **params), **TOL[np.float32])
    assert gx.dtype == gw.dtype == np.float32
    np.testing.assert_allclose(gx, K.conv2d_grad_input_reference(g, w, x.shape, **params), **TOL[np.float32])
    np.testing.assert_allclose(gw, K.conv2d_grad_weight_reference(x, g, w.shape, **params), **TOL[np.float32])
    # the vector path ran wherever it applies (before the few-channel direct kernels),
    # and only on a CPU with fused multiply-add (kernels.simd)
    from autograd_lab.kernels.simd import vector_kernels_fit
    C, OW = w.shape[1], y.shape[3]
    fit = vector_kernels_fit()
    assert ("_vector_forward" in called) == (fit and OW % 16 == 0)
    assert ("_vector_grad_input" in called) == (fit and C % 4 == 0 and x.shape[3] % 16 == 0)
    assert ("_vector_grad_weight" in called) == fit
    if fit:     # the width asked for, where the shape allows it (8 outputs, 16 columns)
        O = w.shape[0]
        assert ("wide_conv_kernel" in called) == (wide and ((O % 8 == 0 and OW % 16 == 0)
                                                           or (C % 8 == 0 and x.shape[3] % 16 == 0)))
        assert ("wide_conv_grad_weight_kernel" in called) == (wide and O % 8 == 0 and OW % 16 == 0)


def test_vector_conv_keeps_nan_and_inf_where_the_reference_has_them():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 8, 5, 16)).astype(np.float32)
    w = rng.standard_normal((4, 8, 3, 3)).astype(np.float32)
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    x[0, 1, 2, 0] = np.inf
    x[1, 3, 4, 15] = np.nan
    y = K.conv2d_forward(x, w, None, **params)
    ref = K.conv2d_reference(x, w, None, **params)
    assert np.isnan(ref).any() and np.isinf(ref).any()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(y[np.isinf(ref)], ref[np.isinf(ref)])
    np.testing.assert_allclose(y[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)
    gw = K.conv2d_grad_weight(x, g, w.shape, **params)
    ref = K.conv2d_grad_weight_reference(x, g, w.shape, **params)
    np.testing.assert_array_equal(np.isnan(gw), np.isnan(ref))
    np.testing.assert_allclose(gw[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-5, atol=1e-5)
    # An inf weight next to the border: the transposed convolution must not multiply it by padding
    w[2, 4, 0, 0] = np.inf
    g = rng.standard_normal(y.shape).astype(np.float32)
    gx = K.conv2d_grad_input(g, w, x.shape, **params)
    ref = K.conv2d_grad_input_reference(g, w, x.shape, **params)
    assert np.isinf(ref).any() and np.isfinite(ref).any()
    np.testing.assert_array_equal(np.isnan(gx), np.isnan(ref))
    np.testing.assert_allclose(gx[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-5, atol=1e-5)


# "forced": the 16-lane kernels also where the host lacks AVX-512 (LLVM splits the vectors),
# so that the fused kernels are tested on every machine, not only their fallback
@pytest.mark.parametrize("lanes", ["host", "forced"])
@pytest.mark.parametrize("relu", [False, True])
def test_convolution_pooled_in_one_kernel_matches_the_two_passes(relu, lanes, monkeypatch):
    """kernels.conv.conv2d_max_pool2d: the same values and argmax as conv2d then 2x2
    max-pooling (then relu), bit for bit (the same sums in the same order), ties to the
    first maximum, NaN and inf where the two passes put them; other geometries fall back."""
    from autograd_lab.kernels import elementwise as KE
    if lanes == "forced":
        monkeypatch.setattr(K, "wide_kernels_fit", lambda: True)
    rng = np.random.default_rng(11)
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    cases = [((3, 1, 6, 32), (8, 1, 3, 3), params), ((2, 3, 4, 64), (4, 3, 2, 3), params),
             ((2, 2, 5, 33), (4, 2, 2, 2), dict(params, padding=(0, 0))),           # 4 x 32 outputs
             ((3, 4, 6, 16), (16, 4, 3, 3), params),                                 # rows of 16: pairs
             ((2, 2, 4, 50), (8, 2, 3, 3), dict(params, dilation=(1, 2))),           # 4 x 48: pairs
             ((2, 2, 6, 30), (4, 2, 3, 3), dict(params, dilation=(1, 2))),           # 6 x 28: falls back
             ((2, 1, 6, 16), (4, 1, 3, 3), params),                                  # 4 outputs x 16: falls back
             ((2, 1, 6, 32), (3, 1, 3, 3), params)]                                  # 3 outputs: falls back
    for x_shape, w_shape, p in cases:
        x = np.round(rng.standard_normal(x_shape) * 2).astype(np.float32)      # ties are common
        w = np.round(rng.standard_normal(w_shape)).astype(np.float32)
        b = rng.standard_normal(w_shape[0]).astype(np.float32)
        x[0, 0, 1, 3] = np.nan
        x[-1, -1, 2, 5] = np.inf
        for bias in (b, None):
            with np.errstate(invalid="ignore"):             # inf - inf in im2col's products
                y = K.conv2d_forward(x, w, bias, **p)
            want, want_argmax = KP.max_pool2d_forward(y, (2, 2), (2, 2), (0, 0))
            if relu:
                want = KE.relu(want)
            called = []
            with pytest.MonkeyPatch.context() as patch:
                for name in ("wide_conv_max_pool_kernel", "wide_conv_max_pool_pairs_kernel"):
                    patch.setattr(K, name, lambda *a, _run=getattr(K, name), _name=name: called.append(_name)
                                  or _run(*a))
                with np.errstate(invalid="ignore"):
                    got, argmax = K.conv2d_max_pool2d(x, w, bias, relu=relu, **p)
            assert bool(called) == K.conv_max_pool_fits(x_shape, w_shape, np.float32, **p)
            if called:      # rows of 32k with outputs in fours split the columns; else pairs of lanes
                OW = x_shape[3] + 2 * p["padding"][1] - p["dilation"][1] * (w_shape[3] - 1)
                split = w_shape[0] % 4 == 0 and OW % 32 == 0
                assert called == ["wide_conv_max_pool_kernel" if split else "wide_conv_max_pool_pairs_kernel"]
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(argmax, want_argmax)
            assert np.isnan(got).any() and np.isinf(got).any()
    assert K.conv_max_pool_fits((2, 1, 6, 32), (8, 1, 3, 3), np.float32, **params) == K.wide_kernels_fit()
    assert K.conv_max_pool_fits((2, 1, 6, 16), (8, 1, 3, 3), np.float32, **params) == K.wide_kernels_fit()
    assert not K.conv_max_pool_fits((2, 1, 6, 32), (8, 1, 3, 3), np.float64, **params)


@pytest.mark.parametrize("lanes", ["host", "forced"])
def test_weight_gradient_from_a_pooled_gradient_matches_the_scatter_and_the_reference(lanes, monkeypatch):
    """kernels.conv.conv2d_grad_weight_pooled: the weight gradient of a convolution whose output
    went through a 2x2 max-pool, from the pool's gradient and argmax, equals the reference
    on the scattered gradient (ties, zeros in the gradient; other geometries fall back)."""
    if lanes == "forced":                           # as above: the fused kernel on every machine
        monkeypatch.setattr(K, "wide_kernels_fit", lambda: True)
    rng = np.random.default_rng(13)
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    cases = [((3, 1, 6, 32), (8, 1, 3, 3), params), ((2, 3, 4, 64), (4, 3, 2, 3), params),
             ((2, 2, 5, 33), (4, 2, 2, 2), dict(params, padding=(0, 0))),
             ((2, 2, 6, 34), (4, 2, 3, 3), dict(params, dilation=(2, 2))),            # 2 x 30: falls back
             ((2, 2, 4, 16), (8, 2, 3, 3), params)]                                   # rows of 16: falls back
    for x_shape, w_shape, p in cases:
        x = np.round(rng.standard_normal(x_shape) * 2).astype(np.float32)
        y = K.conv2d_forward(x, np.round(rng.standard_normal(w_shape)).astype(np.float32), None, **p)
        _, argmax = KP.max_pool2d_forward(y, (2, 2), (2, 2), (0, 0))
        g = rng.standard_normal(argmax.shape).astype(np.float32)
        g[g < -1] = 0.0
        want = K.conv2d_grad_weight_reference(x, KP.max_pool2d_backward(g, argmax, y.shape), w_shape, **p)
        called = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(K, "wide_conv_grad_weight_pooled_kernel",
                          lambda *a, _run=K.wide_conv_grad_weight_pooled_kernel: called.append(1) or _run(*a))
            got = K.conv2d_grad_weight_pooled(x, g, argmax, w_shape, **p)
        assert bool(called) == K.pooled_grad_weight_fits(x_shape, w_shape, np.float32, **p)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert K.pooled_grad_weight_fits((3, 1, 6, 32), (8, 1, 3, 3), np.float32, **params) == K.wide_kernels_fit()


def test_simd_operations_compiled_match_their_python_meaning():
    import numba
    from autograd_lab.kernels import simd

    def axpy_in_lanes(a, x, y, out):
        for i in range(0, out.size, simd.LANES):
            simd.store8(out, i, simd.fma8(simd.splat8(a, 0), simd.load8(x, i), simd.load8(y, i)))

    compiled = numba.njit(axpy_in_lanes)
    rng = np.random.default_rng(7)
    a, x, y = (rng.standard_normal(n).astype(np.float32) for n in (1, 24, 24))
    python, jitted = np.empty(24, np.float32), np.empty(24, np.float32)
    axpy_in_lanes(a, x, y, python)
    compiled(a, x, y, jitted)
    np.testing.assert_array_equal(python, jitted)      # one rounding in both
    np.testing.assert_allclose(python, a[0] * x.astype(np.float64) + y, rtol=1e-6)
    with pytest.raises(IndexError, match=r"lanes \[20, 28\) outside an array of 24"):
        simd.load8(x, 20)

    def axpy_in_wide_lanes(a, x, y, out):
        for i in range(0, out.size, simd.WIDE_LANES):
            simd.store16(out, i, simd.fma16(simd.splat16(a, 0), simd.load16(x, i), simd.load16(y, i)))
    x, y = (rng.standard_normal(32).astype(np.float32) for _ in range(2))
    python, jitted = np.empty(32, np.float32), np.empty(32, np.float32)
    axpy_in_wide_lanes(a, x, y, python)
    numba.njit(axpy_in_wide_lanes)(a, x, y, jitted)
    np.testing.assert_array_equal(python, jitted)
    with pytest.raises(IndexError, match=r"lanes \[24, 40\) outside an array of 32"):
        simd.load16(x, 24)

    def shuffled(x, out):
        v = simd.load16(x, 0)
        simd.store16(out, 0, simd.pairs_swapped16(v))
        simd.store8(out, 16, simd.even_lanes16(v))
        simd.store16(out, 24, simd.winner16(v, simd.pairs_swapped16(v), v, simd.splat16(x, 0)))
        simd.store16(out, 40, simd.equal16(v, simd.splat16(x, 2), v, simd.splat16(x, 0)))
    x = np.arange(16, dtype=np.float32)
    x[3] = np.nan
    python, jitted = np.empty(56, np.float32), np.empty(56, np.float32)
    shuffled(x, python)
    numba.njit(shuffled)(x, jitted)
    np.testing.assert_array_equal(python, jitted)
    np.testing.assert_array_equal(python[:4], [1, 0, np.nan, 2])
    np.testing.assert_array_equal(python[16:20], [0, 2, 4, 6])
    # each lane against its neighbour: the greater wins, NaN over a number, else x[0]
    np.testing.assert_array_equal(python[24:28], [0, 1, 0, np.nan])
    np.testing.assert_array_equal(python[40:44], [0, 0, 2, 0])       # only the lane equal to 2; NaN equals nothing


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    H, W = k[0] + draw(st.integers(0, 7)), k[1] + draw(st.integers(0, 7))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W)).astype(dtype)
    return x, dict(kernel=k, stride=s, padding=p), dtype, rng


@given(pool_cases())
def test_pool_kernels_match_the_reference(case):
    x, params, dtype, rng = case
    out, argmax = KP.max_pool2d_forward(x, **params)
    np.testing.assert_array_equal(out, KP.max_pool2d_reference(x, **params))
    np.testing.assert_array_equal(x.ravel()[argmax], out)
    g = rng.standard_normal(out.shape).astype(dtype)
    dx = KP.scatter_add_flat(g, argmax, x.size).reshape(x.shape)
    np.testing.assert_allclose(dx, KP.max_pool2d_grad_reference(x, g, **params), **TOL[dtype])
    avg = KP.avg_pool2d_forward(x, **params)
    assert avg.dtype == dtype
    np.testing.assert_allclose(avg, KP.avg_pool2d_reference(x, **params), **TOL[dtype])
    # avg_pool2d_backward is the transpose of avg_pool2d: <g, A x> == <A^T g, x>
    back = KP.avg_pool2d_backward(g, x.shape, **params)
    np.testing.assert_allclose(np.vdot(g, avg), np.vdot(back, x), rtol=1e-4 if dtype == np.float32 else 1e-10)


@given(st.integers(1, 9), st.integers(2, 11), st.integers(2, 11), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**31))
def test_two_by_two_max_pool_fast_path_matches_the_reference(n, H, W, dtype, seed):
    # odd H or W: the last row/column is dropped, as in the general kernel; rounding
    # to a few values makes ties common, and the first maximum must win
    x = np.round(np.random.default_rng(seed).standard_normal((n, 3, H, W)) * 2).astype(dtype)
    params = dict(kernel=(2, 2), stride=(2, 2), padding=(0, 0))
    out, argmax = KP.max_pool2d_forward(x, **params)
    np.testing.assert_array_equal(out, KP.max_pool2d_reference(x, **params))
    g = np.arange(out.size, dtype=dtype).reshape(out.shape) + 1
    np.testing.assert_array_equal(KP.max_pool2d_backward(g, argmax, x.shape),
                                  KP.max_pool2d_grad_reference(x, g, **params))


def test_max_pool_ties_pick_the_first_and_nan_propagates():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]], np.float32)
    out, argmax = KP.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert out.ravel().tolist() == [3.0] and argmax.ravel().tolist() == [1]
    x[0, 0, 1, 1] = np.nan
    out, _ = KP.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert np.isnan(out).all()


def test_float32_stays_float32_through_a_conv_net():
    rng = np.random.default_rng(0)
    x = al.tensor(rng.standard_normal((2, 1, 8, 6)).astype(np.float32))
    w = al.tensor(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), requires_grad=True)
    b = al.tensor(np.zeros(4, np.float32), requires_grad=True)
    F = al.nn.functional
    y = F.max_pool2d(F.conv2d(x, w, b, padding=1).relu(), 2)
    z = F.global_avg_pool2d(F.avg_pool2d(y, 2, padding=1))
    z.sum().backward()
    assert y.dtype == z.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_max_pool_argmax_is_released_by_backward():
    x = al.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = al.nn.functional.max_pool2d(x, 2)
    assert isinstance(y._saved, np.ndarray) and y._saved.ravel().tolist() == [5, 7, 13, 15]
    y.sum().backward()
    assert not isinstance(y._saved, np.ndarray)
    with pytest.raises(al.GraphFreedError):
        y.sum().backward()
    with al.no_grad():   # nothing is kept when no gradient can be asked for
        assert al.nn.functional.max_pool2d(x, 2)._saved is None


def test_kernels_split_across_workers_give_the_same_result():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 3, 9, 7)).astype(np.float32)   # several uneven chunks
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    before = al.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            al.set_num_threads(threads)
            y = K.conv2d_forward(x, w, None, **params)
            results.append((y, K.conv2d_grad_input(y, w, x.shape, **params),
                            K.conv2d_grad_weight(x, y, w.shape, **params), K.conv2d_grad_bias(y),
                            KP.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))[1]))
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    finally:
        al.set_num_threads(before)


@pytest.mark.parametrize("shape", [(64, 1280, 128),    # splits the inner dimension
                                   (128, 64, 1280),    # splits the columns
                                   (300, 200, 290),    # splits the rows
                                   (3, 4, 5)])         # too small to split
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_kernel_matches_numpy_for_every_split(shape, dtype, split_mid_size_products):
    from autograd_lab.kernels.matmul import matmul
    M, K_, N = shape
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((M, K_)).astype(dtype), rng.standard_normal((K_, N)).astype(dtype)
    before = al.get_num_threads()
    try:
        for threads in (1, 2, 3):
            al.set_num_threads(threads)
            out = matmul(a, b)
            assert out.dtype == dtype and out.shape == (M, N)
            np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                       atol=1e-3 if dtype == np.float32 else 1e-10)
        # transposed views (linear layers multiply by weight.T), views BLAS cannot read as they
        # are (every other row and column), and numpy's own errors
        np.testing.assert_allclose(matmul(b.T, a.T), (a @ b).T, rtol=1e-4, atol=1e-3)
        wide = np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)
        np.testing.assert_allclose(matmul(wide[::2, ::2], b), a @ b, rtol=1e-4, atol=1e-3)
        with pytest.raises(ValueError):
            matmul(a, a if M != K_ else a[:, :1].T)
    finally:
        al.set_num_threads(before)


def test_blas_controls_numpys_own_library_when_others_are_loaded():
    """SciPy brings a second OpenBLAS: the thread count we switch must be numpy's."""
    import os
    from autograd_lab.kernels import blas
    from threadpoolctl import ThreadpoolController
    pytest.importorskip("scipy.linalg")        # loads SciPy's copy, when SciPy is installed
    paths = [lib.filepath for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    numpy_dir = os.path.dirname(os.path.abspath(np.__file__))
    if not any(os.path.abspath(path).startswith(numpy_dir) for path in paths):
        pytest.skip("this numpy does not ship its own BLAS")
    assert os.path.abspath(blas.numpy_library().filepath).startswith(numpy_dir)


def test_blas_runs_single_threaded_inside_and_is_restored_after():
    from autograd_lab.kernels import blas
    from threadpoolctl import threadpool_limits
    if blas.num_threads() is None:
        pytest.skip("numpy's BLAS does not report its thread count")
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas.num_threads() == 2
        with blas.single_threaded():
            assert blas.num_threads() == 1
            with blas.single_threaded():        # nested: still one, and unchanged on exit
                assert blas.num_threads() == 1
            assert blas.num_threads() == 1
        assert blas.num_threads() == 1          # kept a moment for the next call (blas.RESTORE_DELAY)
        deadline = time.monotonic() + 10 * blas.RESTORE_DELAY + 5
        while blas.num_threads() != 2 and time.monotonic() < deadline:
            time.sleep(blas.RESTORE_DELAY / 5)
        assert blas.num_threads() == 2          # given back by the restorer thread
        with blas.single_threaded():
            pass
        blas.restore_now()
        assert blas.num_threads() == 2
        with blas.single_threaded():
            pass
        threadpool_limits(limits=3, user_api="blas")   # the user's own count, set meanwhile: kept
        blas.restore_now()
        assert blas.num_threads() == 3


def test_blas_restorer_is_one_thread_through_a_loop_of_calls(monkeypatch):
    # A training loop calls single_threaded() hundreds of times a second: one restorer thread
    # must sleep through them, not end while a call is inside and be started again at its exit.
    from autograd_lab.kernels import blas
    from threadpoolctl import threadpool_limits
    if blas.num_threads() is None:
        pytest.skip("numpy's BLAS does not report its thread count")
    started = []
    real_start = threading.Thread.start

    def counting_start(thread):
        if thread.name == "autograd_lab-blas-restore":
            started.append(thread)
        return real_start(thread)

    with threadpool_limits(limits=2, user_api="blas"):
        blas.restore_now()
        monkeypatch.setattr(threading.Thread, "start", counting_start)
        end = time.monotonic() + 25 * blas.RESTORE_DELAY
        calls = 0
        while time.monotonic() < end:
            with blas.single_threaded():
                time.sleep(blas.RESTORE_DELAY / 20)     # most of the time inside a call
            calls += 1
        monkeypatch.undo()
        assert calls > 50 and blas.num_threads() == 1
        assert len(started) <= 3, f"{len(started)} restorer threads for {calls} calls"
        blas.restore_now()
        assert blas.num_threads() == 2


def test_conv_and_pool_argument_errors():
    F = al.nn.functional
    x = al.tensor(np.ones((1, 3, 5, 5)))
    with pytest.raises(al.ShapeError, match=r"conv2d: input \(1, 3, 5, 5\) has 3 channels, weight \(2, 4, 3, 3\) expects 4"):
        F.conv2d(x, al.tensor(np.ones((2, 4, 3, 3))))
    with pytest.raises(al.ShapeError, match="smaller than the kernel's span"):
        F.conv2d(x, al.tensor(np.ones((2, 3, 7, 7))))
    with pytest.raises(al.ShapeError, match=r"needs input \(N, C, H, W\)"):
        F.max_pool2d(al.tensor(np.ones((5, 5))), 2)
    with pytest.raises(ValueError, match="padding"):
        F.max_pool2d(x, 2, padding=2)


def test_kernels_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "match_the_reference or matches_the_reference or ties or pooled", "--hypothesis-profile=nojit"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_relu_kernels_on_mid_sized_and_large_arrays_match_numpy():
    from autograd_lab.kernels import elementwise as KE
    rng = np.random.default_rng(5)
    # one serial pass (a 64 x 128 activation), and the split across the workers
    for shape in [(KE.SERIAL_MIN + 3,), (64, 128), (KE.PARALLEL_MIN * 3 + 17,)]:
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal(shape).astype(dtype)
            x.reshape(-1)[:5] = [0.0, -0.0, np.nan, np.inf, -np.inf]
            g = rng.standard_normal(x.shape).astype(dtype)
            np.testing.assert_array_equal(KE.relu(x), np.maximum(x, 0))
            np.testing.assert_array_equal(KE.relu_backward(g, x), g * (x > 0))
            assert KE.relu(x).dtype == dtype and KE.relu(x).shape == shape


def test_max_pool_backward_kernel_matches_the_scatter():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 2, 7, 6))
    for params in [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1))]:   # overlapping windows too
        out, argmax = KP.max_pool2d_forward(x, *params)
        g = rng.standard_normal(out.shape)
        expected = KP.scatter_add_flat(g, argmax, x.size).reshape(x.shape)
        np.testing.assert_allclose(KP.max_pool2d_backward(g, argmax, x.shape), expected, rtol=1e-12)
        np.testing.assert_allclose(expected, KP.max_pool2d_grad_reference(x, g, *params), rtol=1e-12)


def test_allocator_keeps_freed_blocks_for_reuse():
    import resource
    import sys
    from autograd_lab.kernels import memory
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc allocator settings apply on Linux only")
    assert memory.configure() is True
    np.ones(8 * 1024 * 1024 // 8)           # one 8 MB block, freed at once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        np.ones(8 * 1024 * 1024 // 8)       # reuses the kept block: no fresh pages
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 20 * 2048 // 4, faults  # fresh pages would cost 2,048 faults each time


@st.composite
def cross_entropy_cases(draw):
    rows, classes = draw(st.integers(1, 9)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = (rng.standard_normal((rows, classes)) * draw(st.sampled_from([1.0, 30.0, 400.0]))).astype(dtype)
    if draw(st.booleans()):          # special values: -inf logits (masked classes), +inf, NaN
        x.reshape(-1)[rng.integers(0, x.size)] = draw(st.sampled_from([-np.inf, np.inf, np.nan]))
    q = rng.random((rows, classes)).astype(dtype) * (rng.random((rows, classes)) < 0.6)
    return x, q, dtype


@given(cross_entropy_cases())
def test_softmax_cross_entropy_kernel_matches_the_reference(case):
    from autograd_lab.kernels import softmax as KS
    x, q, dtype = case
    loss, log_probs = KS.cross_entropy(x, q)
    ref_loss, ref_log_probs = KS.cross_entropy_reference(x, q)
    assert loss.dtype == dtype and log_probs.dtype == dtype and loss.shape == ()
    # log-probabilities near 0 come out of a float64 sum here, of a float32 one in numpy
    np.testing.assert_allclose(log_probs, ref_log_probs, **TOL[dtype])
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    g = np.asarray(0.7, dtype)         # the incoming gradient of the loss
    grad = KS.cross_entropy_grad(g, log_probs, q)
    assert grad.dtype == dtype
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_allclose(grad, KS.cross_entropy_grad_reference(g, log_probs, q), **TOL[dtype])


def test_one_hot_kernel_builds_rows_and_names_a_bad_index():
    from autograd_lab.kernels import softmax as KS
    for indices in (np.array([2, 0, 2, 1]), np.array([2, 0, 2, 1], np.uint8)):
        out = KS.one_hot(indices, 3, 0.9, np.float32)
        expected = np.zeros((4, 3), np.float32)
        expected[np.arange(4), indices] = 0.9
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)
    for bad, position in ((np.array([0, 3, 1]), 1), (np.array([1, 2, -1]), 2)):
        with pytest.raises(IndexError, match=f"index {bad[position]} at position {position} is outside"):
            KS.one_hot(bad, 3, 1.0, np.float64)
