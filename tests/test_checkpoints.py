"""Checkpoints: safetensors files that any safetensors reader opens; round trip, and refusal
of truncated, corrupted, tampered, foreign and wrong-architecture files; old .npz ones still load."""
import hashlib
import json
import os

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

import autograd_lab as al
from autograd_lab import nn


def _model(width=4):
    al.manual_seed(0)
    return nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, 2))


def test_round_trip_restores_the_model_exactly(tmp_path):
    path = tmp_path / "model.safetensors"
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


def test_the_file_is_plain_safetensors_with_our_metadata_in_its_header(tmp_path):
    path = tmp_path / "model.safetensors"
    model = _model()
    al.save(model.state_dict(), path, metadata={"classes": ["a", "b"]})
    tensors = safetensors.numpy.load_file(str(path))          # the ecosystem's reader, not ours
    assert set(tensors) == set(model.state_dict())
    for k, v in model.state_dict().items():
        assert tensors[k].dtype == v.dtype and np.array_equal(tensors[k], v)
    with safe_open(str(path), framework="numpy") as f:
        header = f.metadata()
    assert header["format"] == "autograd_lab-checkpoint-1"
    assert json.loads(header["metadata"]) == {"classes": ["a", "b"]}
    assert set(json.loads(header["digests"])) == set(tensors)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    al.save(_model().state_dict(), path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 20, 4):
        path.write_bytes(data[:cut])
        with pytest.raises(al.CheckpointError, match="truncated or corrupt"):
            al.load(path)


def test_flipped_bytes_are_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    al.save({"w": np.arange(1000, dtype=np.float32)}, path)
    data = bytearray(path.read_bytes())
    start = data.index(np.arange(1000, dtype=np.float32)[500:502].tobytes())
    data[start] ^= 0xFF                                    # inside the stored array
    path.write_bytes(bytes(data))
    with pytest.raises(al.CheckpointError, match="does not match its digest"):
        al.load(path)


def test_tampered_array_in_a_well_formed_file_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    al.save({"w": np.ones(4)}, path)
    with safe_open(str(path), framework="numpy") as f:
        header = f.metadata()
    safetensors.numpy.save_file({"w": np.zeros(4)}, str(path), metadata=header)   # genuine header, wrong data
    with pytest.raises(al.CheckpointError, match="does not match its digest"):
        al.load(path)
    safetensors.numpy.save_file({"w": np.ones(4), "extra": np.ones(1)}, str(path), metadata=header)
    with pytest.raises(al.CheckpointError, match="does not list the arrays"):
        al.load(path)


def _legacy_npz(path, arrays, metadata):
    """A checkpoint as autograd_lab wrote them before safetensors: .npz + a JSON header entry."""
    def digest(a):
        h = hashlib.sha256()
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()
    header = {"format": "autograd_lab-checkpoint-1", "metadata": metadata,
              "digests": {k: digest(v) for k, v in arrays.items()}}
    np.savez(path, **arrays, __metadata__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))


def test_old_npz_checkpoints_still_load(tmp_path):
    path = tmp_path / "model.npz"
    state = _model().state_dict()
    _legacy_npz(path, state, {"epoch": 7})
    loaded, meta = al.load(path, with_metadata=True)
    assert meta == {"epoch": 7}
    assert all(np.array_equal(loaded[k], v) for k, v in state.items())
    with np.load(path) as archive:
        header = archive["__metadata__"]
    np.savez(path, **{k: v * 0 for k, v in state.items()}, __metadata__=header)   # tampered old file
    with pytest.raises(al.CheckpointError, match="does not match its digest"):
        al.load(path)


def test_pickle_payload_in_an_old_npz_is_refused_and_never_executed(tmp_path):
    good = tmp_path / "good.npz"
    _legacy_npz(good, {"w": np.ones(2)}, {})
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
    path = tmp_path / "text.safetensors"
    path.write_text("hello")
    with pytest.raises(al.CheckpointError, match="not a checkpoint at all"):
        al.load(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        al.load(tmp_path / "missing.safetensors")
    with pytest.raises(al.CheckpointError, match="is a folder"):
        al.load(tmp_path)
    foreign = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"w": np.ones(2)}, str(foreign))
    with pytest.raises(al.CheckpointError, match="not an autograd_lab checkpoint"):
        al.load(foreign)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(2))
    with pytest.raises(al.CheckpointError, match="not an autograd_lab checkpoint"):
        al.load(plain)


def test_what_safetensors_cannot_hold_is_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="'z' has dtype complex64"):
        al.save({"z": np.ones(2, np.complex64)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="object array"):
        al.save({"o": np.array([None], dtype=object)}, tmp_path / "o.safetensors")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        al.save({"w": np.ones(2)}, tmp_path / "m.safetensors", metadata={"f": object()})
    assert list(tmp_path.iterdir()) == []


def test_wrong_architecture_is_refused_with_the_keys(tmp_path):
    path = tmp_path / "model.safetensors"
    al.save(_model(4).state_dict(), path)
    with pytest.raises(nn.StateDictError, match=r"mis-shaped keys: 0.weight: expected \(6, 3\), got \(4, 3\)"):
        _model(6).load_state_dict(al.load(path))


def test_a_crash_during_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    al.save({"w": np.ones(3)}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(os, "fsync", crash)          # after the temporary file is written, before the rename
    with pytest.raises(KeyboardInterrupt):
        al.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert al.load(path)["w"].tolist() == [1.0, 1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]    # no temporary left behind


def test_the_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        al.save({"w": np.ones(1)}, tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert oct((tmp_path / "m.safetensors").stat().st_mode & 0o777) == oct(0o644)


def test_fit_keeps_the_best_checkpoint_when_interrupted(tmp_path):
    path = tmp_path / "best.safetensors"
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
