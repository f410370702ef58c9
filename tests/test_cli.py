"""The command line: train, evaluate, predict, demo and tour, run as a user runs them
(a subprocess), and bad input answered with one line, not a traceback."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import autograd_lab as al

FSDD = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "fsdd")
PICTURES = ("learning_curves.png", "confusion_matrix.png", "spectrograms.png", "filters.png",
            "model_graph.png", "model_graph.svg")


@pytest.fixture
def run(tmp_path):
    env = dict(os.environ, AUTOGRAD_LAB_CACHE_DIR=str(tmp_path / "cache"))

    def run(*args, timeout=600):
        return subprocess.run([sys.executable, "-m", "autograd_lab", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    return run


def _one_line_error(result, *fragments):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _tone(freq, seconds=0.6, sr=8000):
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_demo_trains_on_synthetic_sounds_and_writes_every_picture(run, tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--n-per-class", 8, "--epochs", 2, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy:" in result.stdout
    for name in PICTURES + ("metrics.json", "model.safetensors"):
        assert (out / name).stat().st_size > 1000, name
        assert str(out / name) in result.stdout                 # it says where they are
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and len(metrics["classes"]) == 9
    assert 0 <= metrics["test"]["accuracy"] <= 1 and np.sum(metrics["test"]["confusion"]) == 45


def test_train_evaluate_predict_on_a_folder(run, tmp_path):
    root = tmp_path / "sounds"
    rng = np.random.default_rng(0)
    for name, base in (("low", 300), ("high", 1800)):
        os.makedirs(root / name)
        for i in range(10):
            ext, sr = ("flac", 16000) if i % 2 else ("wav", 8000)
            al.audio.save(root / name / f"{i}.{ext}", _tone(base * rng.uniform(0.9, 1.1), sr=sr), sr)
    (root / "high" / "broken.wav").write_text("this is not audio")
    out = tmp_path / "run"
    result = run("train", "--data", root, "--model", "mlp", "--epochs", 25, "--lr", 0.01, "--out", out,
                 "--folds", 4, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "broken.wav" in result.stderr and "skipped" in result.stderr     # a warning naming the file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "mlp" and metrics["classes"] == ["high", "low"]
    # every readable clip is used exactly once: 20 of the 21 files
    assert metrics["train_clips"] + metrics["val_clips"] + metrics["test"]["n"] == 20
    assert metrics["test"]["accuracy"] == 1.0

    result = run("evaluate", "--checkpoint", out / "model.safetensors", "--data", root, "--split", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy: 1.000" in result.stdout and "(20 clips" in result.stdout
    assert "per-class recall:" in result.stdout and "confusion matrix" in result.stdout
    assert "broken.wav" in result.stderr

    probe = tmp_path / "probe.ogg"
    al.audio.save(probe, _tone(320, 0.8, 22050), 22050)
    result = run("predict", "--checkpoint", out / "model.safetensors", probe, "--top", 2)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert re.fullmatch(rf"{re.escape(str(probe))}: low +\(low [01]\.\d{{3}}, high [01]\.\d{{3}}\)", line), line

    result = run("train", "--data", root, "--epochs", 1, "--out", tmp_path / "strict", "--strict", "--quiet")
    _one_line_error(result, "broken.wav", "not a readable sound file")


@pytest.mark.skipif(not os.path.isdir(FSDD), reason="../shared/data/fsdd is not beside the checkout")
def test_fsdd_mlp_trained_from_the_command_line(run, tmp_path):
    """A short run of the issue's FSDD job (the full one is in docs/audio.md)."""
    out = tmp_path / "fsdd"
    result = run("train", "--data", FSDD, "--model", "mlp", "--epochs", 20, "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_clips"] + metrics["val_clips"] == 2250 and metrics["test"]["n"] == 250
    assert metrics["test"]["accuracy"] >= 0.85
    result = run("evaluate", "--checkpoint", out / "model.safetensors", "--data", FSDD)
    assert f"accuracy: {metrics['test']['accuracy']:.3f}   (250 clips" in result.stdout


def test_bad_input_gives_one_line(run, tmp_path):
    _one_line_error(run("train", "--data", tmp_path / "missing"), "no such folder")
    (tmp_path / "empty").mkdir()
    _one_line_error(run("train", "--data", tmp_path / "empty"), "no class sub-folders")
    (tmp_path / "notes.txt").write_text("hello")
    _one_line_error(run("evaluate", "--checkpoint", tmp_path / "notes.txt", "--data", "synthetic"),
                    "notes.txt", "not a checkpoint")
    _one_line_error(run("predict", "--checkpoint", tmp_path / "none.safetensors", "x.wav"), "no checkpoint")
    result = run("train", "--data", "synthetic", "--epochs", "-3")
    assert result.returncode == 2 and "--epochs: must be positive" in result.stderr
    result = run("nonsense")
    assert result.returncode == 2 and "usage:" in result.stderr and "Traceback" not in result.stderr


def test_tour_runs_and_writes_its_pictures(run, tmp_path):
    result = run("tour", "--steps", 50, "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dL/da = dL/dd · dd/de · de/da = (-2)(1)(-3) = 6" in result.stdout
    for name in ("forward.svg", "backward.svg", "backward.png", "backprop_steps.html"):
        assert (tmp_path / name).stat().st_size > 1000, name
