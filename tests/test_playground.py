"""The playground's acceptance: a 2-16-16-1 MLP learns moons, XOR and spiral,
with tensors and with scalar al.Values (micrograd-style, small data)."""
import numpy as np
import pytest

import autograd_lab as al
from autograd_lab import nn
from autograd_lab.nn import functional as F

DATASETS = {
    "moons": (lambda n, s: al.data.make_moons(n, noise=0.1, seed=s), 0.97),
    "xor": (lambda n, s: al.data.make_xor(n, seed=s), 0.95),
    "spiral": (lambda n, s: al.data.make_spiral(n, noise=0.02, seed=s), 0.95),
}


def _binary_loss(out, y):
    return F.binary_cross_entropy_with_logits(out.reshape(-1), np.asarray(y, np.float32))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_tensor_mlp_2_16_16_1(name):
    make, target = DATASETS[name]
    al.manual_seed(0)
    X_train, y_train = make(400, 1)
    X_test, y_test = make(400, 2)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = al.optim.Adam(model.parameters(), lr=0.02)
    al.train.fit(model, _binary_loss, opt, al.data.DataLoader(X_train, y_train, 32, shuffle=True),
                 epochs=150, metrics={}, progress=False)
    model.eval()
    with al.no_grad():
        accuracy = al.train.binary_accuracy(model(al.tensor(X_test)).data, y_test)
    assert accuracy >= target, accuracy


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_scalar_value_mlp_2_16_16_1(name):
    """micrograd's way: one Value per number, full-batch gradient descent on the max-margin loss."""
    make, target = DATASETS[name]
    # small data: ~19,000 scalar nodes per step for 30 points (~10 us each). Chosen on a numpy
    # replica of this loop over 16 seeds of micrograd's initialisation: moons and spiral with 30
    # points and 30 steps at lr 0.1 reached the target in 16/16 (lowest 0.970 and 0.965). XOR's
    # boundaries lie on the axes, and few points do not pin them down: 40 points and 80 steps gave
    # 0.91-0.95; 100 points and 25 steps at lr 0.1 reached 0.95 in 15/16 (lowest 0.925).
    n_train, steps = (100, 25) if name == "xor" else (30, 30)
    al.manual_seed(0)
    X_train, y_train = make(n_train, 1)
    X_test, y_test = make(200, 2)
    model = nn.MLP(2, [16, 16, 1], activation="tanh")
    opt = al.optim.Adam(model.parameters(), lr=0.1)
    signs = (2 * y_train - 1).tolist()
    for _ in range(steps):
        scores = [model(list(map(float, x))) for x in X_train]
        loss = sum(((1 - s * score).relu() for s, score in zip(signs, scores)), al.Value(0.0)) / len(signs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    predictions = np.array([model(list(map(float, x))).data > 0 for x in X_test])
    accuracy = float(np.mean(predictions == (y_test > 0)))
    assert accuracy >= target, accuracy
