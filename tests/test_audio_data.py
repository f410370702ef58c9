"""Preparing clips (loudness, length, augmentation), the feature cache, and the datasets."""
import os
import warnings

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio import AudioFileError, DatasetError, FeatureConfig, datasets

FSDD = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd")
needs_fsdd = pytest.mark.skipif(not os.path.isdir(FSDD), reason="../shared/data/fsdd is not beside the checkout")


def _tone(seconds=0.5, sr=8000, freq=440.0, level=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _folder(root, files):
    """files: {relative path: (samples, sr, subtype)}"""
    for rel, (y, sr, subtype) in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        al.audio.save(path, y, sr, subtype=subtype)
    return root


# ---- preparation ------------------------------------------------------------------------------
def test_loudness_normalisation_sets_the_rms_level():
    for level in (0.01, 0.3):
        out = al.audio.normalize_loudness(_tone(level=level), target_db=-20)
        assert 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(-20, abs=1e-4)
    silence = np.zeros(100, np.float32)
    np.testing.assert_array_equal(al.audio.normalize_loudness(silence), silence)
    spiky = np.zeros(1000, np.float32)
    spiky[0] = 1.0                                   # -30 dB RMS: +10 dB would put the peak at 3.16
    out = al.audio.normalize_loudness(spiky, target_db=-20)
    assert np.abs(out).max() == pytest.approx(1.0)


def test_fix_length_pads_and_crops():
    y = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(al.audio.fix_length(y, 4), [4, 5, 6, 7])
    np.testing.assert_array_equal(al.audio.fix_length(y, 4, mode="start"), [1, 2, 3, 4])
    np.testing.assert_array_equal(al.audio.fix_length(y[:3], 6), [0, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(al.audio.fix_length(y[:3], 5, mode="start"), [1, 2, 3, 0, 0])
    with pytest.raises(ValueError, match="mode must be"):
        al.audio.fix_length(y, 4, mode="middle")


def test_feature_config_gives_fixed_size_inputs_from_any_rate_and_length():
    cfg = FeatureConfig(sr=8000, duration=1.0, n_fft=256, hop_length=128, n_mels=40)
    for sr, seconds in ((8000, 0.3), (16000, 1.7), (44100, 1.0)):
        X = cfg.features(_tone(seconds, sr), sr)
        assert X.shape == (1, 40, cfg.n_frames) == (1, 40, 63) and X.dtype == np.float32


def test_augmentation_is_seeded_and_does_what_it_says():
    rng = np.random.default_rng(0)
    S = rng.uniform(-60, 0, (4, 1, 40, 63)).astype(np.float32)
    a = al.audio.Augment(seed=7).spectrogram(S)
    assert np.array_equal(a, al.audio.Augment(seed=7).spectrogram(S))
    assert not np.array_equal(a, al.audio.Augment(seed=8).spectrogram(S))
    assert a.shape == S.shape and a.dtype == S.dtype
    # masks only: whole rows and columns set to the clip's minimum, everything else unchanged
    masks_only = al.audio.Augment(max_shift=0, time_masks=2, time_mask=10, freq_masks=2, freq_mask=8, seed=1)
    out = masks_only.spectrogram(S)
    for clip, original in zip(out[:, 0], S[:, 0]):
        changed = clip != original
        assert np.all(clip[changed] == original.min())
        rows, cols = changed.all(axis=1), changed.all(axis=0)
        assert np.array_equal(changed, rows[:, None] | cols[None, :])
    # a shift by k frames moves the picture by k frames
    shifted = al.audio.Augment(max_shift=0.2, time_masks=0, freq_masks=0, seed=3).spectrogram(S[:1])[0, 0]
    k = next(k for k in range(-12, 13) if np.allclose(shifted[:, max(k, 0):63 + min(k, 0)],
                                                        S[0, 0][:, max(-k, 0):63 - max(k, 0)]))
    assert k != 0


def test_waveform_augmentation_adds_noise_at_the_asked_snr():
    y = _tone(1.0)
    out = al.audio.Augment(max_shift=0, snr_db=(20, 20), seed=0).waveform(y)
    noise = out - y
    snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(20, abs=0.3)
    shifted = al.audio.Augment(max_shift=0.25, snr_db=None, seed=5).waveform(y)
    assert not np.array_equal(shifted, y) and shifted.shape == y.shape


# ---- the feature cache ----------------------------------------------------------------------------
def test_feature_cache_is_reused_only_while_everything_is_unchanged(tmp_path):
    root = _folder(tmp_path / "data", {"a/1.wav": (_tone(), 8000, "PCM_16"),
                                       "b/1.wav": (_tone(freq=1500), 8000, "PCM_16")})
    cache = tmp_path / "cache"
    cfg = FeatureConfig()
    data = datasets.AudioFolder(root)
    X, y, kept = al.audio.extract_features(data, cfg, cache_dir=cache, progress=False)
    assert X.shape == (2, 1, 40, 63) and list(y) == [0, 1] and list(kept) == [0, 1]

    reads = []
    original = datasets.AudioFolder.__getitem__

    def counting(self, i):
        reads.append(i)
        return original(self, i)

    datasets.AudioFolder.__getitem__ = counting
    try:
        X2, _, _ = al.audio.extract_features(data, cfg, cache_dir=cache, progress=False)
        assert reads == [] and np.array_equal(X, X2)                      # from the cache
        X3, _, _ = al.audio.extract_features(data, FeatureConfig(n_mels=32), cache_dir=cache, progress=False)
        assert reads == [0, 1] and X3.shape[2] == 32                      # a parameter changed
        reads.clear()
        al.audio.save(os.path.join(root, "a", "1.wav"), _tone(freq=300), 8000, subtype="PCM_24")
        X4, _, _ = al.audio.extract_features(datasets.AudioFolder(root), cfg, cache_dir=cache, progress=False)
        assert reads == [0, 1] and not np.array_equal(X4[0], X[0])        # a file changed
        reads.clear()
        for entry in (cache / "features").iterdir():                      # damage every cache entry
            entry.write_bytes(b"garbage")
        X5, _, _ = al.audio.extract_features(datasets.AudioFolder(root), cfg, cache_dir=cache, progress=False)
        assert reads == [0, 1] and np.array_equal(X5, X4)
    finally:
        datasets.AudioFolder.__getitem__ = original


def test_the_cache_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOGRAD_LAB_CACHE_DIR", str(tmp_path / "mine"))
    assert al.audio.default_cache_dir() == str(tmp_path / "mine")
    monkeypatch.delenv("AUTOGRAD_LAB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert al.audio.default_cache_dir() == str(tmp_path / "xdg" / "autograd_lab")


def test_unreadable_clips_are_skipped_with_a_warning_or_fail_when_strict(tmp_path):
    root = _folder(tmp_path / "data", {"a/good.wav": (_tone(), 8000, "PCM_16"),
                                       "b/good.flac": (_tone(freq=900), 16000, "PCM_16")})
    bad = os.path.join(root, "b", "broken.wav")
    with open(bad, "w") as f:
        f.write("not audio")
    data = datasets.AudioFolder(root)
    with pytest.warns(UserWarning, match="broken.wav: not a readable sound file"):
        X, y, kept = al.audio.extract_features(data, FeatureConfig(), use_cache=False, progress=False)
    assert len(X) == 2 and [data.files[k] for k in kept] == [f for f in data.files if f != bad]
    with pytest.raises(AudioFileError, match="broken.wav"):
        al.audio.extract_features(data, FeatureConfig(), use_cache=False, strict=True, progress=False)


# ---- datasets ---------------------------------------------------------------------------------------
@needs_fsdd
def test_fsdd_official_split_and_speakers():
    train, test = datasets.FSDD(FSDD, "train"), datasets.FSDD(FSDD, "test")
    assert (len(train), len(test)) == (2250, 250)
    assert set(test.indices) == set(range(5)) and set(train.indices) == set(range(5, 50))
    assert not set(train.files) & set(test.files)
    assert train.classes == [str(d) for d in range(10)] and np.bincount(test.labels).tolist() == [25] * 10
    assert sorted(set(train.speakers)) == train.all_speakers and len(train.all_speakers) == 5
    george = datasets.FSDD(os.path.join(FSDD, "recordings"), "all", speakers=["george"])
    assert len(george) == 500 and set(george.speakers) == {"george"}
    samples, sr, label = george[0]
    assert sr == 8000 and label == 0 and samples.dtype == np.float32
    with pytest.raises(DatasetError, match=r"unknown speakers \['nobody'\]"):
        datasets.FSDD(FSDD, speakers=["nobody"])
    with pytest.raises(DatasetError, match="split must be"):
        datasets.FSDD(FSDD, split="validation")


def test_fsdd_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        datasets.FSDD(tmp_path / "missing")
    with pytest.raises(DatasetError, match="holds no .*recordings"):
        datasets.FSDD(tmp_path)


def test_audio_folder_takes_any_format_rate_and_length(tmp_path):
    root = _folder(tmp_path, {
        "dog/bark.wav": (_tone(0.3, 8000), 8000, "PCM_16"),
        "dog/deep/growl.flac": (_tone(1.4, 16000), 16000, "PCM_24"),
        "cat/meow.ogg": (_tone(0.8, 22050, 700), 22050, "VORBIS"),
        "cat/purr.wav": (_tone(2.0, 44100, 120), 44100, "FLOAT"),
    })
    (tmp_path / "cat" / "notes.txt").write_text("not a sound")
    (tmp_path / "README.md").write_text("a file at the top is not a class")
    data = datasets.AudioFolder(tmp_path)
    assert data.classes == ["cat", "dog"] and len(data) == 4
    assert [os.path.basename(f) for f in data.files] == ["meow.ogg", "purr.wav", "bark.wav", "growl.flac"]
    X, y, _ = al.audio.extract_features(data, FeatureConfig(), use_cache=False, progress=False)
    assert X.shape == (4, 1, 40, 63) and y.tolist() == [0, 0, 1, 1] and np.isfinite(X).all()


def test_audio_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        datasets.AudioFolder(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no class sub-folders"):
        datasets.AudioFolder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(DatasetError, match="no sound files"):
        datasets.AudioFolder(tmp_path)


def test_kfold_is_deterministic_stratified_and_a_partition(tmp_path):
    files = {f"{c}/{i}.wav": (_tone(0.05), 8000, "PCM_16") for c in "abc" for i in range(10)}
    data = datasets.AudioFolder(_folder(tmp_path, files))
    folds = data.kfold(5, seed=1)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(30))                      # every clip tested once
    for train, test in folds:
        assert not set(train) & set(test) and len(train) + len(test) == 30
        assert np.bincount(data.labels[test]).tolist() == [2, 2, 2]       # stratified
    again = data.kfold(5, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, data.kfold(5, seed=2)))
    subset = data.subset(folds[0][1])
    assert len(subset) == 6 and subset.classes == data.classes


def test_synthetic_sounds_are_varied_deterministic_and_split():
    data = datasets.SyntheticSounds(n_per_class=6, seed=0)
    assert len(data.classes) >= 8 and len(data) == 6 * len(data.classes)
    a, sr, label = data[4]
    b, _, _ = datasets.SyntheticSounds(n_per_class=6, seed=0)[4]
    assert sr == 8000 and np.array_equal(a, b) and a.dtype == np.float32 and np.abs(a).max() <= 1
    test = datasets.SyntheticSounds(n_per_class=6, split="test", seed=0)
    assert not np.array_equal(test[4][0], a)
    # within a class, onset and level vary: the loudest 50 ms window moves, levels spread
    per_class = [data[i][0] for i in range(len(data)) if data.labels[i] == data.classes.index("rising chirp")]
    window = 400
    loudest = [int(np.argmax(np.convolve(y ** 2, np.ones(window), "valid"))) for y in per_class]
    levels = [10 * np.log10(np.mean(y.astype(np.float64) ** 2)) for y in per_class]
    assert max(loudest) - min(loudest) > 800 and max(levels) - min(levels) > 6
    with pytest.raises(DatasetError, match="split must be"):
        datasets.SyntheticSounds(split="all")
