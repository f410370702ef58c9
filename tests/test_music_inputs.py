"""Constant-Q inputs for the classifier: the front end, the pitch shift, and the
features.json a data folder uses to ask for them."""
import json
import os

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.audio import FeatureConfig, datasets
from autograd_lab.audio.classifier import Recipe
from autograd_lab.audio.survey import choose_features, survey


def _tone(seconds, sr, freq, level=0.3):
    t = np.arange(int(sr * seconds)) / sr
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_the_cqt_front_end_is_log_constant_q_with_one_row_per_semitone():
    config = FeatureConfig(sr=22050, duration=1.0, hop_length=512, front_end="cqt")
    assert config.n_bands == 84 and config.n_frames == 44
    y = _tone(1.0, 22050, 440.0)
    X = config.features(y, 22050)
    assert X.shape == (1, 84, 44) and X.dtype == np.float32
    assert int(X[0].mean(axis=1).argmax()) == 45                        # A4: 45 semitones above C1
    expected = al.audio.power_to_db(np.abs(al.audio.cqt(config.waveform(y, 22050), sr=22050)) ** 2, top_db=80.0)
    assert np.allclose(X[0], expected, atol=1e-3)
    assert X[0].max() - X[0].min() <= 80.0 + 1e-4                       # top_db holds as for log-mel
    with pytest.raises(ValueError, match="front_end"):
        FeatureConfig(front_end="chroma")
    # an older checkpoint's settings (no front_end) still mean log-mel
    old = {k: v for k, v in FeatureConfig().to_dict().items() if k not in ("front_end", "n_bins", "bins_per_octave")}
    assert FeatureConfig.from_dict(old).front_end == "mel"


def test_pitch_shift_moves_a_cqt_by_whole_semitones_and_replaces_the_warp():
    S = np.full((1, 1, 72, 30), -80.0, np.float32)
    S[0, 0, 30, :] = 0.0                                               # one note, one bin per semitone
    seen = set()
    augment = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, pitch_shift=(2, 1), seed=0)
    for _ in range(40):
        out = augment.spectrogram(S)[0, 0]
        row = int(np.argmax(out[:, 10]))
        seen.add(row - 30)
        assert np.array_equal(out[row], S[0, 0, 30]) and (out[np.arange(72) != row] == -80).all()
    assert seen == {-2, -1, 0, 1, 2}
    three = al.audio.Augment(max_shift=0, time_masks=0, freq_masks=0, pitch_shift=(1, 3), seed=0)
    rows = {int(np.argmax(three.spectrogram(S)[0, 0, :, 0])) - 30 for _ in range(20)}
    assert rows <= {-3, 0, 3}                                          # 36 bins per octave: 3 bins a semitone
    recipe = Recipe(pitch_shift=2)
    on_mel = recipe.augmenter(0, 64, 100, frame_seconds=0.01)
    on_cqt = recipe.augmenter(0, 84, 100, frame_seconds=0.01, bins_per_semitone=1)
    assert on_mel.pitch_shift is None and on_mel.warp == recipe.warp   # speech keeps its warp
    assert on_cqt.pitch_shift == (2, 1) and on_cqt.warp is None


def test_a_data_folder_can_ask_for_constant_q_inputs_and_flags_still_win(tmp_path, capsys):
    for k in range(4):
        os.makedirs(tmp_path / "ab"[k % 2], exist_ok=True)
        al.audio.save(str(tmp_path / "ab"[k % 2] / f"{k}.wav"), _tone(2.0, 22050, 220.0 * (k + 1)), 22050)
    folder = datasets.AudioFolder(tmp_path)
    config, _ = choose_features(survey(folder))
    assert config.front_end == "mel" and config.hop_length == 256       # no features.json: as before
    (tmp_path / "features.json").write_text(json.dumps({"front_end": "cqt", "why": "melodies"}))
    config, reasons = choose_features(survey(folder))
    assert config.front_end == "cqt" and config.hop_length == 512 and config.n_bands == 84
    assert any(r.startswith("front_end cqt (suggested by") and "melodies" in r for r in reasons)
    assert not any(r.startswith("n_fft") or r.startswith("n_mels") for r in reasons)   # unused by a CQT
    config, reasons = choose_features(survey(folder), {"front_end": "mel"})
    assert config.front_end == "mel" and "front_end mel (given)" in reasons
    from autograd_lab import cli
    args = cli.build_parser().parse_args(["train", "--data", str(tmp_path), "--front-end", "mel", "--quiet"])
    assert cli.choose_config(args, folder).front_end == "mel"
    assert cli.recipe_from(cli.build_parser().parse_args(["train", "--data", "x", "--pitch-shift", "3"])) \
        .pitch_shift == 3
    (tmp_path / "features.json").write_text(json.dumps({"front_ends": "cqt"}))
    with pytest.raises(ValueError, match="features.json: unknown feature setting"):
        survey(folder)
    (tmp_path / "features.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="features.json: expected a JSON object"):
        survey(folder)


def test_a_classifier_trains_on_cqt_inputs_and_is_judged_with_them(tmp_path):
    for name, base in (("low", 110.0), ("high", 880.0)):
        os.makedirs(tmp_path / "data" / name)
        for k in range(6):
            y = _tone(0.6, 22050, base * 2 ** (k / 12))
            al.audio.save(str(tmp_path / "data" / name / f"{k}.wav"), y, 22050)
    folder = datasets.AudioFolder(tmp_path / "data")
    config = FeatureConfig(sr=22050, duration=0.5, hop_length=512, front_end="cqt", n_bins=72)
    metrics = al.audio.train_classifier(folder, folder, config=config, epochs=2, recipe=Recipe(pitch_shift=1),
                                        out=str(tmp_path / "run"), progress=False, log=lambda *_: None,
                                        write_files=False, use_cache=False)
    assert metrics["features"]["front_end"] == "cqt"
    classifier = al.audio.AudioClassifier.load(str(tmp_path / "run" / "model.safetensors"))
    assert classifier.config == config
    label, probabilities = classifier.predict_file(str(tmp_path / "data" / "low" / "0.wav"))
    assert label in ("low", "high") and abs(sum(probabilities.values()) - 1) < 1e-5
    pytest.importorskip("onnx")
    with pytest.raises(al.onnx.ExportError, match="'cqt' front end has no ONNX version"):
        al.onnx.export(classifier, str(tmp_path / "m.onnx"))
