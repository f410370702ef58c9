"""Features chosen from the data, whole clips and their windows, the training recipe's
pieces, and the splits of cross-validation (all fast: no long training here)."""
import csv
import os

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio import FeatureConfig, datasets, splits
from autograd_lab.audio.classifier import AudioClassifier, Recipe, WarmupCosine, build_model, cnn_channels_for
from autograd_lab.audio.prepare import Clips, normalize_input
from autograd_lab.audio.survey import Survey, choose_features, problems, survey


def _tone(seconds=0.5, sr=8000, freq=440.0, level=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(root, rel, y, sr):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    al.audio.save(path, y, sr)
    return path


# ---- features chosen from the data ---------------------------------------------------------------
def test_long_clips_at_44k_get_a_sensible_configuration(tmp_path):
    for k in range(4):
        _write(tmp_path, f"{'ab'[k % 2]}/{k}.flac", _tone(5.0, 44100, 300 + 100 * k), 44100)
    found = survey(datasets.AudioFolder(tmp_path))
    assert list(found.rates) == [44100] * 4 and np.allclose(found.durations, 5.0)
    config, reasons = choose_features(found)
    assert (config.sr, config.duration, config.n_fft, config.hop_length, config.n_mels) == (22050, 5.0, 1024, 512, 64)
    assert config.n_frames == 216                                  # the 64 x 216 input
    assert any("capped at 22050" in r for r in reasons) and any("doubled" in r for r in reasons)
    assert cnn_channels_for(config.n_mels, config.n_frames) == (16, 32, 64, 64)


def test_short_speech_at_8k_keeps_its_rate_and_given_flags_win():
    durations = np.r_[np.full(97, 0.5), np.full(3, 1.3)]      # 95th percentile: 0.5 s
    found = Survey(["x.wav"] * 100, np.full(100, 8000), durations, np.ones(100, int), [])
    config, _ = choose_features(found)
    assert (config.sr, config.duration, config.n_fft, config.hop_length, config.n_mels) == (8000, 0.5, 256, 96, 40)
    config, reasons = choose_features(found, {"sr": 16000, "n_mels": 32, "duration": None})
    assert config.sr == 16000 and config.n_mels == 32 and config.duration == 0.5
    assert "sr 16000 (given)" in reasons and "n_mels 32 (given)" in reasons
    config, reasons = choose_features(None, {"n_mels": 20}, FeatureConfig(sr=8000))
    assert config.n_mels == 20 and "made in code" in reasons[0]


def test_rates_far_apart_and_clips_shorter_than_a_window_are_named(tmp_path):
    _write(tmp_path, "a/slow.wav", _tone(0.5, 8000), 8000)
    _write(tmp_path, "a/fast.wav", _tone(0.5, 44100), 44100)
    _write(tmp_path, "b/tiny.wav", _tone(0.01, 44100), 44100)
    _write(tmp_path, "b/fine.wav", _tone(0.5, 44100), 44100)
    found = survey(datasets.AudioFolder(tmp_path))
    config, _ = choose_features(found)
    said = problems(found, config)
    assert len(said) == 2
    assert "more than 4x" in said[0] and "slow.wav" in said[0] and "fast.wav" not in said[0]
    assert "shorter than one analysis window" in said[1] and "tiny.wav" in said[1]
    # and a folder of mixed rates and lengths gives features of one shape
    clips = al.audio.extract_clips(datasets.AudioFolder(tmp_path), config, use_cache=False, progress=False)
    assert clips.centre().shape == (4, 1, config.n_mels, config.n_frames)


# ---- whole clips and their windows ---------------------------------------------------------------
def _clips(lengths, n_frames=10, n_mels=3):
    parts = [np.full((n_mels, n), float(i), np.float32) + np.arange(n, dtype=np.float32) / 100
             for i, n in enumerate(lengths)]
    offsets = np.r_[0, np.cumsum(lengths)]
    return Clips(np.concatenate(parts, axis=1), offsets, np.arange(len(lengths)) % 2, np.arange(len(lengths)),
                 n_frames)


def test_windows_cover_every_frame_and_random_crops_stay_inside():
    clips = _clips([10, 25, 31])
    assert clips.window_starts(0) == [0]
    assert clips.window_starts(1) == [0, 5, 10, 15]                # half-window hops, the last one at the end
    assert clips.window_starts(2) == [0, 5, 10, 15, 20, 21]
    for i in range(3):
        covered = np.zeros(clips.lengths[i], bool)
        for s in clips.window_starts(i):
            covered[s:s + 10] = True
        assert covered.all()
    assert clips.windows(2).shape == (6, 1, 3, 10)
    np.testing.assert_array_equal(clips.centre()[2, 0], clips.clip(2)[:, 10:20])
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        w = clips.random_windows([2], rng)[0, 0]
        start = int(round((w[0, 0] - 2) * 100))
        np.testing.assert_allclose(w, clips.clip(2)[:, start:start + 10])
        starts.add(start)
    assert starts == set(range(22))                                # every position of a long clip is used
    sub = clips.subset([2, 0])
    np.testing.assert_array_equal(sub.clip(0), clips.clip(2))
    assert list(sub.y) == [0, 0] and list(sub.kept) == [2, 0]


def test_a_short_recording_is_padded_to_one_window_and_a_long_one_keeps_all_frames():
    config = FeatureConfig(sr=8000, duration=1.0, n_fft=256, hop_length=128, n_mels=40)
    assert config.clip_features(_tone(0.3), 8000).shape == (40, config.n_frames)
    assert config.clip_features(_tone(30.0, 16000), 16000).shape == (40, 1 + 30 * 8000 // 128)
    # for a clip within the window, the whole clip's frames are the old fixed-length features
    np.testing.assert_allclose(config.clip_features(_tone(0.5), 8000)[None], config.features(_tone(0.5), 8000))


class _BandEnergy(al.nn.Module):
    """A fixed 'model': class 0 scores the low mel bands' level, class 1 the high bands'."""

    def forward(self, x):
        low = al.ops.functions.mean(x[:, :, :20, :], axis=(1, 2, 3))
        high = al.ops.functions.mean(x[:, :, 20:, :], axis=(1, 2, 3))
        return al.ops.functions.stack([low, high], axis=1) * 20


def test_clip_probabilities_are_the_mean_over_all_windows(tmp_path):
    config = FeatureConfig(sr=8000, duration=1.0, n_fft=256, hop_length=128, n_mels=40)
    classifier = AudioClassifier(_BandEnergy(), {}, config, ["low", "high"], {"mode": "clip"})
    # 30 s: a low tone for 25 s, then a high tone for the last 5 s
    y = np.r_[_tone(25.0, freq=200), _tone(5.0, freq=3000)]
    frames = config.clip_features(y, 8000)
    clips = Clips(frames, [0, frames.shape[1]], [0], [0], config.n_frames)
    windows = clips.windows(0)
    assert len(windows) == 60                # 30 s in 1-s windows half a window apart, the last at the end
    per_window = classifier.probabilities(windows)
    np.testing.assert_allclose(classifier.clip_probabilities(clips)[0], per_window.mean(axis=0))
    assert per_window[-1, 1] > 0.9 and per_window[0, 0] > 0.9      # each part is heard where it is


# ---- the recipe's pieces -------------------------------------------------------------------------
def test_band_normalisation_removes_a_fixed_colouring_and_clip_normalisation_the_gain():
    rng = np.random.default_rng(0)
    X = rng.normal(-40, 10, (3, 1, 8, 20)).astype(np.float32)
    colouring = rng.normal(0, 6, (1, 1, 8, 1)).astype(np.float32)    # a microphone's response, in dB
    np.testing.assert_allclose(normalize_input(X + colouring, "band"), normalize_input(X, "band"), atol=1e-5)
    np.testing.assert_allclose(normalize_input(X + 12.0, "clip"), normalize_input(X, "clip"), atol=1e-5)
    out = normalize_input(X, "band")
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(normalize_input(X, "global", -40, 10), (X + 40) / 10, rtol=1e-6)
    with pytest.raises(ValueError, match="mode must be one of"):
        normalize_input(X, "loud")


def test_stretch_and_warp_move_a_pattern_where_they_say():
    S = np.full((1, 1, 40, 60), -80.0, np.float32)
    S[0, 0, 10, :] = 0.0                                           # one loud mel band
    S[0, 0, :, 40] = 0.0                                           # one loud frame, right of centre
    warped = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, warp=0.2, seed=3).spectrogram(S)[0, 0]
    loud_band = int(np.argmax(warped[:, 5]))
    assert loud_band != 10 and abs(loud_band - 10) <= 3               # 10 / (1 +- 0.2)
    stretched = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, stretch=(0.7, 0.7),
                                 seed=0).spectrogram(S)[0, 0]
    # rate 0.7: output frame j reads input frame (j - 29.5) * 0.7 + 29.5, so frame 40 appears at 44.5
    assert int(np.argmax(stretched[20])) in (44, 45)
    flat = np.full((1, 1, 40, 60), -40.0, np.float32)
    flat[0, 0, 0, 0] = -80.0                                       # the floor nothing may go below
    coloured = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, eq_db=6, seed=2).spectrogram(flat)[0, 0]
    curve = coloured[:, 5] - flat[0, 0, :, 5]
    assert 0.1 < np.abs(curve).max() <= 6 + 1e-4
    assert np.allclose(coloured[:, 1:] - flat[0, 0, :, 1:], curve[:, None], atol=1e-4)   # one curve, every frame
    assert np.abs(np.diff(curve)).max() < 1.5                      # smooth across bands
    gained = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, gain_db=6, seed=1).spectrogram(S)[0, 0]
    shift = gained - S[0, 0]
    assert np.allclose(shift, shift[0, 0], atol=1e-4) and 0 < abs(shift[0, 0]) <= 6


