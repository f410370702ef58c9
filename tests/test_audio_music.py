"""Music features (chroma, constant-Q, onset strength) against librosa 0.11, on pure tones and
chords, and the same features on the engine (values and gradients)."""
import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio.halving import fir_decimate, soxr_halve, soxr_halving_center, soxr_halving_taps

librosa = pytest.importorskip("librosa")

SR = 22050
# the acceptance: relative to the largest value, 1e-5 on float64 and 1e-4 on float32
RTOL = {np.float64: 1e-5, np.float32: 1e-4}
DTYPES = [np.float64, np.float32]


def _music(seconds=1.0, sr=SR, dtype=np.float64, seed=0):
    """A gliding tone, a steady A4 with two overtones and a little noise, 20 cents sharp of nothing
    in particular: something for every bin and for the tuning estimate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    glide = np.sin(2 * np.pi * (110 * t + 400 * t ** 2))
    a4 = sum(np.sin(2 * np.pi * 440 * k * t) / k for k in (1, 2, 3))
    return (0.3 * glide + 0.3 * a4 + 0.02 * rng.standard_normal(len(t))).astype(dtype)


def _tones(freqs, seconds=1.0, sr=SR, harmonics=1):
    t = np.arange(int(sr * seconds)) / sr
    return sum(np.sin(2 * np.pi * f * k * t) / k for f in freqs for k in range(1, harmonics + 1))


def assert_close_to_max(ours, theirs, rtol):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.abs(theirs).max())


def _c_major(harmonics):
    return _tones([261.63, 329.63, 392.00], harmonics=harmonics)     # C4, E4, G4


# ---- against librosa --------------------------------------------------------------------------
CQT_SETS = [
    pytest.param(dict(), id="defaults-84bins-12bpo-hop512"),
    pytest.param(dict(n_bins=252, bins_per_octave=36), id="36bpo-7octaves"),
    pytest.param(dict(hop_length=256, fmin=65.0, n_bins=60), id="hop256-fmin65"),
    pytest.param(dict(hop_length=384, n_bins=72), id="hop384-odd-halvings"),
    pytest.param(dict(n_bins=24, fmin=220.0), id="early-downsampling"),
    pytest.param(dict(tuning=None, scale=False, filter_scale=0.8), id="tuned-unscaled"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", CQT_SETS)
def test_cqt_matches_librosa(kwargs, dtype):
    y = _music(dtype=dtype)
    ours = al.audio.cqt(y, sr=SR, **kwargs)
    theirs = librosa.cqt(y, sr=SR, **kwargs)
    assert ours.dtype == theirs.dtype
    assert_close_to_max(np.abs(ours), np.abs(theirs), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_chroma_stft_matches_librosa(dtype):
    y = _music(dtype=dtype)
    for kwargs in (dict(), dict(tuning=0.0), dict(n_fft=4096, hop_length=1024), dict(n_chroma=24),
                   dict(octwidth=None, norm=2)):
        assert_close_to_max(al.audio.chroma_stft(y=y, sr=SR, **kwargs),
                            librosa.feature.chroma_stft(y=y, sr=SR, **kwargs), RTOL[dtype])
    S = np.abs(librosa.stft(y)) ** 2
    assert_close_to_max(al.audio.chroma_stft(S=S, sr=SR), librosa.feature.chroma_stft(S=S, sr=SR), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_chroma_cqt_matches_librosa(dtype):
    y = _music(dtype=dtype)
    for kwargs in (dict(), dict(tuning=0.0), dict(bins_per_octave=12), dict(hop_length=256, threshold=0.1)):
        assert_close_to_max(al.audio.chroma_cqt(y=y, sr=SR, **kwargs),
                            librosa.feature.chroma_cqt(y=y, sr=SR, **kwargs), RTOL[dtype])
    C = np.abs(librosa.cqt(y, sr=SR, n_bins=84))
    assert_close_to_max(al.audio.chroma_cqt(C=C, bins_per_octave=12),
                        librosa.feature.chroma_cqt(C=C, bins_per_octave=12), RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_onset_strength_matches_librosa(dtype):
    y = _music(dtype=dtype)
    y[SR // 2:SR // 2 + 2000] += 0.5 * np.sin(np.arange(2000) * 0.2).astype(dtype)    # an onset
    for kwargs in (dict(), dict(lag=2), dict(max_size=3), dict(center=False), dict(detrend=True),
                   dict(n_mels=64, hop_length=256)):
        assert_close_to_max(al.audio.onset_strength(y=y, sr=SR, **kwargs),
                            librosa.onset.onset_strength(y=y, sr=SR, **kwargs), RTOL[dtype])
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR))
    assert_close_to_max(al.audio.onset_strength(S=S, sr=SR), librosa.onset.onset_strength(S=S, sr=SR),
                        RTOL[dtype])


def test_tuning_estimate_and_filter_banks_match_librosa():
    for cents in (0.0, 20.0, -33.0):
        y = _tones([440.0 * 2 ** (cents / 1200)], harmonics=3)
        ours = al.audio.estimate_tuning(y=y, sr=SR)
        assert ours == librosa.estimate_tuning(y=y, sr=SR)
        assert abs(ours - cents / 100) <= 0.05       # parabolic peaks of a Hann STFT: a few cents off
    assert al.audio.estimate_tuning(y=_music(), sr=SR, bins_per_octave=36) == \
        librosa.estimate_tuning(y=_music(), sr=SR, bins_per_octave=36)
    for kwargs in (dict(sr=22050, n_fft=2048), dict(sr=8000, n_fft=512, tuning=0.3, n_chroma=24),
                   dict(sr=16000, n_fft=1024, octwidth=None, base_c=False)):
        np.testing.assert_allclose(al.audio.chroma_filters(**kwargs), librosa.filters.chroma(**kwargs),
                                   rtol=1e-6, atol=1e-9)
    for kwargs in (dict(n_input=84), dict(n_input=252, bins_per_octave=36), dict(n_input=40, fmin=55.0)):
        np.testing.assert_array_equal(al.audio.cq_to_chroma(**kwargs), librosa.filters.cq_to_chroma(**kwargs))
    np.testing.assert_allclose(al.audio.cqt_frequencies(84, tuning=0.1),
                               librosa.cqt_frequencies(84, fmin=librosa.note_to_hz("C1"), tuning=0.1))


# ---- what a musician expects --------------------------------------------------------------------
@pytest.mark.parametrize("harmonics", [1, 4])
def test_a_c_major_triad_lights_c_e_and_g(harmonics):
    y = _c_major(harmonics)
    for chroma in (al.audio.chroma_stft(y=y, sr=SR), al.audio.chroma_cqt(y=y, sr=SR)):
        loudest = {al.audio.NOTE_NAMES[i] for i in np.argsort(chroma.mean(axis=1))[-3:]}
        assert loudest == {"C", "E", "G"}
        others = np.delete(chroma.mean(axis=1), [0, 4, 7])
        assert chroma.mean(axis=1)[[0, 4, 7]].min() > 2 * others.max()


def test_a_pure_a4_peaks_at_its_cqt_bin():
    y = _tones([440.0])
    for bins_per_octave in (12, 36):
        C = np.abs(al.audio.cqt(y, sr=SR, n_bins=7 * bins_per_octave, bins_per_octave=bins_per_octave))
        peak = int(C.mean(axis=1).argmax())
        assert peak == 45 * bins_per_octave // 12                     # A4 is 45 semitones above C1
        assert al.audio.cqt_frequencies(7 * bins_per_octave, bins_per_octave=bins_per_octave)[peak] == \
            pytest.approx(440.0)
    # fmin moves the bins with it
    C = np.abs(al.audio.cqt(y, sr=SR, fmin=220.0, n_bins=36))
    assert int(C.mean(axis=1).argmax()) == 12


def test_multichannel_input_keeps_leading_axes():
    y = np.stack([_music(seed=0), _tones([440.0])])
    C = al.audio.cqt(y, sr=SR, n_bins=48, fmin=65.0)
    assert C.shape[:2] == (2, 48)
    np.testing.assert_allclose(C[1], al.audio.cqt(y[1], sr=SR, n_bins=48, fmin=65.0), rtol=1e-9, atol=1e-12)
    assert al.audio.chroma_stft(y=y, sr=SR, tuning=0.0).shape[:2] == (2, 12)
    assert al.audio.onset_strength(y=y, sr=SR).shape[0] == 2


def test_bad_input_is_named():
    y = _music(seconds=0.2)
    with pytest.raises(ValueError, match=r"cqt: the top bin .* above the Nyquist frequency 4000.0 Hz of sr=8000"):
        al.audio.cqt(y, sr=8000)
    with pytest.raises(ValueError, match=r"cqt: y must be floating-point samples, got dtype int64"):
        al.audio.cqt(np.arange(100), sr=SR)
    with pytest.raises(ValueError, match=r"cqt: y must be samples \(\.\.\., n\) with n > 0, got shape \(0,\)"):
        al.audio.cqt(np.zeros(0), sr=SR)
    with pytest.raises(ValueError, match="cqt: res_type must be one of"):
        al.audio.cqt(y, sr=SR, res_type="kaiser_best")
    with pytest.raises(ValueError, match="cqt: hop_length must be >= 1"):
        al.audio.cqt(y, sr=SR, hop_length=0)
    with pytest.raises(ValueError, match="chroma_cqt: bins_per_octave=30 must be a multiple of n_chroma=12"):
        al.audio.chroma_cqt(y=y, bins_per_octave=30)
    with pytest.raises(ValueError, match="chroma_cqt: C must be a CQT magnitude"):
        al.audio.chroma_cqt(C=al.audio.cqt(y, sr=SR))
    with pytest.raises(ValueError, match=r"chroma_stft: S must be a spectrogram .* got shape \(1, 5\)"):
        al.audio.chroma_stft(S=np.ones((1, 5)))
    with pytest.raises(ValueError, match="chroma_stft: pass the samples y or a spectrogram S"):
        al.audio.chroma_stft(sr=SR)
    with pytest.raises(ValueError, match=r"chroma_cqt \(n_octaves=7, fmin=None\): cqt: the top bin"):
        al.audio.chroma_cqt(y=y, sr=8000)
    with pytest.raises(ValueError, match="chroma_cqt: pass the samples y or a CQT magnitude C"):
        al.audio.chroma_cqt(sr=SR)
    with pytest.raises(ValueError, match="onset_strength: lag must be a positive integer, got 0"):
        al.audio.onset_strength(y=y, lag=0)
    with pytest.raises(ValueError, match=r"onset_strength: need a spectrogram .* got shape \(4, 1\)"):
        al.audio.onset_strength(S=np.ones((4, 1)))


# ---- on the engine ----------------------------------------------------------------------------
def test_the_engine_resampler_is_soxrs_own():
    """soxr's 2:1 resampling is the FIR op, edges included, to float resolution."""
    x = np.random.default_rng(2).standard_normal((2, 3001))
    ours = fir_decimate(x, taps=soxr_halving_taps(), factor=2, center=soxr_halving_center())
    np.testing.assert_allclose(ours, soxr_halve(x), atol=1e-6 * np.abs(x).max())


