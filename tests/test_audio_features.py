"""Spectrogram features against librosa 0.11 (the oracle), and the same front end on the engine."""
import numpy as np
import pytest

import autograd_lab as al

librosa = pytest.importorskip("librosa")

# The four parameter sets: (sr, n_fft, hop_length, n_mels, htk)
PARAMETER_SETS = [
    pytest.param(8000, 256, 128, 40, False, id="8kHz-256-40mels"),
    pytest.param(16000, 512, 160, 64, False, id="16kHz-512-64mels"),
    pytest.param(22050, 2048, 512, 128, False, id="22kHz-2048-128mels"),
    pytest.param(16000, 400, 160, 40, True, id="16kHz-400-40mels-HTK"),
]
RTOL = 1e-5


def _clip(sr, seconds=0.8, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    chirp = np.sin(2 * np.pi * (200 * t + 900 * t ** 2))
    return (0.4 * chirp + 0.05 * rng.standard_normal(len(t))).astype(dtype)


def assert_close_on_scale(ours, reference, rtol=RTOL):
    """rtol against the array's own scale, for quantities that cross zero (dB, MFCC):
    an element near 0 dB cannot be held to a relative error of its own."""
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=rtol, atol=rtol * np.max(np.abs(reference)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sr, n_fft, hop, n_mels, htk", PARAMETER_SETS)
def test_features_match_librosa(sr, n_fft, hop, n_mels, htk, dtype):
    y = _clip(sr, dtype=dtype)
    ours = al.audio.stft(y, n_fft=n_fft, hop_length=hop)
    theirs = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * np.abs(theirs).max())

    fb = al.audio.mel_filters(sr, n_fft, n_mels, htk=htk)
    np.testing.assert_allclose(fb, librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, htk=htk),
                               rtol=RTOL, atol=1e-9)

    kwargs = dict(sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, htk=htk)
    S = al.audio.melspectrogram(y=y, **kwargs)
    S_ref = librosa.feature.melspectrogram(y=y, **kwargs)
    assert S.dtype == S_ref.dtype
    np.testing.assert_allclose(S, S_ref, rtol=RTOL)          # power: every bin to rtol, no atol
    assert_close_on_scale(al.audio.power_to_db(S), librosa.power_to_db(S_ref))
    assert_close_on_scale(al.audio.mfcc(y=y, **kwargs), librosa.feature.mfcc(y=y, **kwargs))


@pytest.mark.parametrize("options", [
    dict(fmin=100.0, fmax=3000.0), dict(norm=None), dict(norm=2.0), dict(power=1.0),
    dict(center=False), dict(win_length=200, window="hamming"), dict(pad_mode="reflect"),
])
def test_melspectrogram_options_match_librosa(options):
    y = _clip(8000)
    kwargs = dict(sr=8000, n_fft=256, hop_length=100, n_mels=32, **options)
    np.testing.assert_allclose(al.audio.melspectrogram(y=y, **kwargs),
                               librosa.feature.melspectrogram(y=y, **kwargs), rtol=RTOL)


def test_defaults_are_librosas():
    y = _clip(22050, seconds=1.0)
    np.testing.assert_allclose(al.audio.melspectrogram(y=y), librosa.feature.melspectrogram(y=y), rtol=RTOL)
    assert_close_on_scale(al.audio.mfcc(y=y), librosa.feature.mfcc(y=y))
    assert_close_on_scale(al.audio.mfcc(y=y, lifter=22, n_mfcc=13), librosa.feature.mfcc(y=y, lifter=22, n_mfcc=13))


def test_power_to_db_and_amplitude_to_db_match_librosa():
    S = np.abs(np.random.default_rng(1).standard_normal((20, 30))) ** 3
    for kwargs in (dict(), dict(ref=np.max), dict(top_db=None), dict(amin=1e-3, top_db=40.0)):
        assert_close_on_scale(al.audio.power_to_db(S, **kwargs), librosa.power_to_db(S, **kwargs))
    assert_close_on_scale(al.audio.amplitude_to_db(S, ref=np.max), librosa.amplitude_to_db(S, ref=np.max))