def test_random_filter_rolls_off_one_side_and_reverb_rings_on():
    flat = np.full((1, 1, 64, 50), -30.0, np.float32)
    flat[0, 0, 0, 0] = -80.0
    seen_low, seen_high = False, False
    for seed in range(12):
        out = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, filter_db=30, seed=seed).spectrogram(flat)
        curve = out[0, 0, :, 5] - flat[0, 0, :, 5]
        assert curve.max() <= 1e-5 and curve.min() >= -30 - 1e-4          # only cuts, at most filter_db
        assert np.allclose(out[0, 0, :, 1:] - flat[0, 0, :, 1:], curve[:, None], atol=1e-4)
        steps = np.diff(curve)
        if curve[-1] < -1:                                   # low-pass: flat, then falling
            assert (steps <= 1e-5).all() and curve[0] == 0
            seen_low = True
        elif curve[0] < -1:                                  # high-pass: rising, then flat
            assert (steps >= -1e-5).all() and curve[-1] == 0
            seen_high = True
    assert seen_low and seen_high
    S = np.full((1, 1, 8, 40), -80.0, np.float32)
    S[0, 0, :, 10] = 0.0                                               # one loud frame
    with pytest.raises(ValueError, match="frame_seconds"):
        al.audio.Augment(reverb=1.0)
    wet = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, reverb=1.0, frame_seconds=0.02,
                           seed=4).spectrogram(S)[0, 0]
    assert np.array_equal(wet[:, :10], S[0, 0, :, :10])                 # nothing before the sound
    assert wet[0, 10] >= 0.0 and (wet[:, 11] > -40).all()               # it rings on after it ...
    tail = wet[0, 11:30]
    assert (np.diff(tail) <= 1e-4).all() and tail[-1] < tail[0]         # ... and decays


