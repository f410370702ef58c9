"""The ready-made audio models: shapes, any clip length, clear errors, gradients."""
import numpy as np
import pytest

import autograd_lab as al


@pytest.mark.parametrize("frames", [16, 32, 75])
def test_models_accept_any_clip_length(frames):
    al.manual_seed(0)
    x = al.tensor(np.random.default_rng(0).standard_normal((3, 1, 40, frames)).astype(np.float32))
    for model in (al.audio.AudioCNN(n_classes=5), al.audio.AudioMLP(n_mels=40, n_classes=5)):
        out = model(x)
        assert out.shape == (3, 5) and out.dtype == np.float32
        al.nn.functional.cross_entropy(out, np.array([0, 1, 4])).backward()
        assert all(p.grad is not None and np.isfinite(p.grad).all() for p in model.parameters())


def test_models_refuse_wrong_input_clearly():
    with pytest.raises(al.ShapeError, match=r"AudioCNN: expected log-mel input \(N, 1, n_mels, frames\)"):
        al.audio.AudioCNN()(al.tensor(np.zeros((2, 40, 32))))
    with pytest.raises(al.ShapeError, match="at least 8 mel bands and frames"):
        al.audio.AudioCNN()(al.tensor(np.zeros((1, 1, 40, 4))))
    with pytest.raises(al.ShapeError, match=r"AudioMLP: expected \(N, 1, 40, frames\)"):
        al.audio.AudioMLP(n_mels=40)(al.tensor(np.zeros((1, 1, 64, 10))))