@pytest.mark.parametrize("dtype", DTYPES)
def test_engine_features_equal_the_numpy_ones(dtype):
    y = _music(seconds=0.5, dtype=dtype)
    x = al.tensor(y)
    rtol = {np.float64: 1e-6, np.float32: 1e-5}[dtype]
    for kwargs in (dict(), dict(n_bins=252, bins_per_octave=36), dict(hop_length=256, fmin=65.0, n_bins=60)):
        C = al.audio.cqt_magnitude(x, sr=SR, **kwargs)
        assert isinstance(C, al.Tensor) and C.dtype == dtype
        assert_close_to_max(C.data, al.audio.cqt_magnitude(y, sr=SR, **kwargs), rtol)
    assert_close_to_max(al.audio.chroma_stft(y=x, sr=SR).data, al.audio.chroma_stft(y=y, sr=SR), rtol)
    assert_close_to_max(al.audio.chroma_cqt(y=x, sr=SR).data, al.audio.chroma_cqt(y=y, sr=SR), rtol)
    assert_close_to_max(al.audio.onset_strength(y=x, sr=SR).data, al.audio.onset_strength(y=y, sr=SR), rtol)


def test_engine_cqt_after_an_early_drop_differs_only_at_the_edges():
    """An early drop by 2**k octaves is k soxr halvings on the engine, one soxr call on arrays."""
    y = _music(seconds=0.5)
    kwargs = dict(sr=SR, n_bins=24, fmin=220.0)
    ours, reference = al.audio.cqt_magnitude(al.tensor(y), **kwargs).data, al.audio.cqt_magnitude(y, **kwargs)
    scale = reference.max()
    assert np.abs(ours - reference).max() < 5e-3 * scale
    assert np.abs(ours - reference)[:, 3:-3].max() < 1e-6 * scale