def test_the_command_line_sets_every_part_of_the_recipe():
    from autograd_lab import cli
    parser = cli.build_parser()
    default = cli.recipe_from(parser.parse_args(["train", "--data", "x"]))
    assert default == Recipe()
    changed = cli.recipe_from(parser.parse_args(["train", "--data", "x", "--eq-db", "5", "--filter-db", "12",
                                                 "--reverb", "0.4", "--no-stretch", "--no-warp"]))
    assert (changed.eq_db, changed.filter_db, changed.reverb, changed.stretch, changed.warp) == (5, 12, 0.4, None, 0)
    off = cli.recipe_from(parser.parse_args(["train", "--data", "x", "--no-eq", "--no-filter", "--no-reverb"]))
    assert off.eq_db == off.filter_db == off.reverb == 0
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--data", "x", "--reverb", "-1"])
    augmenter = changed.augmenter(0, 64, 100, frame_seconds=0.01)
    assert (augmenter.eq_db, augmenter.filter_db, augmenter.reverb) == (5, 12, 0.4)
    assert cli.model_kwargs_from(parser.parse_args(["train", "--data", "x"])) == {"pool": "global"}


def test_speech_gets_the_speech_recipe_and_flags_still_win():
    from autograd_lab import cli
    from autograd_lab.audio.classifier import SPEECH_MODEL, SPEECH_RECIPE
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--data", "x"])
    speech = cli.recipe_from(args, speech=True)
    assert speech == Recipe(**SPEECH_RECIPE) and speech.normalization == "cmvn" and speech.eq_db == 0
    assert cli.model_kwargs_from(args, speech=True) == SPEECH_MODEL
    args = parser.parse_args(["train", "--data", "x", "--normalize", "clip", "--eq-db", "4", "--pool", "global"])
    given = cli.recipe_from(args, speech=True)
    assert (given.normalization, given.eq_db, given.stretch) == ("clip", 4, SPEECH_RECIPE["stretch"])
    assert cli.model_kwargs_from(args, speech=True) == {"pool": "global"}
    assert cli.model_kwargs_from(parser.parse_args(["train", "--data", "x", "--model", "mlp"]), True) is None


