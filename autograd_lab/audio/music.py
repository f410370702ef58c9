"""Music features with librosa's names, defaults and results: chroma, constant-Q, onset strength.

`cqt` is librosa.cqt (complex), `cqt_magnitude` its magnitude, `chroma_stft`,
`chroma_cqt` and `onset_strength` are librosa.feature.chroma_stft,
librosa.feature.chroma_cqt and librosa.onset.onset_strength, with the same
parameters and defaults. The tests hold them to librosa 0.11 at rtol 1e-5 (float64)
and 1e-4 (float32) of the largest value.

Given an autograd_lab Tensor instead of an array, `cqt_magnitude`, `chroma_stft`,
`chroma_cqt` and `onset_strength` build the same computation on the engine, so a
gradient flows back to the waveform (saliency on a CQT). The discrete choices
(the estimated tuning, the per-octave layout) are taken from the data and held
constant; the resampler between octaves is soxr's, as an FIR op (see halving.py).

>>> import autograd_lab as al, numpy as np
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> chord = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.00))   # C4, E4, G4
>>> chroma = al.audio.chroma_cqt(y=chord, sr=sr)
>>> [NOTE_NAMES[i] for i in np.argsort(chroma.mean(axis=1))[-3:][::-1]]
['C', 'E', 'G']
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.node import Node, Tensor
from .features import get_window, melspectrogram, power_to_db, stft, stft_power
from .halving import fir_decimate, soxr_halving_center, soxr_halving_taps, soxr_resample

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12)          # MIDI 24, librosa's default fmin for constant-Q


# ---- pitch scales ---------------------------------------------------------------------------
def hz_to_midi(frequencies):
    """Hz -> MIDI note numbers (A4 = 440 Hz = 69), fractional between notes."""
    return 12.0 * (np.log2(np.asanyarray(frequencies, dtype=float)) - np.log2(440.0)) + 69.0


def hz_to_octs(frequencies, tuning=0.0, bins_per_octave=12):
    """Hz -> octaves above C0 (A4 = 4.75 octaves when tuning is 0), as librosa.hz_to_octs."""
    a440 = 440.0 * 2.0 ** (tuning / bins_per_octave)
    return np.log2(np.asanyarray(frequencies, dtype=float) / (a440 / 16))


def cqt_frequencies(n_bins, fmin=C1_HZ, bins_per_octave=12, tuning=0.0):
    """Centre frequencies (Hz) of the constant-Q bins: fmin * 2**(k / bins_per_octave), tuned.

    >>> import autograd_lab as al
    >>> al.audio.cqt_frequencies(3, fmin=440.0).round(2).tolist()
    [440.0, 466.16, 493.88]
    """
    return 2.0 ** (float(tuning) / bins_per_octave) * fmin * 2.0 ** (np.arange(n_bins, dtype=float)
                                                                     / bins_per_octave)


# ---- normalisation (librosa.util.normalize along one axis, fill=None) ------------------------
def _tiny(x):
    dtype = np.asarray(x).dtype
    return np.finfo(dtype if dtype.kind in "fc" else np.float32).tiny


def normalize(S, norm=np.inf, axis=0):
    """S divided by its norm along `axis` (inf: the largest |value|; a number p: the p-norm);
    slices whose norm is below the dtype's smallest normal number are left as they are."""
    if norm is None:
        return S
    mag = np.abs(S).astype(float)
    if norm == np.inf:
        length = mag.max(axis=axis, keepdims=True)
    elif norm == -np.inf:
        length = mag.min(axis=axis, keepdims=True)
    elif isinstance(norm, (int, float, np.number)) and norm > 0:
        length = np.sum(mag ** norm, axis=axis, keepdims=True) ** (1.0 / norm)
    else:
        raise ValueError(f"normalize: norm must be None, inf, -inf or a positive number, got {norm!r}")
    length[length < _tiny(S)] = 1.0
    return (S / length).astype(np.asarray(S).dtype, copy=False)


