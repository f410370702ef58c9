"""The W2 and W3 networks for autograd_lab and PyTorch, with the same initial weights."""
from __future__ import annotations

import numpy as np

import autograd_lab as al

F = al.nn.functional


def init_cnn(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (64, 2560), (64,), (10, 64), (10,)]
    params = []
    for s in shapes:
        fan_in = int(np.prod(s[1:])) if len(s) > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if len(s) > 1 else 0.0
        params.append((rng.standard_normal(s) * scale).astype(np.float32))
    return params


def init_mlp(seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * (np.sqrt(2.0 / s[1]) if len(s) > 1 else 0)).astype(np.float32)
            for s in [(128, 1280), (128,), (10, 128), (10,)]]


def data(shape, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, shape[0])


# ---- autograd_lab ---------------------------------------------------------------
def ours_cnn_forward(p, x, F=F):
    """F: the functional module to run with (another copy of the library, for A/B runs)."""
    w1, b1, w2, b2, w3, b3, w4, b4 = p
    h = F.max_pool2d(F.conv2d(x, w1, b1, padding=1).relu(), 2)
    h = F.max_pool2d(F.conv2d(h, w2, b2, padding=1).relu(), 2)
    h = F.linear(h.reshape(h.shape[0], -1), w3, b3).relu()
    return F.linear(h, w4, b4)


def ours_mlp_forward(p, x, F=F):
    w1, b1, w2, b2 = p
    return F.linear(F.linear(x, w1, b1).relu(), w2, b2)


def ours_step(forward, params, x, y, lr=0.01, F=F):
    loss = F.cross_entropy(forward(params, x, F), y)
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
        p.grad = None
    return loss.item()


def ours_params(arrays, library=al):
    return [library.tensor(a, requires_grad=True) for a in arrays]


# ---- PyTorch -------------------------------------------------------------------------
def torch_cnn(torch, arrays):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(2560, 64), nn.ReLU(), nn.Linear(64, 10))
    _load(torch, model, arrays)
    return model


def torch_mlp(torch, arrays):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(1280, 128), nn.ReLU(), nn.Linear(128, 10))
    _load(torch, model, arrays)
    return model


def _load(torch, model, arrays):
    with torch.no_grad():
        for p, a in zip(model.parameters(), arrays):
            p.copy_(torch.from_numpy(a))


def torch_step(torch, model, x, y, lr=0.01):
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.item()