def test_warmup_then_cosine_and_soft_targets_in_accuracy():
    w = al.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = al.optim.AdamW([w], lr=1.0)
    schedule = WarmupCosine(opt, warmup=2, epochs=6)
    rates = [opt.lr]
    for _ in range(6):
        schedule.step()
        rates.append(opt.lr)
    np.testing.assert_allclose(rates, [1 / 3, 2 / 3, 1.0, 0.8535534, 0.5, 0.1464466, 0.0], atol=1e-6)
    soft = np.array([[0.7, 0.3], [0.4, 0.6]])
    assert al.train.accuracy(np.array([[2.0, 0.0], [2.0, 0.0]]), soft) == 0.5


def test_the_default_model_follows_the_input_size():
    small, spec = build_model("cnn", 10, 40, 63)
    assert spec["kwargs"]["channels"] == [16, 32, 64]
    big, spec = build_model("cnn", 10, 64, 216)
    assert spec["kwargs"]["channels"] == [16, 32, 64, 64]
    assert big(al.tensor(np.zeros((2, 1, 64, 216), np.float32))).shape == (2, 10)
    assert Recipe().to_dict()["normalization"] == "clip"


# ---- splits that keep clips and groups on one side ------------------------------------------------
def _named_folder(root, names):
    for name in names:
        _write(root, name, _tone(0.2), 8000)
    return datasets.AudioFolder(root)


def test_folds_from_the_file_name_prefix(tmp_path):
    names = [f"{c}/{f}-{src}-A-{c}.wav" for c in ("dog", "rain") for f in (1, 2, 3) for src in (100 * f, 100 * f + 1)]
    data = _named_folder(tmp_path, names)
    fold_of, source = splits.predefined_folds(data)
    assert "prefix" in source and sorted(set(fold_of.tolist())) == [1, 2, 3]
    folds = splits.folds_from_assignment(fold_of)
    for k, (train, test) in enumerate(folds):
        assert {os.path.basename(data.files[i])[0] for i in test} == {str(k + 1)}
        assert str(k + 1) not in {os.path.basename(data.files[i])[0] for i in train}
        assert len(set(train) | set(test)) == len(data) and not set(train) & set(test)


