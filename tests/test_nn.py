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
    "Conv2d_same_groups": (lambda: nn.Conv2d(4, 2, (2, 3), padding="same", groups=2), (1, 4, 4, 5)),
    "Conv1d": (lambda: nn.Conv1d(3, 2, 3, stride=2, padding=1, dilation=2), (2, 3, 9)),
    "Conv1d_same_depthwise": (lambda: nn.Conv1d(2, 4, 4, padding="same", groups=2), (1, 2, 7)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (1, 2, 5, 7)),
    "AdaptiveAvgPool2d_even": (lambda: nn.AdaptiveAvgPool2d(2), (1, 2, 4, 6)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (1, 2, 5, 7)),
    "LayerNorm": (lambda: nn.LayerNorm((3, 4)), (2, 3, 4)),
    "GELU_tanh": (lambda: nn.GELU(approximate="tanh"), (3, 4)),
    "SiLU": (lambda: nn.SiLU(), (3, 4)),
    "ELU": (lambda: nn.ELU(0.5), (3, 4)),
    "Softplus": (lambda: nn.Softplus(), (3, 4)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), (3, 4)),
    "Identity": (lambda: nn.Identity(), (3, 4)),
    "Unflatten": (lambda: nn.Unflatten(1, (2, 2)), (3, 4)),
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
    "cross_entropy_weighted_ignored": lambda x: F.cross_entropy(
        x, np.array([0, -100, 1]), weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1),
    "cross_entropy_sum": lambda x: F.cross_entropy(x, np.array([0, 2, 1]), reduction="sum"),
    "cross_entropy_none": lambda x: F.cross_entropy(x, np.array([0, 2, 1]), reduction="none"),
    "cross_entropy_NCT": lambda x: F.cross_entropy(x.reshape(1, 3, 3), np.array([[0, 2, 1]])),
    "nll_loss_weighted": lambda x: F.nll_loss(al.log_softmax(x), np.array([1, 1, 0]),
                                              weight=np.array([0.2, 1.0, 3.0])),
    "bce_with_logits_pos_weight": lambda x: F.binary_cross_entropy_with_logits(
        x, np.eye(3), pos_weight=np.array([1.0, 2.0, 3.0]), reduction="sum"),
    "smooth_l1_loss": lambda x: F.smooth_l1_loss(x, np.ones((3, 3)) * 0.5),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradcheck_first_and_second_order(name):
    x = np.random.default_rng(2).uniform(-2, 2, (3, 3))
    al.gradcheck(LOSSES[name], [x], order=1)
    if name not in ("hinge_embedding", "smooth_l1_loss"):    # piecewise: second order is 0 or a kink
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
    with pytest.raises(ShapeError, match=r"cross_entropy: unbatched scores \(4,\) need one class index"):
        F.cross_entropy(al.tensor(logits[0]), labels[:1])
    assert F.cross_entropy(al.tensor(logits[0]), labels[0]).item() == pytest.approx(-log_probs[0, 0])


# ---- regressions: gradients that were wrong, targets that were constants ---------------------
def test_bce_with_logits_gradient_at_logit_zero_is_sigmoid_minus_target():
    # sigma(0) - y = 0.5, 0.0, -0.5 (per element; the mean divides by 3)
    x = al.tensor(np.zeros(3), dtype=np.float64, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, np.array([0.0, 0.5, 1.0]))
    loss.backward()
    np.testing.assert_allclose(x.grad, np.array([0.5, 0.0, -0.5]) / 3, atol=1e-15)
    assert loss.item() == pytest.approx(np.log(2))
    # a zero-initialised logistic regression: the bias gradient has the right sign
    b = al.tensor(0.0, dtype=np.float64, requires_grad=True)
    F.binary_cross_entropy_with_logits(al.tensor(np.zeros(4)) + b, np.ones(4)).backward()
    assert b.grad == pytest.approx(-0.5)
    al.gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, np.array([0.0, 0.5, 1.0])),
                 [np.zeros(3)], order=2)


@pytest.mark.parametrize("loss", ["mse_loss", "binary_cross_entropy", "cross_entropy",
                                  "binary_cross_entropy_with_logits", "l1_loss"])
