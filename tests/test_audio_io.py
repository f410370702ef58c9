"""Sound files: every supported format loads to the right samples; broken files give an
AudioFileError that names the file and says what is wrong."""
import os

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio import AudioFileError

SR = 8000
FSDD = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd")


def _signal(n=4000, sr=SR):
    t = np.arange(n) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1230 * t)).astype(np.float32)


# (file name, soundfile subtype, largest allowed error against the written float signal)
LOSSLESS = [
    ("pcm_u8.wav", "PCM_U8", 1 / 127),
    ("pcm_16.wav", "PCM_16", 1 / 32767),
    ("pcm_24.wav", "PCM_24", 1 / 2 ** 23),
    ("pcm_32.wav", "PCM_32", 1 / 2 ** 31 + 1e-7),
    ("float.wav", "FLOAT", 0.0),
    ("double.wav", "DOUBLE", 0.0),
    ("pcm_16.flac", "PCM_16", 1 / 32767),
    ("pcm_24.flac", "PCM_24", 1 / 2 ** 23),
]


@pytest.mark.parametrize("name, subtype, tolerance", LOSSLESS)
def test_lossless_formats_load_to_the_written_samples(tmp_path, name, subtype, tolerance):
    y = _signal()
    path = tmp_path / name
    al.audio.save(path, y, SR, subtype=subtype)
    loaded, sr = al.audio.load(path)
    assert sr == SR and loaded.dtype == np.float32 and loaded.shape == y.shape
    assert np.max(np.abs(loaded - y)) <= tolerance
    assert np.max(np.abs(loaded)) <= 1.0


@pytest.mark.parametrize("name, subtype", [("vorbis.ogg", "VORBIS"), ("mpeg.mp3", "MPEG_LAYER_III")])
def test_lossy_formats_load_to_nearly_the_written_samples(tmp_path, name, subtype):
    y = _signal(8000)
    path = tmp_path / name
    al.audio.save(path, y, SR, subtype=subtype)
    loaded, sr = al.audio.load(path)
    assert sr == SR and loaded.dtype == np.float32
    n = min(len(loaded), len(y))
    if subtype == "MPEG_LAYER_III":          # the encoder delays the signal; align by correlation
        lag = int(np.argmax(np.correlate(loaded[:n], y[:2000], mode="valid")))
        loaded = loaded[lag:lag + n - 2000]
        n = len(loaded)
    a, b = loaded[:n], y[:n]
    assert np.corrcoef(a[500:-500], b[500:-500])[0, 1] > 0.99
    # the level survives encoding: RMS within 1 dB
    assert abs(20 * np.log10(np.std(a[500:-500]) / np.std(b[500:-500]))) < 1.0


def test_stereo_is_averaged_or_kept(tmp_path):
    left, right = _signal(), -0.5 * _signal()
    path = tmp_path / "stereo.wav"
    al.audio.save(path, np.stack([left, right]), SR, subtype="FLOAT")
    mono, _ = al.audio.load(path)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    both, _ = al.audio.load(path, mono=False)
    assert both.shape == (2, len(left))
    np.testing.assert_array_equal(both[1], right)


def test_resampling_keeps_the_pitch_and_removes_what_no_longer_fits(tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 1000 * t)
    alias = np.sin(2 * np.pi * 6000 * t)         # above the new Nyquist frequency of 4 kHz
    path = tmp_path / "two_tones.wav"
    al.audio.save(path, (0.4 * tone + 0.4 * alias).astype(np.float32), sr, subtype="FLOAT")
    y, rate = al.audio.load(path, sr=8000)
    assert rate == 8000 and len(y) == 8000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000, abs=2)
    # 6 kHz would fold to 2 kHz without the anti-aliasing filter
    at_2k = spectrum[np.argmin(np.abs(freqs - 2000))]
    assert 20 * np.log10(spectrum.max() / at_2k) > 60


def test_resample_handles_non_integer_ratios():
    y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    out = al.audio.resample(y, 22050, 16000)
    assert out.shape == (16000,) and out.dtype == np.float32
    with pytest.raises(ValueError, match="sample rates must be positive"):
        al.audio.resample(y, 0, 8000)


# ---- broken files ------------------------------------------------------------------------
def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _broken(tmp_path, kind):
    if kind == "empty":
        path = tmp_path / "empty.wav"
        path.write_bytes(b"")
    elif kind == "text renamed .wav":
        path = tmp_path / "notes.wav"
        path.write_text("these are my lecture notes, not a recording\n" * 20)
    elif kind == "zero-length audio":
        path = tmp_path / "silent.wav"
        al.audio.save(path, np.zeros(0, np.float32), SR, subtype="PCM_16")
    elif kind.startswith("truncated"):
        ext, subtype = {"truncated wav": ("wav", "PCM_16"), "truncated 24-bit wav": ("wav", "PCM_24"),
                        "truncated flac": ("flac", "PCM_16"), "truncated ogg": ("ogg", "VORBIS")}[kind]
        path = tmp_path / f"cut.{ext}"
        al.audio.save(path, _signal(16000), SR, subtype=subtype)
        _truncate(path)
    elif kind == "missing":
        path = tmp_path / "nowhere.wav"
    elif kind == "folder":
        path = tmp_path / "a_folder.wav"
        path.mkdir()
    return path


@pytest.mark.parametrize("kind, reason", [
    ("empty", "empty"),
    ("text renamed .wav", "not a readable sound file"),
    ("zero-length audio", "no audio samples"),
    ("truncated wav", "truncated"),
    ("truncated 24-bit wav", "truncated"),
    ("truncated flac", "truncated"),
    ("truncated ogg", "truncated"),
    ("missing", "no such file"),
    ("folder", "is a folder"),
])
def test_broken_files_raise_a_named_error(tmp_path, kind, reason):
    path = _broken(tmp_path, kind)
    with pytest.raises(AudioFileError, match=reason) as info:
        al.audio.load(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_also_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        al.audio.load(tmp_path / "nowhere.wav")


@pytest.mark.skipif(not os.path.isdir(FSDD), reason="../shared/data/fsdd is not beside the checkout")
def test_an_fsdd_recording_loads_as_8_khz_float():
    y, sr = al.audio.load(os.path.join(FSDD, "recordings", "0_george_0.wav"))
    assert sr == 8000 and y.dtype == np.float32 and 0.1 < len(y) / sr < 2.5
    assert 0 < np.abs(y).max() <= 1