def test_folds_from_a_csv_beside_the_class_folders(tmp_path):
    names = [f"{c}/{k}.wav" for c in ("a", "b") for k in range(4)]
    data = _named_folder(tmp_path, names)
    with open(tmp_path / "folds.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "fold"])
        for name in names:
            writer.writerow([name if name.startswith("a") else os.path.basename(name) + "x", int(name[-5]) % 2])
    with pytest.raises(datasets.DatasetError, match="no fold for 4 files"):
        splits.predefined_folds(datasets.AudioFolder(tmp_path))
    with open(tmp_path / "folds.csv", "w", newline="") as f:
        f.write("file,fold\n" + "".join(f"{n},{int(n[-5]) % 2}\n" for n in names))
    fold_of, source = splits.predefined_folds(datasets.AudioFolder(tmp_path))
    assert source.startswith("folds.csv") and fold_of.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_grouped_folds_never_split_a_group(tmp_path):
    names = [f"{c}/{src}_{take}.wav" for c in ("x", "y") for src in ("s1", "s2", "s3", "s4", "s5", "s6", "s7")
             for take in range(1 + len(src) % 3 + int(src[1]) % 2)]
    data = _named_folder(tmp_path, names)
    groups = splits.groups_of(data, "0")
    assert set(groups) == {"s1", "s2", "s3", "s4", "s5", "s6", "s7"}
    folds = splits.group_kfold(groups, 3, seed=0)
    assert len(folds) == 3
    seen = set()
    for train, test in folds:
        assert not {groups[i] for i in train} & {groups[i] for i in test}
        seen |= set(test.tolist())
    assert seen == set(range(len(data)))
    with pytest.raises(datasets.DatasetError, match="need at least 9 groups"):
        splits.group_kfold(groups, 9)
    with pytest.raises(datasets.DatasetError, match="field number"):
        splits.groups_of(data, "source")
    assert splits.groups_of(data, "folder")[0].endswith("x")


@pytest.mark.parametrize("mode", ["clip", "band", "cmvn"])
def test_a_constant_window_normalises_to_exactly_zero(mode):
    # 13,824 equal float32 values, whose float32 mean numpy gets an ulp wrong
    X = np.full((2, 1, 64, 216), -100.0, np.float32)
    X[1] = -37.3
    assert not np.any(al.audio.prepare.normalize_input(X, mode))


def test_cmvn_gives_each_band_zero_mean_and_unit_spread_and_ignores_colouring():
    rng = np.random.default_rng(1)
    X = rng.normal(-40, 10, (2, 1, 6, 50)).astype(np.float32) * np.linspace(0.5, 2, 6)[:, None].astype(np.float32)
    colouring = rng.normal(0, 6, (1, 1, 6, 1)).astype(np.float32)
    out = normalize_input(X, "cmvn")
    np.testing.assert_allclose(normalize_input(X + colouring, "cmvn"), out, atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-5)
    spread = X.std(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, (X - X.mean(axis=-1, keepdims=True)) / (spread + 1.0), rtol=1e-4, atol=1e-5)


def test_time_pooling_keeps_the_bands_apart():
    from autograd_lab.audio.classifier import build_model
    model, spec = build_model("cnn", 4, 40, 63, pool="time")
    assert spec["kwargs"]["n_mels"] == 40 and spec["kwargs"]["channels"] == [16, 32, 64]
    assert model.head[0].weight.shape == (64, 64 * 5)                 # 64 channels x 5 bands after 3 poolings
    assert model(al.tensor(np.zeros((2, 1, 40, 90), np.float32))).shape == (2, 4)   # any length
    with pytest.raises(al.ShapeError, match="built for 40 mel bands"):
        model(al.tensor(np.zeros((2, 1, 32, 63), np.float32)))
    with pytest.raises(ValueError, match="needs n_mels"):
        al.audio.AudioCNN(pool="time")


def test_vocal_tract_length_perturbation_scales_every_frequency_by_one_factor():
    hz = al.audio.FeatureConfig(sr=8000, n_mels=40).band_frequencies()
    ruler = np.repeat(hz.astype(np.float32)[:, None], 10, axis=1)[None, None]    # each band holds its own Hz
    for seed in range(5):
        warp = al.audio.Augment(max_shift=0, snr_db=None, time_masks=0, freq_masks=0, warp=0.1, band_hz=hz,
                                seed=seed)
        out = warp.spectrogram(ruler)[0, 0, :, 0]
        inside = hz * (out[1] / hz[1]) <= hz[-1]
        inside[0] = False                                 # the lowest band: below it there is nothing to take
        factor = out[inside] / hz[inside]                 # band at f now holds what was at f * factor
        assert 0.9 - 1e-6 <= factor[0] <= 1.1 + 1e-6 and inside.sum() >= 30
        np.testing.assert_allclose(factor, factor[0], rtol=1e-4)      # one factor for low and high bands alike


def test_noise_floor_fills_the_silence_below_the_loudest_bin_and_spares_loud_bins():
    S = np.full((1, 1, 40, 60), -80.0, np.float32)                 # digital silence ...
    S[0, 0, 10:14, 20:30] = 0.0                                    # ... around one loud event
    levels = []
    for seed in range(8):
        out = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, noise_db=(20, 50),
                               seed=seed).spectrogram(S)[0, 0]
        quiet = out[:, :15]                                        # the silence, now noise
        loudest_band = np.median(quiet, axis=1).max()
        # the loudest noise band sits 20-50 dB down (median of a gamma(4) flutter: about -0.4 dB)
        assert -50 - 1.5 <= loudest_band <= -20 + 0.5
        assert quiet.std(axis=1).min() > 0.5                       # it flutters from frame to frame
        assert np.abs(out[10:14, 20:30]).max() < 0.1               # the event stays as loud as it was
        levels.append(loudest_band)
    assert np.ptp(levels) > 5                                      # a new level each time
    colours = [np.median(al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, noise_db=(30, 30), seed=s)
                         .spectrogram(S)[0, 0, :, :15], axis=1) for s in range(8)]
    tilts = [c[-1] - c[0] for c in colours]
    assert max(tilts) <= 1.5 and min(tilts) < -5                   # white to brown: never brighter up top
    assert Recipe(noise_db=(20, 60)).augmenter(0, 40, 60).noise_db == (20, 60)
    assert Recipe().augmenter(0, 40, 60).noise_db is None