def test_targets_take_gradients_like_any_input(loss):
    rng = np.random.default_rng(0)
    a = al.tensor(rng.uniform(-1, 1, (3, 4)), requires_grad=True)
    b = al.tensor(rng.uniform(-1, 1, (3, 4)), requires_grad=True)
    fns = {"mse_loss": lambda a, b: F.mse_loss(a.tanh(), b.tanh()),
           "l1_loss": lambda a, b: F.l1_loss(a, b),
           "binary_cross_entropy": lambda a, b: F.binary_cross_entropy(a.sigmoid(), b.sigmoid()),
           "binary_cross_entropy_with_logits": lambda a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()),
           "cross_entropy": lambda a, b: F.cross_entropy(a, b.softmax(axis=1))}
    fns[loss](a, b).backward()
    assert b.grad is not None and np.abs(b.grad).sum() > 0
    al.gradcheck(fns[loss], [a.data, b.data], order=1)


def test_mse_target_gradient_matches_torch_numbers():
    a = al.tensor([0.5, -1.0], dtype=np.float64, requires_grad=True)
    b = al.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    F.mse_loss(a.tanh(), b.tanh()).backward()
    # torch: b.grad = -(tanh(a) - tanh(b)) (1 - tanh(b)^2)
    np.testing.assert_allclose(b.grad, -(np.tanh(a.data) - np.tanh(b.data)) * (1 - np.tanh(b.data) ** 2))


def test_swapped_arguments_still_differentiate_or_say_what_is_wrong():
    pred = al.tensor([0.5, -1.0], requires_grad=True)
    F.mse_loss(np.array([1.0, 1.0]), pred).backward()        # symmetric: works either way
    assert pred.grad is not None
    logits = al.tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(al.ShapeError, match="swapped"):
        F.cross_entropy(np.array([0, 2]), logits)
    with pytest.raises(al.ShapeError, match="swapped"):
        F.nll_loss(np.array([0, 2]), logits)