def test_scales_match_librosa():
    f = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    for htk in (False, True):
        np.testing.assert_allclose(al.audio.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-12)
        mels = librosa.hz_to_mel(f, htk=htk)
        np.testing.assert_allclose(al.audio.mel_to_hz(mels, htk=htk), f, rtol=1e-10, atol=1e-9)


def test_multichannel_input_keeps_leading_axes():
    y = np.stack([_clip(8000, seed=0), _clip(8000, seed=1)])
    S = al.audio.melspectrogram(y=y, sr=8000, n_fft=256, hop_length=128, n_mels=40)
    assert S.shape[:2] == (2, 40)
    np.testing.assert_allclose(S[1], al.audio.melspectrogram(y=y[1], sr=8000, n_fft=256, hop_length=128,
                                                             n_mels=40), rtol=1e-12)


def test_bad_parameters_are_named():
    y = _clip(8000, seconds=0.01)
    with pytest.raises(ValueError, match="n_fft=256 is longer than the signal"):
        al.audio.stft(y, n_fft=256, center=False)
    with pytest.raises(ValueError, match="hop_length must be >= 1"):
        al.audio.stft(y, n_fft=32, hop_length=0)
    with pytest.raises(ValueError, match="need 0 <= fmin < fmax"):
        al.audio.mel_filters(8000, 256, fmin=5000)
    with pytest.raises(ValueError, match="amin must be positive"):
        al.audio.power_to_db(np.ones(3), amin=0)


# ---- the front end as engine ops -----------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_engine_front_end_equals_the_numpy_one(dtype):
    y = _clip(8000, seconds=0.5, dtype=dtype)
    kwargs = dict(sr=8000, n_fft=256, hop_length=128, n_mels=40)
    S = al.audio.melspectrogram(al.tensor(y), **kwargs)
    assert isinstance(S, al.Tensor) and S.dtype == dtype
    reference = al.audio.melspectrogram(y=y, **kwargs)
    np.testing.assert_allclose(S.data, reference, rtol=1e-9 if dtype == np.float64 else 2e-4,
                               atol=1e-6 * reference.max())
    db = al.audio.power_to_db(S)
    assert_close_on_scale(db.data, al.audio.power_to_db(reference), rtol=1e-9 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_engine_front_end_passes_gradcheck(center):
    rng = np.random.default_rng(3)
    x = al.tensor(rng.standard_normal(72), dtype=np.float64, requires_grad=True)

    def front_end(signal):
        S = al.audio.melspectrogram(signal, sr=8000, n_fft=32, hop_length=8, n_mels=6, center=center)
        return al.audio.power_to_db(S, top_db=None)

    report = al.gradcheck(front_end, [x], order=2)
    assert report.ok


def test_saliency_flows_back_to_the_waveform():
    """A tone in the second half: the gradient of its mel band's energy lives there too."""
    sr = 8000
    y = np.zeros(sr, np.float32)
    t = np.arange(sr // 2) / sr
    y[sr // 2:] = 0.5 * np.sin(2 * np.pi * 1000 * t)
    x = al.tensor(y, requires_grad=True)
    S = al.audio.power_to_db(al.audio.melspectrogram(x, sr=sr, n_fft=256, hop_length=128, n_mels=40))
    band = int(np.argmax(S.data.mean(axis=1)))
    S[band].sum().backward()
    saliency = np.abs(x.grad)
    assert x.grad.dtype == np.float32 and np.isfinite(saliency).all()
    assert saliency[sr // 2 + 200:].sum() > 100 * saliency[:sr // 2 - 200].sum()


@pytest.mark.parametrize("window", ["hann", "hamming"])
def test_hann_and_hamming_are_scipys_windows_bit_for_bit(window):
    """get_window computes these two itself (importing scipy.signal costs every command ~1 s):
    the same bits as scipy's periodic windows, padded to n_fft as before."""
    from scipy.signal import get_window as scipy_window
    from autograd_lab.audio.features import get_window
    for n in (1, 2, 3, 7, 64, 200, 255, 256, 400, 1023, 1024, 2048):
        np.testing.assert_array_equal(get_window(window, n), scipy_window(window, n, fftbins=True))
    padded = get_window(window, 512, 400)
    np.testing.assert_array_equal(padded[56:456], scipy_window(window, 400, fftbins=True))
    assert not padded[:56].any() and not padded[456:].any()
