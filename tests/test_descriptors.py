"""The clip-descriptor front end, the descriptor model, and the command line's choice of it
for music-like folders (and not for speech or sound events)."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

import autograd_lab as al
from autograd_lab import cli
from autograd_lab.audio import AudioClassifier, AudioFolder, DescriptorConfig, extract_descriptors
from autograd_lab.audio.descriptor_classifier import (DescriptorClassifier, colour_descriptors, fit_descriptors,
                                                      train_descriptor_classifier)
from autograd_lab.audio.descriptors import music_likeness

SR = 22050


def _note(f0, seconds, slopes_db, sr=SR, glide=0.0, decay=0.0, rng=None):
    """A note of harmonics k = 1.. at levels slopes_db[k-1] (dB); `glide` octaves per second
    of pitch change; `decay` dB per second."""
    t = np.arange(int(sr * seconds)) / sr
    phase = 2 * np.pi * f0 * (t if not glide else (2 ** (glide * t) - 1) / (glide * np.log(2)))
    y = sum(10 ** (db / 20) * np.sin(k * phase) for k, db in enumerate(slopes_db, start=1) if f0 * k < sr / 2 - 500)
    y = y * 10 ** (-decay * t / 20)
    if rng is not None:
        y = y + 0.001 * rng.standard_normal(len(t))
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


BRIGHT = [0, -2, -3, -4, -5, -6, -8, -10]           # a trumpet-like flat run of harmonics
DULL = [0, -12, -24, -36, -48]                        # a flute-like steep fall


def _write_folder(root, makers, per_class=6, seed=0):
    rng = np.random.default_rng(seed)
    for name, make in makers.items():
        os.makedirs(root / name, exist_ok=True)
        for i in range(per_class):
            sf.write(root / name / f"{i}.wav", make(rng), SR)
    return root


def _instruments(root, per_class=6, seed=0):
    return _write_folder(root, {
        "bright": lambda rng: _note(rng.uniform(200, 500), 1.0, BRIGHT, rng=rng),
        "dull": lambda rng: _note(rng.uniform(200, 500), 1.0, DULL, rng=rng)}, per_class, seed)


def test_the_harmonic_profile_reads_each_harmonic_at_the_fundamental_whatever_the_note():
    config = DescriptorConfig()
    names = config.names()
    assert len(names) == 75 and names[0] == "mfcc1_mean" and names[-1] == "env_change_std"
    h = names.index("h1_mean")
    for f0 in (110.0, 261.6, 587.3):                       # the profile does not move with the note
        v = config.describe(_note(f0, 1.0, [0, -6, -12, -18, -24]), SR)
        assert v.shape == (75,) and v.dtype == np.float32
        assert np.allclose(v[h:h + 5], [0, -6, -12, -18, -24], atol=1.5), (f0, v[h:h + 5])
        assert (v[h + 5:h + 16] <= -40).all()             # harmonics that are not there: at the floor
    groups = config.groups()
    assert (groups["mfcc"].stop - groups["mfcc"].start, groups["harmonics"].stop - groups["harmonics"].start,
            groups["envelope"].stop - groups["envelope"].start) == (38, 32, 5)


def test_the_envelope_tells_a_decaying_note_from_a_held_one_and_any_rate_fits():
    config = DescriptorConfig()
    names = config.names()
    held = config.describe(_note(330.0, 1.5, DULL), SR)
    decaying = config.describe(_note(330.0, 1.5, DULL, decay=40.0), SR)
    share = names.index("env_share_within_20dB")
    assert held[share] > 0.9 and decaying[share] < 0.5
    assert decaying[names.index("env_change_p5")] < held[names.index("env_change_p5")]
    # the same note at 44.1 kHz is resampled first: the same descriptors to within numerics
    at_44k = config.describe(np.repeat(_note(330.0, 1.5, DULL), 2), 2 * SR)
    assert np.allclose(at_44k[names.index("h1_mean"):][:3], held[names.index("h1_mean"):][:3], atol=1.5)
    assert config.describe(np.zeros(100, np.float32), SR).shape == (75,)     # silence and tiny clips too


def test_held_notes_count_as_held_pitch_and_glides_and_noise_do_not():
    config = DescriptorConfig()
    rng = np.random.default_rng(0)
    assert config.held_pitch_share(_note(220.0, 1.0, BRIGHT), SR) > 0.9
    # speech-like: a pitch that glides a semitone in 50 ms (20 octaves... per second / 12)
    assert config.held_pitch_share(_note(150.0, 1.0, BRIGHT, glide=1.5), SR) < 0.2
    assert config.held_pitch_share(0.1 * rng.standard_normal(SR).astype(np.float32), SR) < 0.1


def test_music_likeness_says_music_for_notes_and_not_for_glides_or_noise(tmp_path):
    music, why = music_likeness(AudioFolder(_instruments(tmp_path / "notes", per_class=4)))
    assert music and why.startswith("8 of 8 clips")
    other = _write_folder(tmp_path / "other", {
        "glide": lambda rng: _note(rng.uniform(100, 200), 1.0, BRIGHT, glide=1.5),
        "noise": lambda rng: (0.1 * rng.standard_normal(SR)).astype(np.float32)}, per_class=4)
    music, why = music_likeness(AudioFolder(other))
    assert not music and why.startswith("0 of 8 clips")


def test_colouring_moves_the_mfcc_means_by_a_smooth_curve_and_keeps_the_profile_relative():
    config = DescriptorConfig()
    g = config.groups()
    X = np.random.default_rng(0).normal(size=(20, 75)).astype(np.float32)
    X[:, g["harmonics"].start:g["harmonics"].start + 16] = -np.arange(16) * 3.0     # a profile, loudest first
    out = colour_descriptors(X, config, np.random.default_rng(1), eq_db=10.0)
    means, spreads = slice(0, 19), slice(19, 38)
    assert np.array_equal(out[:, spreads], X[:, spreads]) and np.array_equal(out[:, g["envelope"]], X[:, g["envelope"]])
    moved = out[:, means] - X[:, means]
    assert (np.abs(moved).max(axis=1) > 0.1).all()
    assert np.abs(moved[:, :3]).mean() > np.abs(moved[:, 10:]).mean()       # a smooth curve: low quefrencies
    profile = out[:, g["harmonics"].start:g["harmonics"].start + 16]
    assert np.allclose(profile.max(axis=1), 0.0) and not np.allclose(profile, X[:, g["harmonics"]][:, :16])
    assert np.array_equal(colour_descriptors(X, config, np.random.default_rng(1), 10.0), out)   # seeded


def test_the_descriptor_network_learns_separable_descriptors_deterministically():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    config = DescriptorConfig()
    a, history = fit_descriptors(X[:80], y[:80], ["no", "yes"], config, seed=3, steps=150, members=3,
                                 learner="network", X_val=X[80:], y_val=y[80:])
    assert (a.probabilities(X[80:]).argmax(1) == y[80:]).mean() >= 0.9
    assert history["loss"][-1] < history["loss"][0] and len(history["val_accuracy"]) == len(history["loss"])
    b, _ = fit_descriptors(X[:80], y[:80], ["no", "yes"], config, seed=3, steps=150, members=3, learner="network")
    assert np.array_equal(a.logits(X), b.logits(X))
    # three members: the output is the mean of their log-probabilities
    x = al.tensor(a.scale(X[:4]))
    with al.no_grad():
        members = [al.nn.functional.log_softmax(z, dim=-1).data for z in a.model.member_logits(x)]
    assert np.allclose(a.logits(X[:4]), np.mean(members, axis=0), atol=1e-5)
    p = a.probabilities(X[:4])
    assert np.allclose(p.sum(1), 1.0)
    with pytest.raises(al.ShapeError, match="descriptors"):
        a.model(al.tensor(np.zeros((2, 5), np.float32)))


def test_extremely_randomised_trees_split_until_pure_and_round_trip_through_a_checkpoint(tmp_path):
    from autograd_lab.audio.trees import LEAF, ExtraTrees
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6))
    X[:, 5] = 1.0                                              # a constant descriptor: never split on
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    forest = ExtraTrees(n_trees=25, seed=1).fit(X[:100], y[:100], n_classes=3)
    a = forest.arrays
    assert len(a["roots"]) == 25 and a["roots"][0] == 0
    assert 5 not in set(a["feature"][a["feature"] != LEAF].tolist())
    leaves = a["feature"] == LEAF
    assert np.allclose(a["value"].sum(1), 1.0) and ((a["value"][leaves] == 1).any(1)).all()   # pure leaves
    train_p = forest.predict_proba(X[:100])
    assert (train_p.argmax(1) == y[:100]).all() and np.allclose(train_p.sum(1), 1.0)
    assert (forest.predict_proba(X[100:]).argmax(1) == y[100:]).mean() >= 0.8
    again = ExtraTrees(n_trees=25, seed=1).fit(X[:100], y[:100], n_classes=3)
    assert np.array_equal(again.predict_proba(X), forest.predict_proba(X))
    other = ExtraTrees(n_trees=25, seed=2).fit(X[:100], y[:100], n_classes=3)
    assert not np.array_equal(other.predict_proba(X[100:]), forest.predict_proba(X[100:]))
    al.io.save(forest.state_dict(), tmp_path / "forest.safetensors")
    loaded = ExtraTrees().load_state_dict(al.io.load(tmp_path / "forest.safetensors"))
    assert np.array_equal(loaded.predict_proba(X), forest.predict_proba(X))


def test_descriptors_are_cached_and_an_unreadable_clip_is_skipped(tmp_path):
    root = _instruments(tmp_path / "data", per_class=3)
    (root / "dull" / "broken.wav").write_bytes(b"not a wave file")
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="broken.wav"):
        first = extract_descriptors(AudioFolder(root), cache_dir=cache, progress=False)
    assert first.X.shape == (6, 75) and len(os.listdir(cache / "descriptors")) == 1
    with pytest.warns(UserWarning, match="broken.wav"):
        again = extract_descriptors(AudioFolder(root), cache_dir=cache, progress=False)
    assert np.array_equal(first.X, again.X) and np.array_equal(first.kept, again.kept)
    with pytest.raises(al.audio.AudioFileError):
        extract_descriptors(AudioFolder(root), cache_dir=cache, strict=True, progress=False)


def test_a_descriptor_checkpoint_loads_as_a_classifier_and_predicts(tmp_path):
    root = _instruments(tmp_path / "data", per_class=8)
    folder = AudioFolder(root)
    train_idx, test_idx = folder.kfold(4, seed=0)[0]
    metrics = train_descriptor_classifier(folder.subset(train_idx), folder.subset(test_idx), out=tmp_path / "run",
                                          cache_dir=tmp_path / "cache", progress=False, log=lambda *_: None)
    assert metrics["test"]["accuracy"] == 1.0 and metrics["model"] == "descriptors"
    assert [os.path.basename(p) for p in metrics["pictures"]] == ["confusion_matrix.png"]
    loaded = AudioClassifier.load(tmp_path / "run" / "model.safetensors")
    assert isinstance(loaded, DescriptorClassifier) and loaded.classes == ["bright", "dull"]
    found = loaded.extract(folder.subset(test_idx), cache_dir=tmp_path / "cache", progress=False)
    assert loaded.evaluate_clips(found)["accuracy"] == 1.0
    label, probabilities = loaded.predict_file(folder.files[test_idx[0]])
    assert label == folder.classes[folder.labels[test_idx[0]]] and abs(sum(probabilities.values()) - 1) < 1e-6
    with open(tmp_path / "run" / "metrics.json") as f:
        assert json.load(f)["test"]["n"] == len(test_idx)
    # the engine-trained networks, the other learner, load the same way
    metrics = train_descriptor_classifier(folder.subset(train_idx), folder.subset(test_idx), out=tmp_path / "net",
                                          learner="network", steps=100, members=2, cache_dir=tmp_path / "cache",
                                          progress=False, log=lambda *_: None)
    net = AudioClassifier.load(tmp_path / "net" / "model.safetensors")
    assert isinstance(net.model, al.audio.DescriptorMLP) and metrics["test"]["accuracy"] == 1.0
    assert [os.path.basename(p) for p in metrics["pictures"]] == ["confusion_matrix.png", "learning_curves.png"]
    assert net.evaluate_clips(found)["accuracy"] == 1.0


def _run(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_picks_descriptors_for_music_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_LAB_CACHE_DIR", str(tmp_path / "cache"))
    root = _instruments(tmp_path / "notes", per_class=8)
    code, out, _ = _run(["train", "--data", str(root), "--out", str(tmp_path / "run"), "--folds", "4"], capsys)
    assert code == 0
    assert "model: descriptors (12 of 12 clips looked at hold steady pitched notes" in out   # the training folds
    assert "test accuracy: 1.000" in out
    checkpoint = str(tmp_path / "run" / "model.safetensors")
    code, out, _ = _run(["evaluate", "--checkpoint", checkpoint, "--data", str(root), "--split", "all", "--quiet"],
                        capsys)
    assert code == 0 and "accuracy: 1.000   (16 clips" in out
    code, out, _ = _run(["predict", "--checkpoint", checkpoint, "--json", str(root / "dull" / "0.wav")], capsys)
    assert code == 0 and json.loads(out)["label"] == "dull"
    code, _, err = _run(["export", checkpoint, str(tmp_path / "m.onnx")], capsys)
    assert code == 2 and "the descriptor model has no ONNX form" in err and not (tmp_path / "m.onnx").exists()
    with pytest.raises(al.onnx.ExportError, match="the descriptor model has no ONNX form"):   # and from Python
        al.onnx.export(AudioClassifier.load(checkpoint), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    code, out, _ = _run(["cv", "--data", str(root), "--out", str(tmp_path / "cv"), "--folds", "4",
                         "--max-folds", "2"], capsys)
    assert code == 0 and "model: descriptors" in out and "accuracy over 2 folds: 1.000" in out


def test_speech_sound_events_and_synthetic_data_keep_the_cnn(tmp_path, capsys, monkeypatch):
    args = cli.build_parser().parse_args(["train", "--data", "unused"])
    # the spoken-digit layout is speech: the CNN without looking at the sound
    speech = tmp_path / "digits"
    speech.mkdir()
    for digit in range(2):
        for i in range(3):
            sf.write(speech / f"{digit}_ann_{i}.wav", _note(150.0, 0.5, BRIGHT), 8000)
    args.model, args.data = "auto", str(speech)
    assert cli.choose_model(args, None) == "cnn"
    assert "model: cnn (speech (the spoken-digit layout)" in capsys.readouterr().out
    args.data = cli.SYNTHETIC
    assert cli.choose_model(args, None) == "cnn"
    other = _write_folder(tmp_path / "events", {
        "glide": lambda rng: _note(rng.uniform(100, 200), 1.0, BRIGHT, glide=1.5),
        "noise": lambda rng: (0.1 * rng.standard_normal(SR)).astype(np.float32)}, per_class=3)
    args.data = str(other)
    assert cli.choose_model(args, AudioFolder(other)) == "cnn"
    assert "not music-like: the spectrogram CNN" in capsys.readouterr().out
    args.model = "descriptors"                       # a flag wins
    assert cli.choose_model(args, AudioFolder(other)) == "descriptors"


def test_spectrogram_flags_ask_auto_for_the_cnn_and_are_refused_with_descriptors(tmp_path, capsys):
    root = _instruments(tmp_path / "notes", per_class=4)
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--data", str(root), "--front-end", "cqt", "--pitch-shift", "2"])
    assert cli.choose_model(args, AudioFolder(root)) == "cnn"
    assert "model: cnn (spectrogram flags given: --front-end, --pitch-shift" in capsys.readouterr().out
    args = parser.parse_args(["train", "--data", str(root), "--model", "descriptors", "--epochs", "3"])
    with pytest.raises(cli.UsageError, match="--model descriptors: --epochs apply to the spectrogram models"):
        cli.choose_model(args, AudioFolder(root))
    args = parser.parse_args(["train", "--data", str(root)])
    assert cli.choose_model(args, AudioFolder(root)) == "descriptors"     # no such flag: the data decides