def test_conv2d_padding_same_keeps_the_size_like_torch():
    rng = np.random.default_rng(0)
    for k, d in ((3, 1), (4, 1), (2, 3), ((3, 2), (1, 2))):
        conv = nn.Conv2d(2, 3, k, padding="same", dilation=d)
        x = al.tensor(rng.normal(size=(1, 2, 7, 6)), dtype=np.float64)
        assert conv(x).shape == (1, 3, 7, 6)
    with pytest.raises(ValueError, match="same.*stride"):
        nn.Conv2d(2, 3, 3, padding="same", stride=2)
    # even kernel: torch puts the extra zero row/column after the data
    x = np.zeros((1, 1, 4, 4)); x[0, 0, 0, 0] = 1.0
    out = F.conv2d(al.tensor(x), al.tensor(np.ones((1, 1, 2, 2))), padding="same")
    assert out.data[0, 0].tolist() == [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    valid = F.conv2d(al.tensor(x), al.tensor(np.ones((1, 1, 2, 2))), padding="valid")
    assert valid.shape == (1, 1, 3, 3)


# ---- PyTorch's containers, modules and habits ---------------------------------------------------
def test_containers_register_their_modules():
    from collections import OrderedDict
    seq = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["conv.weight", "conv.bias"]
    assert isinstance(seq[0], nn.Conv2d) and len(seq[1:]) == 1
    seq.append(nn.Flatten())
    assert len(seq) == 3
    blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
    blocks.append(nn.Linear(3, 1))
    blocks.insert(0, nn.Identity())
    assert [type(b).__name__ for b in blocks] == ["Identity", "Linear", "Linear", "Linear"]
    assert [n for n, _ in blocks.named_parameters()][:2] == ["1.weight", "1.bias"]
    del blocks[0]
    assert len(blocks) == 3 and len(blocks.parameters()) == 6
    heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
    heads["b"] = nn.Linear(2, 4)
    assert "b" in heads and list(heads) == ["a", "b"]
    assert sorted(heads.state_dict()) == ["a.bias", "a.weight", "b.bias", "b.weight"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = blocks
            self.heads = heads

        def forward(self, x):
            for b in self.blocks:
                x = b(x).relu() if b is not self.blocks[-1] else b(x)
            return x

    net = Net()
    assert len(net.parameters()) == 10
    assert net(al.tensor(np.ones((4, 2)))).shape == (4, 1)
    with pytest.raises(TypeError, match="not a Module"):
        nn.ModuleList([nn.Linear(1, 1), 3])


def test_embedding_looks_up_rows_and_sums_repeated_gradients():
    al.manual_seed(0)
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert np.all(emb.weight.data[0] == 0)
    idx = np.array([[1, 2, 1], [0, 4, 4]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data[0, 0], emb.weight.data[1])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [0, 2, 1, 0, 2])     # padding row: none
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 5\)"):
        emb(np.array([5]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([1.0]))


def test_layer_norm_normalises_each_sample():
    x = al.tensor(np.random.default_rng(0).normal(3, 2, (4, 6)))
    out = nn.LayerNorm(6)(x)
    np.testing.assert_allclose(out.data.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(out.data.std(1), 1, atol=1e-3)


def test_batchnorm_counts_batches_and_loads_torch_style_state_dicts():
    bn = nn.BatchNorm2d(2)
    bn(al.tensor(np.random.default_rng(0).normal(size=(3, 2, 2, 2))))
    bn(al.tensor(np.random.default_rng(1).normal(size=(3, 2, 2, 2))))
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert int(state["num_batches_tracked"]) == 2 and state["num_batches_tracked"].dtype == np.int64
    other = nn.BatchNorm2d(2)
    other.load_state_dict(state)
    assert int(other.num_batches_tracked) == 2
    old = {k: v for k, v in state.items() if k != "num_batches_tracked"}     # an older checkpoint
    nn.BatchNorm2d(2).load_state_dict(old)


def test_module_zero_grad_requires_grad_and_apply():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    net(al.tensor(np.ones((1, 2)))).sum().backward()
    net.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad, np.zeros_like(p.data)) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net[0].requires_grad_(False)
    net(al.tensor(np.ones((1, 2)))).sum().backward()
    assert net[0].weight.grad is None and net[1].weight.grad is not None
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Sequential"]


def test_no_grad_works_as_context_and_as_decorator_with_or_without_parentheses():
    w = al.tensor([1.0], requires_grad=True)

    @al.no_grad
    def bare(x):
        return w * x

    @al.no_grad()
    def called(x):
        return w * x

    class Model:
        @al.no_grad
        def predict(self, x):
            return w * x

    assert not bare(2.0).requires_grad and not called(2.0).requires_grad
    assert not Model().predict(2.0).requires_grad
    assert (w * 2).requires_grad and al.is_grad_enabled()
    with al.set_grad_enabled(False):
        assert not (w * 2).requires_grad
    assert al.is_grad_enabled()
    with al.no_grad():
        with al.enable_grad():
            assert (w * 2).requires_grad


# ---- optimizers: groups, state, resuming ------------------------------------------------------
def test_param_groups_have_their_own_hyperparameters():
    a = al.tensor([1.0], dtype=np.float64, requires_grad=True)
    b = al.tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = al.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9
    (a * 1.0 + b * 1.0).sum().backward()
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.5)
    opt.zero_grad()
    assert a.grad is None
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0]
    with pytest.raises(ValueError, match="more than one group"):
        opt.add_param_group({"params": [a]})


