"""nn: modules, layers and losses (gradient-checked), optimizers, seeds, state dicts."""
import numpy as np
import pytest

import autograd_lab as al
from autograd_lab import nn
from autograd_lab.core.errors import ShapeError
from autograd_lab.nn import functional as F


def _seeded(layer_fn, seed=0):
    al.manual_seed(seed)
    return layer_fn()


# ---- every layer and loss through the engine's gradcheck ----------------------------
LAYERS = {
    "Linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, stride=2), (2, 2, 5, 4)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (1, 2, 4, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (1, 2, 5, 5)),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), (2, 3, 3, 2)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 2)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (5, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (3, 2, 2, 3)),
    "ReLU": (lambda: nn.ReLU(), (3, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (3, 4)),
    "Tanh": (lambda: nn.Tanh(), (3, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), (3, 4)),
    "Softmax": (lambda: nn.Softmax(axis=1), (3, 4)),
    "Dropout": (lambda: nn.Dropout(0.3), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradcheck_input_and_parameters(name):
    make, shape = LAYERS[name]
    layer = make()
    params = layer.parameters()
    x = np.random.default_rng(1).uniform(-2, 2, shape)
    x[np.abs(x) < 0.1] = 0.3                       # away from relu's kink

    def f(xt, *ps):
        for p, value in zip(params, ps):
            p.data = value.data
        for p, value in zip(params, ps):       # route the gradient through the given leaves
            object.__setattr__(layer, _attr(layer, p), value)
        al.manual_seed(7)                      # the same dropout mask at every evaluation
        return layer(xt)

    al.gradcheck(f, [x] + [p.data.astype(np.float64) for p in params], order=1)


def _attr(layer, p):
    return next(k for k, v in layer._parameters.items() if v is p)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_keeps_float32_in_output_and_gradients(name):
    make, shape = LAYERS[name]
    layer = _seeded(make)
    x = al.tensor(np.random.default_rng(1).uniform(-2, 2, shape).astype(np.float32), requires_grad=True)
    out = layer(x)
    assert out.dtype == np.float32, out.dtype
    out.sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in layer.parameters())


LOSSES = {
    "cross_entropy": lambda x: F.cross_entropy(x, np.array([0, 2, 1])),
    "cross_entropy_smoothed": lambda x: F.cross_entropy(x, np.array([0, 2, 1]), label_smoothing=0.2),
    "nll_loss": lambda x: F.nll_loss(al.log_softmax(x), np.array([1, 1, 0])),
    "binary_cross_entropy": lambda x: F.binary_cross_entropy(al.sigmoid(x), np.eye(3)),
    "binary_cross_entropy_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, np.eye(3)),
    "mse_loss": lambda x: F.mse_loss(x, np.ones((3, 3))),
    "hinge_embedding": lambda x: F.hinge_embedding(x, np.sign(np.arange(9).reshape(3, 3) - 4.5)),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradcheck_first_and_second_order(name):
    x = np.random.default_rng(2).uniform(-2, 2, (3, 3))
    al.gradcheck(LOSSES[name], [x], order=1)
    if name != "hinge_embedding":                  # piecewise linear: second order is 0
        al.gradcheck(LOSSES[name], [x], order=2)


def test_losses_are_finite_and_correct_for_logits_of_magnitude_1000():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    target = np.array([1, 2])
    for dtype in (np.float32, np.float64):
        x = al.tensor(logits.astype(dtype), requires_grad=True)
        loss = F.cross_entropy(x, target)
        # exact: row 0 loses 1000 - (-1000) = 2000; row 1 loses 1000 - 999 + log(1 + e^-1)
        expected = (2000.0 + 1.0 + np.log1p(np.exp(-1.0))) / 2
        assert np.isfinite(loss.item()) and loss.item() == pytest.approx(expected, rel=1e-6)
        loss.backward()
        assert np.isfinite(x.grad).all()
        z = al.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype), requires_grad=True)
        bce = F.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0, 0.0, 1.0]))
        assert bce.item() == pytest.approx(500.0, rel=1e-6)       # (0 + 0 + 1000 + 1000) / 4
        bce.backward()
        np.testing.assert_allclose(z.grad, np.array([0, 0, 0.25, -0.25]), atol=1e-7)