def test_the_noise_flags_set_the_noise_floor():
    from autograd_lab import cli
    from autograd_lab.audio.classifier import SPEECH_RECIPE
    parser = cli.build_parser()
    assert cli.recipe_from(parser.parse_args(["train", "--data", "x"])).noise_db is None
    assert cli.recipe_from(parser.parse_args(["train", "--data", "x"]), speech=True).noise_db == SPEECH_RECIPE["noise_db"]
    given = parser.parse_args(["train", "--data", "x", "--noise-db", "10", "30"])
    assert cli.recipe_from(given).noise_db == (10.0, 30.0)
    assert cli.recipe_from(parser.parse_args(["train", "--data", "x", "--no-noise"]), speech=True).noise_db is None


def test_small_data_trains_for_enough_steps_and_large_data_keeps_30_epochs_of_64():
    from autograd_lab import cli
    from autograd_lab.audio.classifier import MAX_EPOCHS, MIN_STEPS, training_schedule
    assert training_schedule(2250)[:2] == (64, 30)                 # the spoken digits: unchanged
    assert training_schedule(1800)[:2] == (64, 30)                 # 29 batches x 30 epochs >= MIN_STEPS
    for n in (100, 216, 500, 1000, 2000):
        batch, epochs, why = training_schedule(n)
        steps = -(-n // batch) * epochs
        assert steps >= MIN_STEPS or epochs == MAX_EPOCHS, (n, batch, epochs)
        assert 16 <= batch <= 64 and 30 <= epochs <= MAX_EPOCHS and f"{epochs} epochs" in why
    assert training_schedule(216)[:2] == (16, 58)                 # 14 batches of 16 per epoch
    assert training_schedule(216, epochs=30)[:2] == (64, 30)       # given epochs: 64 unless given too
    assert training_schedule(216, batch_size=8)[:2] == (8, 30)
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--data", "x"])
    assert args.epochs is None and args.batch_size is None         # chosen from the data
    assert parser.parse_args(["demo"]).batch_size == 64


def test_floor_padding_fills_the_window_with_the_clips_own_noise_floor():
    from autograd_lab.audio.prepare import FeatureConfig
    rng = np.random.default_rng(0)
    y = (0.01 * rng.standard_normal(2400)).astype(np.float32)     # 0.3 s of steady noise ...
    y[900:1500] += np.sin(2 * np.pi * 440 * np.arange(600) / 8000).astype(np.float32)   # ... round a tone
    silence = FeatureConfig(sr=8000, duration=1.0, n_fft=256, hop_length=128)
    floor = FeatureConfig(sr=8000, duration=1.0, n_fft=256, hop_length=128, pad="floor")
    a, b = silence.clip_features(y, 8000), floor.clip_features(y, 8000)
    assert a.shape == b.shape == (40, silence.n_frames)
    assert np.isclose(a[:, 0], a.max() - 80).all()                 # silence: the 80-dB floor
    noise = a[:, [23, 24, 25, 37, 38]].mean(axis=1)              # the clip's own noise, either side of the tone
    assert np.allclose(b[:, 0], b[:, -1]) and np.abs(b[:, 0] - noise).max() < 10 and abs(np.mean(b[:, 0] - noise)) < 4
    assert b[:, 0].mean() > a[:, 0].mean() + 20                    # noise, not silence, around the clip
    assert np.allclose(a[:, 27:36], b[:, 27:36])                   # the clip itself is unchanged
    assert np.allclose(floor.features(y, 8000)[0], b)
    long = rng.standard_normal(16000).astype(np.float32)           # longer than the window: nothing to pad
    assert np.allclose(floor.features(long, 8000), silence.features(long, 8000))
    assert "pad" not in silence.to_dict() and FeatureConfig.from_dict(floor.to_dict()).pad == "floor"
    with pytest.raises(ValueError, match="pad"):
        FeatureConfig(pad="zeros")
    from autograd_lab import cli
    args = cli.build_parser().parse_args(["train", "--data", "x", "--pad", "floor"])
    assert args.pad == "floor"
    from autograd_lab.audio.survey import Survey, choose_features
    found = Survey(["a.wav"] * 3, np.array([8000] * 3), np.array([0.5] * 3), np.ones(3, int), [])
    chosen, why = choose_features(found, {"pad": "floor"})
    assert chosen.pad == "floor" and "pad floor (given)" in why
    chosen, why = choose_features(found)
    assert chosen.pad == "silence" and not any(line.startswith("pad") for line in why)


def test_speech_with_the_cnn_pads_with_the_noise_floor_by_default(tmp_path):
    """The spoken-digit layout with the CNN: floor padding, said in the configuration block;
    --pad silence, the MLP and other folders keep silence."""
    import soundfile as sf
    from autograd_lab import cli
    digits, tones = tmp_path / "digits", tmp_path / "tones"
    digits.mkdir()
    rng = np.random.default_rng(0)
    for digit in range(2):
        for i in range(3):
            sf.write(digits / f"{digit}_anna_{i}.wav", 0.1 * rng.standard_normal(4000), 8000)
            (tones / str(digit)).mkdir(parents=True, exist_ok=True)
            sf.write(tones / str(digit) / f"{i}.wav", 0.1 * rng.standard_normal(4000), 8000)
    parser = cli.build_parser()

    def chosen(*argv):
        args = parser.parse_args(["train", "--quiet", *argv])
        return cli.choose_config(args, cli.open_data(args)[0]).pad

    assert chosen("--data", str(digits)) == "floor"
    assert chosen("--data", str(digits), "--model", "cnn") == "floor"
    assert chosen("--data", str(digits), "--pad", "silence") == "silence"
    assert chosen("--data", str(digits), "--model", "mlp") == "silence"
    assert chosen("--data", str(tones)) == "silence"