def _engine_normalize(S, norm, axis):
    from ..ops import functions as fn
    if norm is None:
        return S
    if norm != np.inf:
        raise ValueError(f"normalize: on a Tensor only norm=np.inf or None is supported, got {norm!r}")
    length = fn.max(S, axis=axis, keepdims=True)          # chroma is non-negative: max |x| = max x
    too_small = length.data < _tiny(S.data)
    return S / fn.where(too_small, 1.0, length)


# ---- tuning ---------------------------------------------------------------------------------
def _magnitudes(y, S, n_fft, hop_length, power=1.0, win_length=None, window="hann", center=True,
                pad_mode="constant", caller="piptrack"):
    """(|S| or |stft(y)| ** power, n_fft): librosa's `_spectrogram` helper."""
    if S is not None:
        S = np.asarray(S)
        if n_fft is None or n_fft // 2 + 1 != S.shape[-2]:
            n_fft = 2 * (S.shape[-2] - 1)
        return S, n_fft
    if y is None:
        raise ValueError(f"{caller}: pass the samples y or a spectrogram S")
    return np.abs(stft(y, n_fft, hop_length, win_length, window, center, pad_mode)) ** power, n_fft


def piptrack(y=None, sr=22050, S=None, n_fft=2048, hop_length=None, fmin=150.0, fmax=4000.0,
             threshold=0.1, win_length=None, window="hann", center=True, pad_mode="constant"):
    """Pitches and magnitudes of the spectral peaks, by parabolic interpolation (librosa.piptrack).

    Returns (pitches, magnitudes), each shaped like the spectrogram: non-zero only at the
    bins that are local maxima over frequency, above threshold * the frame's maximum, and
    within [fmin, fmax)."""
    S, n_fft = _magnitudes(y, S, n_fft, hop_length, 1.0, win_length, window, center, pad_mode)
    S = np.abs(S)
    fmin, fmax = max(fmin, 0.0), min(fmax, sr / 2.0)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    slope = np.gradient(S, axis=-2)
    below, here, above = S[..., :-2, :], S[..., 1:-1, :], S[..., 2:, :]
    curvature = above + below - 2 * here
    half_diff = (above - below) / 2
    shift = np.zeros_like(S)
    # a peak further than one bin away is not interpolated (librosa's rule)
    shift[..., 1:-1, :] = np.where(np.abs(half_diff) >= np.abs(curvature), 0.0,
                                   -half_diff / np.where(curvature == 0, 1.0, curvature))
    skew = 0.5 * slope * shift
    loud = S * (S > threshold * S.max(axis=-2, keepdims=True))
    peak = np.zeros(S.shape, bool)
    peak[..., 1:-1, :] = (loud[..., 1:-1, :] > loud[..., :-2, :]) & (loud[..., 1:-1, :] >= loud[..., 2:, :])
    peak[..., -1, :] = loud[..., -1, :] > loud[..., -2, :]
    in_range = ((fmin <= freqs) & (freqs < fmax))[:, None]
    where = peak & in_range
    bins = np.arange(S.shape[-2], dtype=float)[:, None]
    pitches = np.where(where, (bins + shift) * float(sr) / n_fft, 0.0).astype(S.dtype)
    mags = np.where(where, S + skew, 0.0).astype(S.dtype)
    return pitches, mags


def pitch_tuning(frequencies, resolution=0.01, bins_per_octave=12):
    """The most common deviation of `frequencies` from the equal-tempered grid, in fractions
    of a bin in [-0.5, 0.5): the peak of their histogram at `resolution` (librosa.pitch_tuning)."""
    frequencies = np.atleast_1d(frequencies)
    frequencies = frequencies[frequencies > 0]
    if not frequencies.size:
        return 0.0
    residual = np.mod(bins_per_octave * hz_to_octs(frequencies), 1.0)
    residual[residual >= 0.5] -= 1.0
    edges = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1)
    counts, edges = np.histogram(residual, edges)
    return float(edges[np.argmax(counts)])