def test_binary_cross_entropy_is_finite_at_0_and_1():
    z = al.tensor([0.0, 1.0, 0.5], requires_grad=True)
    loss = F.binary_cross_entropy(z, np.array([1.0, 0.0, 1.0]))
    assert np.isfinite(loss.item()) and loss.item() > 10
    loss.backward()
    assert np.isfinite(z.grad).all()


def test_lecture_bce_formula():
    z, y = 0.8, 1.0
    loss = F.binary_cross_entropy(al.tensor([z], dtype=np.float64), np.array([y]))
    assert loss.item() == pytest.approx(-(y * np.log(z) + (1 - y) * np.log(1 - z)))


# ---- modules -----------------------------------------------------------------------------
def test_module_registration_repr_and_modes():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 3))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "6.weight", "6.bias"]
    assert model.num_parameters() == 4 * 9 + 4 + 4 + 4 + 16 * 3 + 3
    assert "running_mean" in " ".join(model.state_dict())
    assert "(0): Conv2d(1, 4, kernel_size=(3, 3)" in repr(model)
    model.eval()
    assert not any(m.training for m in model.modules())
    out = model(al.tensor(np.ones((2, 1, 4, 4))))
    assert out.shape == (2, 3)


def test_module_calls_record_their_scope_on_nodes():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    out = model(al.tensor([[1.0, 2.0]]))
    scopes = {(n.scope, n.module_type) for n in al.topological_order(out) if n.op is not None}
    assert ("Sequential.0", "Linear") in scopes and ("Sequential.1", "ReLU") in scopes


def test_state_dict_round_trip_is_exact():
    al.manual_seed(3)
    a = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    a(al.tensor(np.random.default_rng(0).normal(size=(5, 3))))       # moves running stats
    al.manual_seed(4)
    b = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and va.dtype == vb.dtype and np.array_equal(va, vb)


def test_load_state_dict_lists_missing_unexpected_and_misshaped_keys():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    other = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2), nn.Linear(2, 2)).state_dict()
    del other["0.bias"]
    before = model.state_dict()
    with pytest.raises(nn.StateDictError) as err:
        model.load_state_dict(other)
    text = str(err.value)
    assert "missing keys: 0.bias" in text
    assert "unexpected keys: 2.weight, 2.bias" in text
    assert "0.weight: expected (4, 3), got (5, 3)" in text
    for k, v in model.state_dict().items():      # nothing changed
        assert np.array_equal(v, before[k])


def test_layer_input_errors_are_clear():
    with pytest.raises(al.ShapeError, match=r"Linear\(3, 2\): input has shape \(4, 5\)"):
        nn.Linear(3, 2)(al.tensor(np.ones((4, 5))))
    with pytest.raises(al.ShapeError, match="Conv2d: expected input"):
        nn.Conv2d(1, 2, 3)(al.tensor(np.ones((4, 5))))


# ---- optimizers, schedules, seeds --------------------------------------------------------
def test_sgd_momentum_nesterov_and_weight_decay_follow_their_formulas():
    w = al.tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    opt = al.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    expected, buf = w.data.copy(), None
    for _ in range(3):
        w.grad = None
        (w * w).sum().backward()
        g = 2 * expected + 0.01 * expected
        buf = g if buf is None else 0.9 * buf + g
        expected = expected - 0.1 * (g + 0.9 * buf)
        opt.step()
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)


def test_adam_adamw_rmsprop_first_steps():
    for cls, first in ((al.optim.Adam, 0.1), (al.optim.AdamW, 0.1 * (1 + 0.01 * 3.0) ),
                       (al.optim.RMSprop, 0.1 / np.sqrt(0.01))):
        w = al.tensor([3.0], dtype=np.float64, requires_grad=True)
        opt = cls([w], lr=0.1)
        (w * 2).sum().backward()
        opt.step()
        assert 3.0 - w.data[0] == pytest.approx(first, rel=1e-6), cls.__name__


def test_schedules_and_gradient_clipping():
    w = al.tensor([1.0], requires_grad=True)
    opt = al.optim.SGD([w], lr=1.0)
    step = al.optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(4):
        step.step()
        lrs.append(opt.lr)
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    cos = al.optim.CosineAnnealingLR(al.optim.SGD([w], lr=1.0), t_max=2)
    cos.step(); cos.step()
    assert cos.optimizer.lr == pytest.approx(0.0)
    a, b = al.tensor([0.0], requires_grad=True), al.tensor([0.0], requires_grad=True)
    a.grad, b.grad = np.array([3.0]), np.array([4.0])
    assert al.optim.clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    assert np.hypot(a.grad, b.grad)[0] == pytest.approx(1.0)


