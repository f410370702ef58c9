"""Spectrogram features with librosa's names, defaults and results.

Each function takes a numpy array (..., n) of samples, as librosa does, and
returns what librosa 0.11 returns for the same parameters (tests hold them to
rtol 1e-5). Given an autograd_lab Tensor instead, `stft_power`, `melspectrogram`,
`power_to_db` and `log_melspectrogram` build the same computation from engine
primitives (framing by indexing, the DFT as two matmuls), so a gradient flows
from a network's output back to the waveform: saliency on sound.

>>> import autograd_lab as al, numpy as np
>>> y = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
>>> S = al.audio.melspectrogram(y, sr=8000, n_fft=256, hop_length=128, n_mels=40)
>>> S.shape
(40, 63)
"""
from __future__ import annotations

import numpy as np

from ..core.node import Node

# ---- frequency scales ----------------------------------------------------------
# Slaney's mel scale (the Auditory Toolbox's): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies, htk=False):
    """Hz -> mels (HTK: 2595 log10(1 + f/700); else Slaney's linear-then-log scale).

    >>> import autograd_lab as al
    >>> al.audio.hz_to_mel([500.0, 1000.0]).round(2).tolist(), float(al.audio.hz_to_mel(1000.0, htk=True).round(1))
    ([7.5, 15.0], 1000.0)
    """
    f = np.asanyarray(frequencies, dtype=float)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    log_part = f >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP,
                    mels)


def mel_to_hz(mels, htk=False):
    """mels -> Hz, the inverse of `hz_to_mel`."""
    m = np.asanyarray(mels, dtype=float)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_frequencies(n_mels=128, fmin=0.0, fmax=11025.0, htk=False):
    """`n_mels` frequencies (Hz) evenly spaced on the mel scale from fmin to fmax."""
    mels = np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels)
    return mel_to_hz(mels, htk)