SMALL = dict(sr=800, fmin=50.0, bins_per_octave=3, hop_length=8)


@pytest.mark.parametrize("feature", [
    pytest.param(lambda x: al.audio.cqt_magnitude(x, n_bins=6, **SMALL), id="cqt"),
    pytest.param(lambda x: al.audio.cqt_magnitude(x, n_bins=3, **SMALL), id="cqt-early-drop"),
    pytest.param(lambda x: al.audio.chroma_cqt(y=x, sr=800, fmin=50.0, n_octaves=2, bins_per_octave=12,
                                               hop_length=8, tuning=0.0), id="chroma_cqt"),
    pytest.param(lambda x: al.audio.chroma_stft(y=x, sr=800, n_fft=32, hop_length=8, tuning=0.0), id="chroma_stft"),
    pytest.param(lambda x: al.audio.onset_strength(y=x, sr=800, n_fft=32, hop_length=8, n_mels=6),
                 id="onset_strength"),
])
def test_engine_features_pass_gradcheck(feature):
    x = al.tensor(np.random.default_rng(3).standard_normal(72), dtype=np.float64, requires_grad=True)
    assert al.gradcheck(feature, [x], order=2).ok


def test_saliency_through_the_cqt_finds_the_note():
    """A4 in the second half only: the gradient of the A4 bin's energy lives there too.
    (Energy, not magnitude: d|z|/dz has unit length even where z is all but silent.)"""
    y = np.zeros(SR, np.float32)
    y[SR // 2:] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    x = al.tensor(y, requires_grad=True)
    C = al.audio.cqt_magnitude(x, sr=SR)
    assert int(C.data.mean(axis=1).argmax()) == 45
    (C[45] * C[45]).sum().backward()
    saliency = np.abs(x.grad)
    assert x.grad.dtype == np.float32 and np.isfinite(saliency).all()
    assert saliency[SR // 2 + 2000:].sum() > 50 * saliency[:SR // 2 - 2000].sum()