def _resumable_run(steps, stop_at=None, tmp_path=None):
    """Train a small CNN for `steps` steps; optionally save at stop_at and resume from the file."""
    def build():
        al.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding="same"), nn.BatchNorm2d(3), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(3, 4))
        opt = al.optim.Adam(model.parameters(), lr=0.01)
        sched = al.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        return model, opt, sched

    rng = np.random.default_rng(5)
    data = [(rng.normal(size=(4, 1, 6, 5)).astype(np.float32), rng.integers(0, 4, 4)) for _ in range(steps)]
    model, opt, sched = build()
    start = 0
    for step in range(steps):
        if step == stop_at:
            al.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "epoch": step}, tmp_path / "ck.npz")
            model, opt, sched = build()              # as a fresh process would start
            ck = al.load(tmp_path / "ck.npz")
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            start = ck["epoch"]
        al.manual_seed(1000 + step)                  # dropout masks depend on the step alone
        x, y = data[step]
        loss = F.cross_entropy(model(al.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.state_dict(), opt.state_dict(), start


def test_stop_and_resume_gives_bit_identical_parameters(tmp_path):
    whole, whole_opt, _ = _resumable_run(6)
    resumed, resumed_opt, start = _resumable_run(6, stop_at=3, tmp_path=tmp_path)
    assert start == 3
    for key in whole:
        assert whole[key].dtype == resumed[key].dtype
        assert np.array_equal(whole[key], resumed[key]), key
    assert whole_opt["param_groups"][0]["lr"] == resumed_opt["param_groups"][0]["lr"] == 0.01 * 0.5 ** 3
    for i, buffers in whole_opt["state"].items():
        for k, v in buffers.items():
            assert np.array_equal(v, resumed_opt["state"][i][k])


def test_optimizer_state_dict_round_trip_and_refusals():
    w = al.tensor([1.0, 2.0], requires_grad=True)
    opt = al.optim.SGD([w], lr=0.1, momentum=0.9)
    (w * w).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"][0]["params"] == [0]
    assert set(state["state"][0]) == {"momentum_buffer"}
    other = al.optim.SGD([al.tensor([0.0, 0.0], requires_grad=True)], lr=1.0)
    other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="hold"):
        al.optim.SGD([w, al.tensor([1.0], requires_grad=True)], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="shape"):
        al.optim.SGD([al.tensor([0.0], requires_grad=True)], lr=1.0).load_state_dict(state)


def test_lr_schedulers_follow_torch_closed_forms():
    def lrs(make, n=6, **kw):
        opt = al.optim.SGD([al.tensor([1.0], requires_grad=True)], lr=1.0, **kw)
        sched = make(opt)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n):
            opt.step()
            sched.step()
            out.append(sched.get_last_lr()[0])
        return out

    S = al.optim.lr_scheduler
    assert lrs(lambda o: S.StepLR(o, 2, 0.5)) == [1, 1, .5, .5, .25, .25, .125]
    assert lrs(lambda o: S.MultiStepLR(o, [1, 4], 0.1)) == pytest.approx([1, .1, .1, .1, .01, .01, .01])
    assert lrs(lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1))) == pytest.approx([1 / (e + 1) for e in range(7)])
    assert lrs(lambda o: S.CosineAnnealingLR(o, T_max=4))[4] == pytest.approx(0.0)
    assert lrs(lambda o: S.ExponentialLR(o, 0.5))[3] == 0.125
    cycle = lrs(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10), n=9, momentum=0.9)
    assert cycle[0] == pytest.approx(1 / 25) and max(cycle) == pytest.approx(1.0)
    assert cycle.index(max(cycle)) == 2 and cycle[-1] == pytest.approx(1 / 25 / 1e4)
    opt = al.optim.SGD([al.tensor([1.0], requires_grad=True)], lr=1.0)
    plateau = S.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for loss in (1.0, 0.5, 0.6, 0.7, 0.8):
        plateau.step(loss)
    assert opt.param_groups[0]["lr"] == 0.5


# ---- checkpoints, seeds, reprs -------------------------------------------------------------------
def test_saving_a_model_object_says_what_to_save_instead(tmp_path):
    model = nn.Linear(2, 1)
    with pytest.raises(TypeError, match=r"model.state_dict\(\)|obj.state_dict\(\)"):
        al.save(model, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="state_dict"):
        al.save({"model": model}, tmp_path / "m.npz")
    al.save({"model": model.state_dict(), "epoch": 7, "note": "ok", "betas": (0.9, 0.99)},
            tmp_path / "m.npz")
    ck = al.load(tmp_path / "m.npz")
    assert ck["epoch"] == 7 and ck["note"] == "ok" and ck["betas"] == (0.9, 0.99)
    assert np.array_equal(ck["model"]["weight"], model.weight.data)


