"""Halving a sample rate the way librosa's constant-Q transform does, on arrays and on the engine.

librosa's `cqt` runs each lower octave on the signal resampled to half the rate by
python-soxr ("soxr_hq"). On arrays we call soxr itself, so our CQT sees the very samples
librosa's does. On the engine, a resampler must be a differentiable op, and soxr is a
black box; but its 2:1 resampling is a linear, shift-invariant FIR decimator away from
nothing (its output equals the convolution model below to ~3e-7 of the signal's scale,
edges included). So we read its impulse response off soxr once, by resampling two unit
impulses, and decimate with that FIR filter as a pair of engine ops, each the other's
gradient rule:

    fir_decimate(x)            out[i]  = sum_k taps[k] x[factor*i + center - k]
    fir_decimate_transpose(g)  its adjoint: g spread back at the kept samples, filtered

>>> import numpy as np
>>> x = np.random.default_rng(0).standard_normal(1000)
>>> ours = fir_decimate(x, taps=soxr_halving_taps(), factor=2, center=soxr_halving_center())
>>> bool(np.abs(ours - soxr_halve(x)).max() < 1e-5 * np.abs(x).max())
True
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..core.op import primitive

SOXR_QUALITIES = ("soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "soxr_qq")


def _soxr():
    try:
        import soxr
    except ImportError as error:            # a runtime dependency; say what to install if it is missing
        raise ImportError("cqt: needs python-soxr for librosa's resampling: pip install soxr") from error
    return soxr


def soxr_resample(y, factor, res_type="soxr_hq"):
    """y (..., n) at 1/factor of its rate, as librosa.resample(y, orig_sr=factor, target_sr=1,
    res_type=res_type, scale=True): soxr along the last axis, length fixed to ceil(n / factor)
    and amplitudes times sqrt(factor) (the CQT's energy bookkeeping)."""
    if res_type not in SOXR_QUALITIES:
        raise ValueError(f"cqt: res_type must be one of {SOXR_QUALITIES} (librosa's soxr resamplers), "
                         f"got {res_type!r}")
    soxr = _soxr()
    y = np.asarray(y)
    n_out = math.ceil(y.shape[-1] / factor)
    flat = y.reshape(-1, y.shape[-1])
    out = np.zeros((flat.shape[0], n_out), dtype=y.dtype)
    for row, signal in zip(out, flat):
        resampled = soxr.resample(np.ascontiguousarray(signal), factor, 1, quality=res_type)
        row[:min(n_out, len(resampled))] = resampled[:n_out]
    return (out * np.sqrt(factor)).astype(y.dtype, copy=False).reshape(y.shape[:-1] + (n_out,))


def soxr_halve(y, res_type="soxr_hq"):
    """soxr's 2:1 resampling, unscaled (what the FIR model reproduces)."""
    return soxr_resample(y, 2, res_type) / np.sqrt(2.0)


@functools.lru_cache(maxsize=None)
def _halving_response(res_type="soxr_hq"):
    """soxr's 2:1 decimation as an FIR filter: (taps, center), read off two unit impulses.

    An impulse at even input 2c lands in output c + d with weight taps[center + 2d];
    one at 2c + 1 gives the odd taps, taps[center + 2d - 1]. Tails below 1e-12 of the
    peak are cut (their sum is far below float64's resolution of the result)."""
    soxr = _soxr()
    n = 1 << 14
    c = n // 4
    responses = []
    for phase in (0, 1):
        impulse = np.zeros(n)
        impulse[2 * c + phase] = 1.0
        responses.append(soxr.resample(impulse, 2, 1, quality=res_type))
    reach = n // 4 - 1
    d = np.arange(-reach, reach + 1)
    taps = np.zeros(4 * reach + 2)
    center = 2 * reach + 1
    taps[center + 2 * d] = responses[0][c + d]
    taps[center + 2 * d - 1] = responses[1][c + d]
    keep = np.nonzero(np.abs(taps) > 1e-12 * np.abs(taps).max())[0]
    first, last = keep.min(), keep.max()
    return taps[first:last + 1], center - first


def soxr_halving_taps(res_type="soxr_hq"):
    return _halving_response(res_type)[0]


def soxr_halving_center(res_type="soxr_hq"):
    return int(_halving_response(res_type)[1])


# ---- the op pair ----------------------------------------------------------------------------
def _convolve_last(x, taps):
    from scipy.signal import oaconvolve
    kernel = np.asarray(taps, dtype=x.dtype).reshape((1,) * (x.ndim - 1) + (-1,))
    return oaconvolve(x, kernel, mode="full", axes=-1)


def _decimate(x, *, taps, factor, center):
    n_out = -(-x.shape[-1] // factor)
    full = _convolve_last(x, taps)                         # full[m] = sum_k taps[k] x[m - k]
    kept = center + factor * np.arange(n_out)
    out = np.zeros(x.shape[:-1] + (n_out,), dtype=x.dtype)
    inside = kept < full.shape[-1]
    out[..., inside] = full[..., kept[inside]]
    return out


def _decimate_transpose(g, *, taps, factor, center, n):
    """The adjoint of `_decimate` for an input of length n: x_bar[j] = sum_i g[i] taps[factor*i + center - j]."""
    length = n + len(taps) - 1
    spread = np.zeros(g.shape[:-1] + (length,), dtype=g.dtype)
    kept = center + factor * np.arange(g.shape[-1])
    inside = kept < length
    spread[..., kept[inside]] = g[..., inside]
    # correlate with the taps: convolve with them reversed, then keep the n aligned samples
    full = _convolve_last(spread, np.asarray(taps)[::-1])
    return full[..., len(taps) - 1:len(taps) - 1 + n].astype(g.dtype, copy=False)


def _decimate_sample(gen):
    n = gen.integers(1, 12)
    factor = gen.integers(1, 3)
    n_taps = gen.integers(1, 6)
    shape = gen.shape(max_dims=1) + (n,)
    taps = gen.array((n_taps,))
    return (gen.array(shape),), dict(taps=taps, factor=factor, center=gen.integers(0, n_taps - 1))


def _transpose_sample(gen):
    (x,), params = _decimate_sample(gen)
    n_out = -(-x.shape[-1] // params["factor"])
    g = gen.array(x.shape[:-1] + (n_out,))
    return (g,), dict(params, n=x.shape[-1])


fir_decimate = primitive(
    "fir_decimate", _decimate,
    lambda g, out, x, *, taps, factor, center:
        fir_decimate_transpose(g, taps=taps, factor=factor, center=center, n=x.shape[-1]),
    flops=lambda out, x, *, taps, **geometry: 2 * math.prod(x) * len(taps),
    samples=_decimate_sample)

fir_decimate_transpose = primitive(
    "fir_decimate_transpose", _decimate_transpose,
    lambda h, out, g, *, taps, factor, center, n:
        fir_decimate(h, taps=taps, factor=factor, center=center),
    flops=lambda out, g, *, taps, n, **geometry: 2 * math.prod(out) * len(taps),
    samples=_transpose_sample)
