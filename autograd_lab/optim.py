"""Optimizers and learning-rate schedules. They update `p.data` in place from `p.grad`
(no graph is recorded) and skip parameters without a gradient."""
from __future__ import annotations

import math

import numpy as np


def _sqrt(x):
    # np.sqrt on arrays; the sqrt op on graph nodes, so that al.compile can record
    # an optimizer's update as ops (compiler/trace.py) with these same formulas
    return np.sqrt(x) if not hasattr(x, "requires_grad") else x.sqrt()


def _like(c, x):
    # a traced step count is a float64 node; numpy would round a Python float to x's dtype
    # where it is used, so the node is rounded the same way
    return c.astype(x.dtype) if hasattr(c, "requires_grad") and hasattr(c, "astype") \
        and c.dtype != x.dtype else c


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = lr
        self.state = [dict() for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = 0.0 if isinstance(p.data, float) else None

    def step(self):
        for p, st in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad.data if hasattr(p.grad, "requires_grad") else p.grad
            if isinstance(p.data, float):            # al.Value: data and grad are floats
                p.data = float(p.data - self._update(np.float64(g), np.float64(p.data), st))
            else:
                p.data -= self._update(np.asarray(g, dtype=p.data.dtype), p.data, st)

    def _update(self, g, w, st):
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent: w -= lr * g, with optional momentum (Nesterov) and weight decay.

    >>> import autograd_lab as al
    >>> w = al.tensor([1.0], requires_grad=True)
    >>> opt = al.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w.data
    array([0.8], dtype=float32)
    """

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _update(self, g, w, st):
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            buf = st.get("momentum")
            buf = g * 1 if buf is None else self.momentum * buf + g
            st["momentum"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        return self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba); weight_decay adds to the gradient (L2), as in torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _moments(self, g, st):
        b1, b2 = self.betas
        st["t"] = t = st.get("t", 0) + 1
        st["m"] = m = b1 * st.get("m", 0) + (1 - b1) * g
        st["v"] = v = b2 * st.get("v", 0) + (1 - b2) * g * g
        return (m / _like(1 - b1 ** t, m)) / (_sqrt(v / _like(1 - b2 ** t, v)) + self.eps)

    def _update(self, g, w, st):
        if self.weight_decay:
            g = g + self.weight_decay * w
        return self.lr * self._moments(g, st)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, g, w, st):
        return self.lr * (self._moments(g, st) + self.weight_decay * w)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay

    def _update(self, g, w, st):
        if self.weight_decay:
            g = g + self.weight_decay * w
        st["sq"] = sq = self.alpha * st.get("sq", 0) + (1 - self.alpha) * g * g
        return self.lr * g / (_sqrt(sq) + self.eps)


# ---- schedules --------------------------------------------------------------------
class StepLR:
    """Multiply the learning rate by gamma every step_size epochs (call step() per epoch)."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.optimizer, self.step_size, self.gamma = optimizer, step_size, gamma
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self):
        self.epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.epoch // self.step_size)


class CosineAnnealingLR:
    """Cosine decay from the base rate to eta_min over t_max epochs."""

    def __init__(self, optimizer, t_max, eta_min=0.0):
        self.optimizer, self.t_max, self.eta_min = optimizer, t_max, eta_min
        self.base_lr, self.epoch = optimizer.lr, 0

    def step(self):
        self.epoch += 1
        t = min(self.epoch, self.t_max)
        self.optimizer.lr = self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.t_max)) / 2


def clip_grad_norm(params, max_norm):
    """Scale all gradients together so their joint L2 norm is at most max_norm; returns the norm."""
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.sum(np.square(np.asarray(g, dtype=np.float64)))) for g in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-12)
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * scale
    return total
