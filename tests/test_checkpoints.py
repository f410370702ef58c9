"""Checkpoints: round trip, and refusal of truncated, corrupted, pickled and foreign files."""
import os
import zipfile

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab import nn


def _model(width=4):
    al.manual_seed(0)
    return nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, 2))


def test_round_trip_restores_the_model_exactly(tmp_path):
    path = tmp_path / "model.npz"
    model = _model()
    al.save(model.state_dict(), path, metadata={"epoch": 3, "classes": ["a", "b"]})
    state, meta = al.load(path, with_metadata=True)
    assert meta == {"epoch": 3, "classes": ["a", "b"]}
    other = _model()
    for p in other.parameters():
        p.data = p.data * 0
    other.load_state_dict(state)
    for k, v in model.state_dict().items():
        assert np.array_equal(other.state_dict()[k], v)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    al.save(_model().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(al.CheckpointError, match="truncated or corrupt"):
        al.load(path)


def test_flipped_bytes_are_refused(tmp_path):
    path = tmp_path / "model.npz"
    al.save({"w": np.arange(1000, dtype=np.float32)}, path)
    data = bytearray(path.read_bytes())
    start = data.index(np.arange(1000, dtype=np.float32)[500:502].tobytes())
    data[start] ^= 0xFF                                    # inside the stored array
    path.write_bytes(bytes(data))
    with pytest.raises(al.CheckpointError):
        al.load(path)


def test_tampered_array_with_a_valid_archive_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    al.save({"w": np.ones(4)}, path)
    with np.load(path) as archive:
        header = archive["__metadata__"]
    np.savez(path, w=np.zeros(4), __metadata__=header)     # a well-formed zip, wrong data
    with pytest.raises(al.CheckpointError, match="does not match its digest"):
        al.load(path)


def test_pickle_payload_is_refused_and_never_executed(tmp_path):
    good = tmp_path / "good.npz"
    al.save({"w": np.ones(2)}, good)
    with np.load(good) as archive:
        header = archive["__metadata__"]            # a genuine header, so loading gets far
    path = tmp_path / "evil.npz"
    marker = tmp_path / "executed"
    np.savez(path, w=np.array([_Boom(str(marker))], dtype=object), __metadata__=header,
             allow_pickle=True)
    with pytest.raises(al.CheckpointError, match="pickled objects"):
        al.load(path)
    assert not marker.exists()


class _Boom:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello")
    with pytest.raises(al.CheckpointError):
        al.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        al.load(tmp_path / "missing.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(2))
    with pytest.raises(al.CheckpointError, match="not an autograd_lab checkpoint"):
        al.load(plain)


def test_wrong_architecture_is_refused_with_the_keys(tmp_path):
    path = tmp_path / "model.npz"
    al.save(_model(4).state_dict(), path)
    with pytest.raises(nn.StateDictError, match=r"mis-shaped keys: 0.weight: expected \(6, 3\), got \(4, 3\)"):
        _model(6).load_state_dict(al.load(path))


def test_a_crash_during_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    al.save({"w": np.ones(3)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        al.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert al.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]    # no temporary left behind


def test_fit_keeps_the_best_checkpoint_when_interrupted(tmp_path):
    path = tmp_path / "best.npz"
    X, y = al.data.make_moons(64, seed=0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    opt = al.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def loss_fn(out, target):
        calls["n"] += 1
        if calls["n"] > 10:                    # Ctrl-C in the middle of epoch 3
            raise KeyboardInterrupt
        return al.nn.functional.cross_entropy(out, target)

    hist = al.train.fit(model, loss_fn, opt, al.data.DataLoader(X, y, 16), epochs=10,
                        checkpoint=path, progress=False, log=None)
    assert hist.interrupted and hist.best_epoch == 2 and len(hist.epochs) == 2
    state, meta = al.load(path, with_metadata=True)
    assert meta["epoch"] == 2 and set(state) == set(model.state_dict())