def test_scalar_mlp_follows_python_random_seed_like_micrograd():
    import random
    random.seed(1337)
    expected = [random.uniform(-1, 1) for _ in range(2 * 16)]     # micrograd's first layer, in order
    random.seed(1337)
    mlp = nn.MLP(2, [16, 16, 1])
    assert [w.data for n in mlp.layers[0].neurons for w in n.w] == expected
    al.manual_seed(3)
    a = [p.data for p in nn.MLP(2, [3, 1]).parameters()]
    al.manual_seed(3)
    assert a == [p.data for p in nn.MLP(2, [3, 1]).parameters()]


def test_value_repr_keeps_every_digit():
    v = al.Value(0.1234567891)
    v.grad = 1e-7
    assert repr(v) == "Value(data=0.1234567891, grad=1e-07)"


# ---- regressions in the op table --------------------------------------------------------------
def test_derivative_of_x_to_the_zero_is_zero_at_zero():
    x = al.tensor([0.0, 0.5, -1.0], dtype=np.float64, requires_grad=True)
    (g,) = al.grad((x ** 0).sum(), x, create_graph=True)
    assert g.data.tolist() == [0.0, 0.0, 0.0]
    (h,) = al.grad(g.sum(), x)                             # and its derivative: 0, not nan
    assert h.data.tolist() == [0.0, 0.0, 0.0]
    v = al.Value(0.0)
    (v ** 0).backward()
    assert v.grad == 0.0
    # the exponent's gradient x**y log x at x = 0 (y > 0) is 0, as in PyTorch
    base = al.tensor([0.0, 2.0], dtype=np.float64, requires_grad=True)
    y = al.tensor([2.0, 3.0], dtype=np.float64, requires_grad=True)
    gb, gy = al.grad((base ** y).sum(), [base, y])
    assert gb.data.tolist() == [0.0, 12.0] and gy.data.tolist() == [0.0, 8 * np.log(2)]


@pytest.mark.parametrize("linear", ["sum", "scale", "avg_pool2d", "mean", "getitem"])
def test_the_gradient_of_a_linear_op_differentiates_to_zero(linear):
    x = al.tensor(np.random.default_rng(0).normal(size=(1, 1, 4, 4)), requires_grad=True)
    f = {"sum": lambda x: x.sum(), "scale": lambda x: (x * 3.0).sum(), "mean": lambda x: x.mean(),
         "avg_pool2d": lambda x: F.avg_pool2d(x, 2).sum(), "getitem": lambda x: x[0, 0, 1:].sum()}[linear]
    (g,) = al.grad(f(x), x, create_graph=True)
    assert g.requires_grad
    (h,) = al.grad((g * g).sum(), x, retain_graph=True)
    assert np.all(h.data == 0)
    assert np.all(al.grad(g.sum(), x)[0].data == 0)


def test_pad_modes_and_cropping():
    x = al.tensor(np.arange(6.0).reshape(1, 2, 3), requires_grad=True)
    out = F.pad(x, (1, 1, 1, 0), mode="replicate")
    assert out.shape == (1, 3, 5)
    assert out.data[0].tolist() == [[0, 0, 1, 2, 2], [0, 0, 1, 2, 2], [3, 3, 4, 5, 5]]
    out.sum().backward()
    assert x.grad[0].tolist() == [[4, 2, 4], [2, 1, 2]]             # edge values reused
    assert F.pad(x, (-1, 0)).shape == (1, 2, 2)
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(x, (3, 0), mode="reflect")
    al.gradcheck(lambda t: F.pad(t, (2, 1, 1, 1), mode="reflect") ** 2, [np.arange(6.0).reshape(2, 3)],
                 order=2)


def test_in_place_arithmetic_like_pytorch():
    w = al.tensor([1.0, 2.0], requires_grad=True)
    total = al.tensor(0.0)
    for _ in range(3):
        total += (w * w).sum()                   # records, as PyTorch's in-place add does
    total.backward()
    assert w.grad.tolist() == [6.0, 12.0]
    with al.no_grad():
        w -= 0.5 * w.grad                        # the hand-written update: in place
    assert w.data.tolist() == [-2.0, -4.0] and w.is_leaf
    with pytest.raises(RuntimeError, match="in-place change of a leaf"):
        w += 1
    a = al.zeros(2)
    alias = a
    a += 1
    assert alias.data.tolist() == [1.0, 1.0]