def estimate_tuning(y=None, sr=22050, S=None, n_fft=2048, resolution=0.01, bins_per_octave=12, **kwargs):
    """The recording's tuning offset in fractions of a bin (librosa.estimate_tuning): the
    `pitch_tuning` of the louder half of `piptrack`'s peaks.

    >>> import autograd_lab as al, numpy as np
    >>> y = np.sin(2 * np.pi * 440.0 * 2 ** (0.2 / 12) * np.arange(22050) / 22050)   # A4 + 20 cents
    >>> round(al.audio.estimate_tuning(y=y), 2)        # 0.2 of a semitone, within the estimate's reach
    0.17
    """
    pitch, mag = piptrack(y=y, sr=sr, S=S, n_fft=n_fft, **kwargs)
    voiced = pitch > 0
    threshold = np.median(mag[voiced]) if voiced.any() else 0.0
    return pitch_tuning(pitch[(mag >= threshold) & voiced], resolution=resolution,
                        bins_per_octave=bins_per_octave)


# ---- chroma filter banks ----------------------------------------------------------------------
def chroma_filters(sr, n_fft, n_chroma=12, tuning=0.0, ctroct=5.0, octwidth=2.0, norm=2, base_c=True,
                   dtype=np.float32):
    """STFT bins -> pitch classes, (n_chroma, 1 + n_fft // 2) (librosa.filters.chroma).

    Each bin is a Gaussian bump around its pitch class (width: the bin's spacing in chroma
    bins, at least one), the columns normalised to unit `norm`, then weighted by a Gaussian
    over octaves centred at `ctroct` (octwidth=None: flat). Row 0 is C if base_c else A.
    """
    freqs = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    pitch = n_chroma * hz_to_octs(freqs, tuning=tuning, bins_per_octave=n_chroma)
    pitch = np.concatenate(([pitch[0] - 1.5 * n_chroma], pitch))   # DC: 1.5 octaves below bin 1
    widths = np.concatenate((np.maximum(np.diff(pitch), 1.0), [1.0]))
    half = np.round(n_chroma / 2.0)
    distance = np.remainder(pitch[None, :] - np.arange(n_chroma, dtype=float)[:, None]
                            + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / widths[None, :]) ** 2)
    weights = normalize(weights, norm=norm, axis=0)
    if octwidth is not None:
        weights *= np.exp(-0.5 * ((pitch / n_chroma - ctroct) / octwidth) ** 2)[None, :]
    if base_c:
        weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(weights[:, :1 + n_fft // 2], dtype=dtype)


def cq_to_chroma(n_input, bins_per_octave=12, n_chroma=12, fmin=None, base_c=True, dtype=np.float32):
    """Constant-Q bins -> pitch classes, (n_chroma, n_input) of 0/1 (librosa.filters.cq_to_chroma):
    each pitch class sums the bins_per_octave / n_chroma bins centred on it, in every octave."""
    merge = bins_per_octave / n_chroma
    if merge % 1 != 0:
        raise ValueError(f"cq_to_chroma: bins_per_octave={bins_per_octave} must be a multiple of "
                         f"n_chroma={n_chroma}")
    matrix = np.repeat(np.eye(n_chroma), int(merge), axis=1)
    matrix = np.roll(matrix, -int(merge // 2), axis=1)
    matrix = np.tile(matrix, int(np.ceil(n_input / bins_per_octave)))[:, :n_input]
    first = np.mod(hz_to_midi(C1_HZ if fmin is None else fmin), 12)
    roll = first if base_c else first - 9
    return np.roll(matrix, int(np.round(roll * (n_chroma / 12.0))), axis=0).astype(dtype)


# ---- constant-Q transform ---------------------------------------------------------------------
def window_bandwidth(window="hann"):
    """Equivalent noise bandwidth of a window, in bins (librosa.filters.window_bandwidth)."""
    from scipy.signal import get_window as scipy_window
    n = 8193          # librosa's table holds symmetric windows of 2**13 + 1 points
    w = scipy_window(window, n, fftbins=False)
    return float(n * np.sum(w ** 2) / (np.sum(w) ** 2 + _tiny(w)))


def _relative_bandwidth(freqs):
    logf = np.log2(freqs)
    per_octave = np.empty_like(freqs)
    per_octave[0] = 1 / (logf[1] - logf[0])
    per_octave[-1] = 1 / (logf[-1] - logf[-2])
    per_octave[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / per_octave) - 1) / (2.0 ** (2 / per_octave) + 1)


def _filter_lengths(freqs, sr, alpha, filter_scale, window):
    """Each filter's length in samples (Q sr / f) and the highest frequency any filter reaches."""
    Q = float(filter_scale) / alpha
    cutoff = float(np.max(freqs * (1 + 0.5 * window_bandwidth(window) / Q)))
    return Q * sr / freqs, cutoff


def _octave_basis(sr, freqs, alpha, filter_scale, norm, sparsity, window):
    """One octave's filters as rows acting on a 'ones'-windowed STFT: (n_filters, 1 + n_fft // 2).

    Time domain: a windowed complex sinusoid per bin, Q sr / f samples long, unit `norm`,
    centred in n_fft = the next power of two; scaled by length / n_fft, taken to the
    frequency domain, and its smallest entries (summing to `sparsity` of each row's L1
    norm) dropped, as librosa does to speed up its sparse product.
    """
    lengths, _ = _filter_lengths(freqs, sr, alpha, filter_scale, window)
    n_fft = int(2.0 ** np.ceil(np.log2(lengths.max())))
    basis = np.zeros((len(freqs), n_fft), complex)
    for row, length, freq in zip(basis, lengths, freqs):
        t = np.arange(-length // 2, length // 2, dtype=float)
        kernel = np.exp(1j * 2 * np.pi * freq / sr * t) * get_window(window, len(t))
        if norm is not None:
            kernel /= np.sum(np.abs(kernel) ** norm) ** (1.0 / norm)
        left = (n_fft - len(t)) // 2
        row[left:left + len(t)] = kernel
    basis *= lengths[:, None] / n_fft
    spectrum = np.fft.fft(basis, axis=1)[:, :n_fft // 2 + 1]
    if sparsity > 0:
        mags = np.abs(spectrum)
        ordered = np.sort(mags, axis=1)
        mass = np.cumsum(ordered / mags.sum(axis=1, keepdims=True), axis=1)
        cut = ordered[np.arange(len(freqs)), np.argmin(mass < sparsity, axis=1)]
        spectrum = np.where(mags >= cut[:, None], spectrum, 0)
    return spectrum, n_fft


class _CQTPlan:
    """Everything about a CQT that depends on the parameters, not on the samples: bins, octave
    layout, early downsampling, per-octave bases (built once, reused by numpy and engine paths)."""

    def __init__(self, sr, hop_length, fmin, n_bins, bins_per_octave, tuning, filter_scale, norm,
                 sparsity, window, scale, res_type):
        if n_bins < 1 or bins_per_octave < 1:
            raise ValueError(f"cqt: n_bins and bins_per_octave must be >= 1, got {n_bins} and {bins_per_octave}")
        if hop_length < 1:
            raise ValueError(f"cqt: hop_length must be >= 1, got {hop_length}")
        if filter_scale <= 0:
            raise ValueError(f"cqt: filter_scale must be positive, got {filter_scale}")
        if not 0 <= sparsity < 1:
            raise ValueError(f"cqt: sparsity must be in [0, 1), got {sparsity}")
        fmin = C1_HZ if fmin is None else float(fmin)
        if fmin <= 0:
            raise ValueError(f"cqt: fmin must be positive, got {fmin}")
        self.n_bins, self.scale, self.res_type = n_bins, scale, res_type
        self.n_octaves = int(np.ceil(n_bins / bins_per_octave))
        n_filters = min(bins_per_octave, n_bins)
        freqs = cqt_frequencies(n_bins, fmin * 2.0 ** (tuning / bins_per_octave), bins_per_octave)
        self.freqs = freqs
        if n_bins == 1:
            r = 2 ** (1 / bins_per_octave)
            alpha = np.atleast_1d((r ** 2 - 1) / (r ** 2 + 1))
        else:
            alpha = _relative_bandwidth(freqs)
        _, cutoff = _filter_lengths(freqs, sr, alpha, filter_scale, window)
        nyquist = sr / 2.0
        if cutoff > nyquist:
            raise ValueError(f"cqt: the top bin ({freqs[-1]:.1f} Hz) reaches {cutoff:.1f} Hz, above the "
                             f"Nyquist frequency {nyquist:.1f} Hz of sr={sr}; use fewer bins or a lower fmin")
        # librosa first drops whole octaves the top filters do not need, as far as the hop allows
        twos = (hop_length & -hop_length).bit_length() - 1
        early = min(max(0, int(np.ceil(np.log2(nyquist / cutoff)) - 1) - 1), max(0, twos - self.n_octaves + 1))
        self.early_factor = 2 ** early
        sr, hop_length = sr / self.early_factor, hop_length // self.early_factor
        self.octaves = []           # per octave: (basis, n_fft, hop, halve_after)
        my_sr, my_hop = sr, hop_length
        for i in range(self.n_octaves):
            top = n_bins - n_filters * i
            bins = slice(max(0, top - n_filters), top)
            basis, n_fft = _octave_basis(my_sr, freqs[bins], alpha[bins], filter_scale, norm, sparsity, window)
            basis = basis * np.sqrt(sr / my_sr)
            halve = my_hop % 2 == 0
            self.octaves.append((basis, n_fft, my_hop, halve))
            if halve:
                my_hop //= 2
                my_sr /= 2.0
        lengths, _ = _filter_lengths(freqs, sr, alpha, filter_scale, window)
        self.length_scale = 1.0 / np.sqrt(lengths) if scale else np.ones(n_bins)


@functools.lru_cache(maxsize=32)
def _cached_plan(*args):
    return _CQTPlan(*args)


def _plan(*args):
    """The plan for these parameters, built once per distinct set (a window array is not cached)."""
    try:
        return _cached_plan(*args)
    except TypeError:                      # unhashable (a window given as an array)
        return _CQTPlan(*args)


def _cqt_args(y, fn_name):
    if isinstance(y, Node):
        data = y.data
    else:
        data = np.asarray(y)
    if data.ndim < 1 or data.shape[-1] == 0:
        raise ValueError(f"{fn_name}: y must be samples (..., n) with n > 0, got shape {data.shape}")
    if data.dtype.kind != "f":
        raise ValueError(f"{fn_name}: y must be floating-point samples, got dtype {data.dtype}")
    return data


def cqt(y, sr=22050, hop_length=512, fmin=None, n_bins=84, bins_per_octave=12, tuning=0.0,
        filter_scale=1, norm=1, sparsity=0.01, window="hann", scale=True, pad_mode="constant",
        res_type="soxr_hq"):
    """Constant-Q transform (..., n_bins, frames), complex, as librosa.cqt.

    Bin k is centred at fmin * 2**(k / bins_per_octave) (fmin: C1 = 32.70 Hz), with a
    filter Q sr / f samples long. Like librosa, each lower octave runs on the signal
    resampled to half the rate by python-soxr (`res_type`), after dropping the octaves
    above the top filter at once. tuning=None estimates the tuning from y first.

    >>> import autograd_lab as al, numpy as np
    >>> y = np.sin(2 * np.pi * 440.0 * np.arange(22050) / 22050)
    >>> C = np.abs(al.audio.cqt(y, sr=22050))
    >>> C.shape, int(C.mean(axis=1).argmax())        # A4 is 45 semitones above C1
    ((84, 44), 45)
    """
    data = _cqt_args(y, "cqt")
    if tuning is None:
        tuning = estimate_tuning(y=data, sr=sr, bins_per_octave=bins_per_octave)
    plan = _plan(sr, hop_length, fmin, n_bins, bins_per_octave, float(tuning), filter_scale, norm,
                 sparsity, window, scale, res_type)
    signal = data.astype(np.float64)
    if plan.early_factor > 1:
        signal = soxr_resample(signal, plan.early_factor, res_type)
        if not scale:
            signal = signal * np.sqrt(plan.early_factor)
    responses = []
    for basis, n_fft, hop, halve in plan.octaves:
        D = stft(signal, n_fft=n_fft, hop_length=hop, window="ones", pad_mode=pad_mode)
        responses.append(np.einsum("kf,...ft->...kt", basis, D))
        if halve:
            signal = soxr_resample(signal, 2, res_type)
    # each octave holds its own bins (the lowest may hold fewer); frames trimmed to the shortest
    frames = min(r.shape[-1] for r in responses)
    C = np.concatenate([r[..., :frames] for r in responses[::-1]], axis=-2) * plan.length_scale[:, None]
    return C.astype(np.complex64 if data.dtype == np.float32 else np.complex128)


def cqt_magnitude(y, sr=22050, hop_length=512, fmin=None, n_bins=84, bins_per_octave=12, tuning=0.0,
                  filter_scale=1, norm=1, sparsity=0.01, window="hann", scale=True, res_type="soxr_hq"):
    """|cqt(y, ...)|: an array for an array, a Tensor for a Tensor (differentiable to the samples).

    The engine path runs the same octaves with the same filters; its resampler is soxr's 2:1
    FIR response (halving.py), and an early drop by 2**k octaves becomes k halvings, so it
    agrees with the array path to ~1e-6 of the largest value (more near the edges after an
    early drop; see docs/audio.md). pad_mode is "constant" on the engine.
    """
    if not isinstance(y, Node):
        return np.abs(cqt(y, sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
                          bins_per_octave=bins_per_octave, tuning=tuning, filter_scale=filter_scale,
                          norm=norm, sparsity=sparsity, window=window, scale=scale, res_type=res_type))
    from ..ops import functions as fn
    data = _cqt_args(y, "cqt_magnitude")
    if tuning is None:
        tuning = estimate_tuning(y=data, sr=sr, bins_per_octave=bins_per_octave)
    plan = _plan(sr, hop_length, fmin, n_bins, bins_per_octave, float(tuning), filter_scale, norm,
                 sparsity, window, scale, res_type)
    taps, center = soxr_halving_taps(res_type), soxr_halving_center(res_type)
    dtype = data.dtype

    def halve(signal):
        return fir_decimate(signal, taps=taps.astype(dtype), factor=2, center=center) * np.sqrt(2.0)

    signal = y
    for _ in range(int(np.log2(plan.early_factor))):
        signal = halve(signal)
    if plan.early_factor > 1 and not scale:
        signal = signal * np.sqrt(plan.early_factor)
    responses = []
    for basis, n_fft, hop, halve_after in plan.octaves:
        n = signal.shape[-1]
        zeros = Tensor(np.zeros(signal.shape[:-1] + (n_fft // 2,), dtype))
        padded = fn.concatenate([zeros, signal, zeros], axis=-1)
        n_frames = 1 + (n + 2 * (n_fft // 2) - n_fft) // hop
        index = np.arange(n_frames)[:, None] * hop + np.arange(n_fft)[None, :]
        frames = fn.getitem(padded, (Ellipsis, index))                    # (..., frames, n_fft)
        # the 'ones'-window STFT followed by the basis is one real -> complex matrix per octave
        # kernel[j, k] = sum_f basis[k, f] exp(-2 pi i j f / n_fft): a DFT of each basis row
        kernel = np.fft.fft(basis, n=n_fft, axis=1).T                     # (n_fft, n_filters)
        real = frames @ Tensor(kernel.real.astype(dtype))
        imag = frames @ Tensor(kernel.imag.astype(dtype))
        responses.append((real, imag))
        if halve_after:
            signal = halve(signal)

    frames = min(real.shape[-2] for real, _ in responses)
    real = fn.concatenate([fn.getitem(r, (Ellipsis, slice(0, frames), slice(None))) for r, _ in responses[::-1]],
                          axis=-1)
    imag = fn.concatenate([fn.getitem(i, (Ellipsis, slice(0, frames), slice(None))) for _, i in responses[::-1]],
                          axis=-1)
    power = real * real + imag * imag
    # |z| with a floor, so a silent frame (exactly 0) gets a zero gradient, not a NaN
    magnitude = fn.sqrt(fn.maximum(power, float(_tiny(data)))) * plan.length_scale.astype(dtype)
    return fn.transpose(magnitude, tuple(range(magnitude.ndim - 2)) + (-1, -2))


# ---- chroma -----------------------------------------------------------------------------------
def chroma_stft(y=None, sr=22050, S=None, norm=np.inf, n_fft=2048, hop_length=512, win_length=None,
                window="hann", center=True, pad_mode="constant", tuning=None, n_chroma=12, **kwargs):
    """Chromagram from a power spectrogram (..., n_chroma, frames), as librosa.feature.chroma_stft.

    Pass samples `y` or a power spectrogram `S`. tuning=None estimates the tuning from the
    spectrogram (librosa's default); kwargs go to `chroma_filters` (ctroct, octwidth, base_c).
    Each frame is divided by its largest pitch class (norm=np.inf). A Tensor y or S gives a Tensor.

    >>> import autograd_lab as al, numpy as np
    >>> y = np.sin(2 * np.pi * 440.0 * np.arange(22050) / 22050)
    >>> al.audio.NOTE_NAMES[int(al.audio.chroma_stft(y=y, sr=22050).mean(axis=1).argmax())]
    'A'
    """
    engine = isinstance(y, Node) or isinstance(S, Node)
    if engine:
        if pad_mode != "constant":
            raise ValueError(f"chroma_stft: on a Tensor pad_mode must be 'constant', got {pad_mode!r}")
        if S is None:
            S = stft_power(y, n_fft, hop_length, win_length, window, center)
        else:
            n_fft = 2 * (S.shape[-2] - 1)
        if tuning is None:
            tuning = estimate_tuning(S=S.data, sr=sr, bins_per_octave=n_chroma)
        fb = chroma_filters(sr, n_fft, n_chroma=n_chroma, tuning=tuning, **kwargs)
        return _engine_normalize(Tensor(fb.astype(S.dtype)) @ S, norm, axis=-2)
    if S is not None and np.asarray(S).shape[-2] < 2:
        raise ValueError(f"chroma_stft: S must be a spectrogram (..., 1 + n_fft // 2, frames), got shape "
                         f"{np.asarray(S).shape}")
    S, n_fft = _magnitudes(y, S, n_fft, hop_length, 2.0, win_length, window, center, pad_mode, "chroma_stft")
    if tuning is None:
        tuning = estimate_tuning(S=S, sr=sr, bins_per_octave=n_chroma)
    fb = chroma_filters(sr, n_fft, n_chroma=n_chroma, tuning=tuning, **kwargs)
    return normalize(np.einsum("cf,...ft->...ct", fb, S, optimize=True), norm=norm, axis=-2)


def chroma_cqt(y=None, sr=22050, C=None, hop_length=512, fmin=None, norm=np.inf, threshold=0.0,
               tuning=None, n_chroma=12, n_octaves=7, bins_per_octave=36):
    """Chromagram from a constant-Q magnitude (..., n_chroma, frames), as librosa.feature.chroma_cqt.

    Pass samples `y` (a 7-octave CQT from C1 at 36 bins per octave is computed, its tuning
    estimated when tuning=None) or a CQT magnitude `C`. The bins of each pitch class are
    summed over all octaves, values below `threshold` zeroed, then each frame divided by its
    largest pitch class. A Tensor y or C gives a Tensor.
    """
    if bins_per_octave is None:
        bins_per_octave = n_chroma
    elif bins_per_octave % n_chroma:
        raise ValueError(f"chroma_cqt: bins_per_octave={bins_per_octave} must be a multiple of "
                         f"n_chroma={n_chroma}")
    if C is None:
        if y is None:
            raise ValueError("chroma_cqt: pass the samples y or a CQT magnitude C")
        try:
            C = cqt_magnitude(y, sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_octaves * bins_per_octave,
                              bins_per_octave=bins_per_octave, tuning=tuning)
        except ValueError as error:         # say which of chroma_cqt's parameters to change
            raise ValueError(f"chroma_cqt (n_octaves={n_octaves}, fmin={fmin}): {error}") from error
    elif not isinstance(C, Node):
        C = np.asarray(C)
        if np.iscomplexobj(C):
            raise ValueError("chroma_cqt: C must be a CQT magnitude (take np.abs of cqt's output)")
    if C.ndim < 2:
        raise ValueError(f"chroma_cqt: C must be (..., bins, frames), got shape {C.shape}")
    to_chroma = cq_to_chroma(C.shape[-2], bins_per_octave=bins_per_octave, n_chroma=n_chroma, fmin=fmin)
    if isinstance(C, Node):
        from ..ops import functions as fn
        chroma = Tensor(to_chroma.astype(C.dtype)) @ C
        if threshold is not None:
            chroma = fn.where(chroma.data < threshold, 0.0, chroma)
        return _engine_normalize(chroma, norm, axis=-2)
    chroma = np.einsum("cf,...ft->...ct", to_chroma, C, optimize=True)
    if threshold is not None:
        chroma[chroma < threshold] = 0.0
    return normalize(chroma, norm=norm, axis=-2)


# ---- onsets -----------------------------------------------------------------------------------
def onset_strength(y=None, sr=22050, S=None, lag=1, max_size=1, detrend=False, center=True,
                   n_fft=2048, hop_length=512, **kwargs):
    """Spectral flux onset strength (..., frames), as librosa.onset.onset_strength with its
    default feature and aggregation.

    S (a log-power spectrogram in dB) defaults to power_to_db(melspectrogram(y, sr, n_fft,
    hop_length, fmax=sr / 2, **kwargs)). Per frame: the mean over bands of the increase
    max(0, S[t] - S[t - lag]); shifted right by lag (+ n_fft // (2 hop_length) when center)
    and trimmed to the spectrogram's length. max_size > 1 compares against the maximum of
    the previous frame over `max_size` neighbouring bands (librosa's vibrato suppression).
    A Tensor y or S gives a Tensor.

    >>> import autograd_lab as al, numpy as np
    >>> y = np.zeros(22050); y[11025:] = np.sin(np.arange(11025) * 0.3)      # a tone from 0.5 s on
    >>> env = al.audio.onset_strength(y=y, sr=22050)
    >>> int(env.argmax())                            # 0.5 s is frame 21.5 (hop 512)
    22
    """
    if int(lag) != lag or lag < 1:
        raise ValueError(f"onset_strength: lag must be a positive integer, got {lag}")
    if int(max_size) != max_size or max_size < 1:
        raise ValueError(f"onset_strength: max_size must be a positive integer, got {max_size}")
    engine = isinstance(y, Node) or isinstance(S, Node)
    if S is None:
        if y is None:
            raise ValueError("onset_strength: pass the samples y or a spectrogram S")
        kwargs.setdefault("fmax", 0.5 * sr)
        S = power_to_db(melspectrogram(y if engine else np.asarray(y), sr=sr, n_fft=n_fft,
                                       hop_length=hop_length, **kwargs))
    elif not engine:
        S = np.atleast_2d(np.asarray(S))
    if S.ndim < 2 or S.shape[-1] <= lag:
        raise ValueError(f"onset_strength: need a spectrogram (..., bands, frames) with more than lag={lag} "
                         f"frames, got shape {S.shape}")
    pad_width = lag + (n_fft // (2 * hop_length) if center else 0)
    n_frames = S.shape[-1]
    if engine:
        return _engine_onset_strength(S, lag, max_size, detrend, center, pad_width, n_frames)
    reference = S
    if max_size > 1:
        from scipy.ndimage import maximum_filter1d
        reference = maximum_filter1d(S, max_size, axis=-2)
    flux = np.maximum(0.0, S[..., lag:] - reference[..., :-lag]).mean(axis=-2)
    env = np.pad(flux, [(0, 0)] * (flux.ndim - 1) + [(int(pad_width), 0)])
    if detrend:
        from scipy.signal import lfilter
        env = lfilter([1.0, -1.0], [1.0, -0.99], env, axis=-1)
    return env[..., :n_frames] if center else env


def _engine_onset_strength(S, lag, max_size, detrend, center, pad_width, n_frames):
    from ..ops import functions as fn
    if max_size > 1 or detrend:
        raise ValueError("onset_strength: on a Tensor max_size must be 1 and detrend False")
    frames = S.shape[-1]
    later = fn.getitem(S, (Ellipsis, slice(lag, frames)))
    earlier = fn.getitem(S, (Ellipsis, slice(0, frames - lag)))
    flux = fn.mean(fn.maximum(later - earlier, 0.0), axis=-2)
    zeros = Tensor(np.zeros(flux.shape[:-1] + (int(pad_width),), flux.dtype))
    env = fn.concatenate([zeros, flux], axis=-1)
    return fn.getitem(env, (Ellipsis, slice(0, n_frames))) if center else env