def _train_history(seed):
    al.manual_seed(seed)
    X, y = al.data.make_circles(120, noise=0.1, seed=1)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Dropout(0.2), nn.Linear(8, 2))
    opt = al.optim.SGD(model.parameters(), lr=0.3, momentum=0.5)
    hist = al.train.fit(model, F.cross_entropy, opt, al.data.DataLoader(X, y, 16, shuffle=True),
                        epochs=4, progress=False)
    return hist.series("loss"), model.state_dict()


def test_the_same_seed_gives_bit_identical_training():
    losses_a, state_a = _train_history(11)
    losses_b, state_b = _train_history(11)
    losses_c, _ = _train_history(12)
    assert losses_a == losses_b
    assert all(np.array_equal(state_a[k], state_b[k]) for k in state_a)
    assert losses_a != losses_c


def test_early_stopping_and_validation_history():
    X, y = al.data.make_blobs(90, centers=[[0, 0], [3, 3], [-3, 3]], spread=0.3, seed=0)
    al.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3))
    opt = al.optim.SGD(model.parameters(), lr=0.5)
    train = al.data.DataLoader(X, y, 30, shuffle=True)
    hist = al.train.fit(model, F.cross_entropy, opt, train, al.data.DataLoader(X, y, 90),
                        epochs=500, patience=3, min_delta=1e-3, progress=False)
    assert hist.stopped_early and len(hist.epochs) < 500
    assert hist.epochs[-1]["val_accuracy"] == 1.0
    assert len(hist.epochs) - hist.best_epoch == 3      # stopped after 3 epochs without improvement


def test_init_scales():
    al.manual_seed(0)
    w = nn.init.kaiming_uniform((256, 128))
    assert np.abs(w).max() <= np.sqrt(6 / 128) and w.std() == pytest.approx(np.sqrt(2 / 128), rel=0.05)
    g = nn.init.xavier_normal((200, 300))
    assert g.std() == pytest.approx(np.sqrt(2 / 500), rel=0.05) and g.dtype == np.float32


def test_optimizers_update_scalar_values_too():
    v = al.Value(2.0)
    opt = al.optim.SGD([v], lr=0.25)
    (v * v).backward()
    opt.step()
    opt.zero_grad()
    assert v.data == 1.0 and isinstance(v.data, float) and v.grad == 0.0


def test_cross_entropy_takes_class_indices_or_target_probabilities():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4)[labels]
    by_index = F.cross_entropy(al.tensor(logits), labels).item()
    assert F.cross_entropy(al.tensor(logits), one_hot).item() == pytest.approx(by_index, rel=1e-12)
    # label smoothing is the same as cross-entropy against the smoothed distribution
    smoothed = one_hot * 0.9 + 0.1 / 4
    assert F.cross_entropy(al.tensor(logits), labels, label_smoothing=0.1).item() == pytest.approx(
        F.cross_entropy(al.tensor(logits), smoothed).item(), rel=1e-12)
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert by_index == pytest.approx(-log_probs[np.arange(5), labels].mean(), rel=1e-12)
    x = al.tensor(logits, requires_grad=True)
    F.cross_entropy(x, one_hot).backward()        # the textbook gradient
    np.testing.assert_allclose(x.grad, (np.exp(log_probs) - one_hot) / 5, rtol=1e-12)
    assert smoothed.tolist() == (one_hot * 0.9 + 0.025).tolist()    # the caller's array is not changed
    with pytest.raises(ShapeError, match=r"cross_entropy: target probabilities .*\(5, 4\).*\(5, 3\)"):
        F.cross_entropy(al.tensor(logits), np.ones((5, 3)) / 3)
    with pytest.raises(ShapeError, match=r"cross_entropy: target must be 5 integer class indices"):
        F.cross_entropy(al.tensor(logits), labels[:4])
    with pytest.raises(ShapeError, match=r"cross_entropy: needs \(batch, classes\) logits"):
        F.cross_entropy(al.tensor(logits[0]), labels[:1])