def fft_frequencies(sr=22050, n_fft=2048):
    """Centre frequency (Hz) of each of the 1 + n_fft // 2 STFT bins."""
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def mel_filters(sr, n_fft, n_mels=128, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=np.float32):
    """The mel filterbank (n_mels, 1 + n_fft // 2): triangles between neighbouring mel frequencies.

    norm="slaney" divides each triangle by its width in Hz (constant energy per band);
    a number p normalises each row to unit p-norm; None leaves peaks at 1. This is
    librosa.filters.mel.

    >>> import autograd_lab as al
    >>> fb = al.audio.mel_filters(sr=8000, n_fft=256, n_mels=40)
    >>> fb.shape, fb.dtype, bool((fb >= 0).all())
    ((40, 129), dtype('float32'), True)
    """
    fmax = sr / 2.0 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax:
        raise ValueError(f"mel_filters: need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    bins = fft_frequencies(sr, n_fft)
    edges = mel_frequencies(n_mels + 2, fmin, fmax, htk)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        if isinstance(norm, str) or norm <= 0:
            raise ValueError(f"mel_filters: norm must be 'slaney', None or a positive number, got {norm!r}")
        lengths = np.linalg.norm(weights, ord=norm, axis=-1, keepdims=True)
        weights = np.divide(weights, lengths, out=np.zeros_like(weights), where=lengths > 0)
    return weights.astype(dtype)


# ---- short-time Fourier transform ---------------------------------------------------
def get_window(window, n_fft, win_length=None):
    """A periodic window of `win_length` samples, zero-padded at both ends to n_fft.

    `window` is "hann", "hamming", "blackman", "rectangular"/"boxcar", any name
    scipy.signal.get_window knows, or an array of length win_length.
    """
    win_length = n_fft if win_length is None else int(win_length)
    if not 0 < win_length <= n_fft:
        raise ValueError(f"stft: need 0 < win_length <= n_fft, got {win_length} and {n_fft}")
    if isinstance(window, str) and window in ("rectangular", "ones"):
        window = "boxcar"
    if isinstance(window, str) and window in _COSINE_WINDOWS:
        w = _cosine_window(win_length, _COSINE_WINDOWS[window])
    elif isinstance(window, (str, tuple)):
        from scipy.signal import get_window as scipy_window
        w = scipy_window(window, win_length, fftbins=True)
    else:
        w = np.asarray(window, dtype=float)
        if w.shape != (win_length,):
            raise ValueError(f"stft: a window array must have shape ({win_length},), got {w.shape}")
    left = (n_fft - win_length) // 2
    return np.pad(w, (left, n_fft - win_length - left))


def _frame_count(n, n_fft, hop_length, center):
    padded = n + 2 * (n_fft // 2) if center else n
    if padded < n_fft:
        raise ValueError(f"stft: n_fft={n_fft} is longer than the signal ({n} samples, "
                         f"{'centred' if center else 'not centred'})")
    return 1 + (padded - n_fft) // hop_length


def _check_stft_args(n, n_fft, hop_length, win_length):
    if n_fft < 1:
        raise ValueError(f"stft: n_fft must be >= 1, got {n_fft}")
    hop_length = (win_length or n_fft) // 4 if hop_length is None else int(hop_length)
    if hop_length < 1:
        raise ValueError(f"stft: hop_length must be >= 1, got {hop_length}")
    if n == 0:
        raise ValueError("stft: the signal is empty")
    return hop_length


_COSINE_WINDOWS = {"hann": 0.5, "hamming": 0.54}


def _cosine_window(win_length, alpha):
    """The periodic hann (alpha 0.5) or hamming (0.54) window of scipy.signal.get_window, computed
    as scipy computes it (the same bits), without importing scipy.signal (~1 s of each command)."""
    if win_length <= 1:
        return np.ones(win_length)
    fac = np.linspace(-np.pi, np.pi, win_length + 1)
    w = np.zeros(win_length + 1)
    w += alpha * np.cos(0 * fac)
    w += (1.0 - alpha) * np.cos(fac)
    return w[:-1]


def stft(y, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True,
         pad_mode="constant"):
    """Complex STFT, shape (..., 1 + n_fft // 2, frames), as librosa.stft.

    center=True pads n_fft // 2 samples on each side (zeros by default, pad_mode as in
    numpy.pad), so frame t is centred on sample t * hop_length.

    >>> import autograd_lab as al, numpy as np
    >>> D = al.audio.stft(np.zeros(8000, np.float32), n_fft=256, hop_length=128)
    >>> D.shape, D.dtype
    ((129, 63), dtype('complex64'))
    """
    y = np.asarray(y)
    if y.dtype.kind != "f":
        y = y.astype(np.float32)
    hop_length = _check_stft_args(y.shape[-1], n_fft, hop_length, win_length)
    _frame_count(y.shape[-1], n_fft, hop_length, center)
    if center:
        pad = [(0, 0)] * (y.ndim - 1) + [(n_fft // 2, n_fft // 2)]
        y = np.pad(y, pad, mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft, axis=-1)[..., ::hop_length, :]
    w = get_window(window, n_fft, win_length).astype(y.dtype)
    spectrum = np.fft.rfft(frames * w, axis=-1)
    complex_dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    return np.swapaxes(spectrum, -1, -2).astype(complex_dtype, copy=False)


def spectrogram(y, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True,
                pad_mode="constant", power=2.0):
    """|STFT| ** power: power=2 the power spectrogram, power=1 the magnitude."""
    return np.abs(stft(y, n_fft, hop_length, win_length, window, center, pad_mode)) ** power


def melspectrogram(y=None, sr=22050, S=None, n_fft=2048, hop_length=512, win_length=None,
                   window="hann", center=True, pad_mode="constant", power=2.0, n_mels=128,
                   fmin=0.0, fmax=None, htk=False, norm="slaney"):
    """Mel spectrogram (..., n_mels, frames): the mel filterbank applied to |STFT| ** power.

    Pass samples `y`, or a precomputed spectrogram `S` (..., 1 + n_fft // 2, frames).
    A Tensor `y` gives a Tensor, differentiable back to the samples.
    """
    if isinstance(y, Node):
        return _engine_melspectrogram(y, sr, n_fft, hop_length, win_length, window, center,
                                      power, n_mels, fmin, fmax, htk, norm)
    if S is None:
        if y is None:
            raise ValueError("melspectrogram: pass the samples y or a spectrogram S")
        S = spectrogram(y, n_fft, hop_length, win_length, window, center, pad_mode, power)
    else:
        S = np.asarray(S)
        n_fft = 2 * (S.shape[-2] - 1)
    basis = mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    return np.einsum("...ft,mf->...mt", S, basis, optimize=True)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0):
    """10 log10(S / ref), with S floored at amin and, if top_db is set, at max - top_db dB.

    `ref` may be a number or a function of S (np.max: 0 dB at the loudest bin).
    A Tensor S gives a Tensor (the floors act as constants in the gradient).

    >>> import autograd_lab as al, numpy as np
    >>> al.audio.power_to_db(np.array([1.0, 0.1, 1e-12])).round(1).tolist()
    [0.0, -10.0, -80.0]
    """
    if amin <= 0:
        raise ValueError(f"power_to_db: amin must be positive, got {amin}")
    if top_db is not None and top_db < 0:
        raise ValueError(f"power_to_db: top_db must be non-negative, got {top_db}")
    if isinstance(S, Node):
        return _engine_power_to_db(S, ref, amin, top_db)
    S = np.asarray(S)
    ref_value = ref(S) if callable(ref) else np.abs(ref)
    db = 10.0 * np.log10(np.maximum(amin, S))
    db -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


def amplitude_to_db(S, ref=1.0, amin=1e-5, top_db=80.0):
    """20 log10(|S| / ref): power_to_db of the squared magnitude."""
    S = np.abs(np.asarray(S))
    ref_value = ref(S) if callable(ref) else np.abs(ref)
    return power_to_db(S ** 2, ref=ref_value ** 2, amin=amin ** 2, top_db=top_db)


def mfcc(y=None, sr=22050, S=None, n_mfcc=20, dct_type=2, norm="ortho", lifter=0, **kwargs):
    """Mel-frequency cepstral coefficients (..., n_mfcc, frames): the DCT of the log-mel spectrogram.

    S, if given, is a log-mel spectrogram in dB; otherwise it is
    power_to_db(melspectrogram(y, sr, **kwargs)). lifter > 0 applies sinusoidal liftering.

    >>> import autograd_lab as al, numpy as np
    >>> y = np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    >>> al.audio.mfcc(y=y, sr=8000, n_mfcc=13, n_fft=256, hop_length=128, n_mels=40).shape
    (13, 63)
    """
    from scipy.fft import dct
    if S is None:
        S = power_to_db(melspectrogram(y=y, sr=sr, **kwargs))
    M = dct(np.asarray(S), axis=-2, type=dct_type, norm=norm)[..., :n_mfcc, :]
    if lifter > 0:
        k = np.arange(1, 1 + M.shape[-2], dtype=M.dtype)
        M *= (1 + (lifter / 2) * np.sin(np.pi * k / lifter))[:, None]
    elif lifter < 0:
        raise ValueError(f"mfcc: lifter must be >= 0, got {lifter}")
    return M


def log_melspectrogram(y, sr=22050, n_fft=2048, hop_length=512, n_mels=128, fmin=0.0, fmax=None,
                       htk=False, norm="slaney", top_db=80.0):
    """power_to_db(melspectrogram(...)) in one call: what the models are trained on."""
    S = melspectrogram(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin,
                       fmax=fmax, htk=htk, norm=norm)
    return power_to_db(S, top_db=top_db)


# ---- the same front end on the engine -------------------------------------------------
def stft_power(y, n_fft=2048, hop_length=None, win_length=None, window="hann", center=True, power=2.0):
    """|STFT| ** power of a Tensor (..., n), as a Tensor (..., 1 + n_fft // 2, frames).

    Built from primitives: zero padding by concatenation, framing by indexing, the
    window as a product and the real DFT as matmuls with cosine and sine matrices,
    so every step has its gradient rule already (pad_mode is "constant").
    """
    from ..ops import functions as fn
    from ..core.node import Tensor
    n = y.shape[-1]
    hop_length = _check_stft_args(n, n_fft, hop_length, win_length)
    n_frames = _frame_count(n, n_fft, hop_length, center)
    dtype = y.dtype
    if center:
        zeros = Tensor(np.zeros(y.shape[:-1] + (n_fft // 2,), dtype))
        y = fn.concatenate([zeros, y, zeros], axis=-1)
    index = np.arange(n_frames)[:, None] * hop_length + np.arange(n_fft)[None, :]
    frames = fn.getitem(y, (Ellipsis, index))                          # (..., frames, n_fft)
    angle = 2 * np.pi * np.outer(np.arange(n_fft), np.arange(n_fft // 2 + 1)) / n_fft
    w = get_window(window, n_fft, win_length)[:, None]
    real = frames @ Tensor((w * np.cos(angle)).astype(dtype))
    imag = frames @ Tensor((w * -np.sin(angle)).astype(dtype))
    power_spectrum = real * real + imag * imag
    if power != 2.0:
        power_spectrum = power_spectrum ** (power / 2.0)
    return fn.transpose(power_spectrum, tuple(range(power_spectrum.ndim - 2)) + (-1, -2))


def _engine_melspectrogram(y, sr, n_fft, hop_length, win_length, window, center, power, n_mels,
                           fmin, fmax, htk, norm):
    from ..core.node import Tensor
    S = stft_power(y, n_fft, hop_length, win_length, window, center, power)
    # float32 weights, as the numpy path (and librosa) use, so the two paths agree
    basis = mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm).astype(y.dtype)
    return Tensor(basis) @ S


def _engine_power_to_db(S, ref, amin, top_db):
    from ..ops import functions as fn
    ref_value = ref(S.data) if callable(ref) else np.abs(ref)
    scale = 10.0 / np.log(10.0)
    db = fn.log(fn.maximum(S, amin)) * scale - 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        db = fn.maximum(db, float(db.data.max()) - top_db)
    return db
