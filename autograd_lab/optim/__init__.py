"""Optimizers, shaped like torch.optim: parameter groups, per-parameter state, state_dict.

They update `p.data` in place from `p.grad` (no graph is recorded) and skip
parameters without a gradient. Each keeps its hyperparameters in
`param_groups` (a list of dicts, as in PyTorch, so schedulers and users can
change `group["lr"]`) and its buffers in `state[p]`, under PyTorch's names
(`momentum_buffer`, `exp_avg`, ...). `state_dict()` / `load_state_dict()` save
and restore both, so a stopped training resumes bit for bit.
Learning-rate schedules live in `al.optim.lr_scheduler`.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.node import Node, Value



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
    """Base class: `params` is an iterable of parameters, or of dicts (parameter groups)
    that each carry "params" and may override any default, as in PyTorch."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}                       # parameter -> its buffers (nodes hash by identity)
        params = [params] if isinstance(params, Node) else list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for group in (params if isinstance(params[0], dict) else [{"params": params}]):
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add parameters with their own hyperparameters (the rest from the defaults)."""
        group = dict(group)
        params = group.get("params")
        group["params"] = [params] if isinstance(params, Node) else list(params or [])
        if not group["params"]:
            raise ValueError(f"{type(self).__name__}: a parameter group without parameters")
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        self.param_groups.append(group)

    def _check(self, group):
        if not group["lr"] > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {group['lr']}")

    # ---- the flat views older code uses: one lr for all, all parameters -------------
    @property
    def lr(self):
        """The first group's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value):
        for group in self.param_groups:
            group["lr"] = value

    @property
    def params(self):
        return [p for group in self.param_groups for p in group["params"]]

    # ---- the training loop's calls ------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: None (PyTorch's default), or zeros with set_to_none=False."""
        for p in self.params:
            if isinstance(p, Value):
                p.grad = 0.0
            elif set_to_none:
                p.grad = None
            else:
                p.grad = np.zeros_like(p.data)

    def step(self, closure=None):
        """Update every parameter that has a gradient; `closure` re-evaluates the loss first."""
        loss = None
        if closure is not None:
            from ..core.state import enable_grad
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state.get(p)
                if st is None:
                    st = self.state[p] = {}
                g = p.grad.data if isinstance(p.grad, Node) else p.grad
                if isinstance(p.data, float):            # al.Value: data and grad are floats
                    p.data = float(p.data - self._update(np.float64(g), np.float64(p.data), st, group))
                else:
                    p.data -= self._update(np.asarray(g, dtype=p.data.dtype), p.data, st, group)
        return loss

    def _update(self, g, w, st, group):
        """The step to subtract from w, given its gradient g, its state and its group."""
        raise NotImplementedError

    # ---- saving and resuming ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: buffers}, "param_groups": [hyperparameters + "params": indices]},
        parameters numbered in group order, as in PyTorch. Arrays are copies."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = ids_len = len(index)
                ids.append(ids_len)
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (np.array(v) if isinstance(v, np.ndarray) else v)
                                           for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and buffers saved by `state_dict()` (also after al.save/al.load).

        The groups must hold as many parameters as when saved; buffers must fit their
        parameters' shapes. Nothing changes unless everything fits.
        """
        groups, saved_groups = self.param_groups, list(state_dict["param_groups"])
        if len(groups) != len(saved_groups) or any(
                len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved groups hold "
                f"{[len(s['params']) for s in saved_groups]} parameters, this optimizer's "
                f"{[len(g['params']) for g in groups]}")
        by_index = {}
        for g, s in zip(groups, saved_groups):
            for p, i in zip(g["params"], s["params"]):
                by_index[int(i)] = p
        new_state = {}
        for i, buffers in state_dict["state"].items():
            p = by_index.get(int(i))
            if p is None:
                raise ValueError(f"{type(self).__name__}.load_state_dict: state for parameter {i}, "
                                 f"which no group holds")
            restored = {}
            for k, v in buffers.items():
                if isinstance(v, np.ndarray) and v.ndim and v.shape != np.shape(p.data):
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {k} of parameter {i} "
                                     f"has shape {v.shape}, the parameter {np.shape(p.data)}")
                restored[k] = _restore(v, p)
            new_state[p] = restored
        for g, s in zip(groups, saved_groups):
            for k, v in s.items():
                if k != "params":
                    g[k] = tuple(v) if isinstance(v, list) else v     # JSON gives betas back as a list
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _restore(value, p):
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "iu":
            return int(value)
        return np.array(value, dtype=np.float64 if isinstance(p.data, float) else p.data.dtype)
    if isinstance(value, np.generic):
        return value.item()
    return value


class SGD(Optimizer):
    """Gradient descent: w -= lr * g, with optional momentum (Nesterov), dampening and weight decay
    (PyTorch's formulas).

    >>> import autograd_lab as al
    >>> w = al.tensor([1.0], requires_grad=True)
    >>> opt = al.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step(); w.data
    array([0.8], dtype=float32)
    """

    def __init__(self, params, lr=0.01, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _check(self, group):
        super()._check(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening 0")

    def _update(self, g, w, st, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        momentum = group["momentum"]
        if momentum:
            buf = st.get("momentum_buffer")
            buf = g * 1 if buf is None else momentum * buf + (1 - group["dampening"]) * g
            st["momentum_buffer"] = buf
            g = g + momentum * buf if group["nesterov"] else buf
        return group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba); weight_decay adds to the gradient (L2), as in torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @staticmethod
    def _moments(g, st, group):
        b1, b2 = group["betas"]
        st["step"] = t = st.get("step", 0) + 1
        st["exp_avg"] = m = b1 * st.get("exp_avg", 0) + (1 - b1) * g
        st["exp_avg_sq"] = v = b2 * st.get("exp_avg_sq", 0) + (1 - b2) * g * g
        return (m / _like(1 - b1 ** t, m)) / (_sqrt(v / _like(1 - b2 ** t, v)) + group["eps"])

    def _update(self, g, w, st, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        return group["lr"] * self._moments(g, st, group)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr, betas, eps, weight_decay)

    def _update(self, g, w, st, group):
        return group["lr"] * (self._moments(g, st, group) + group["weight_decay"] * w)


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def _update(self, g, w, st, group):
        if group["weight_decay"]:
            g = g + group["weight_decay"] * w
        alpha = group["alpha"]
        st["square_avg"] = sq = alpha * st.get("square_avg", 0) + (1 - alpha) * g * g
        return group["lr"] * g / (_sqrt(sq) + group["eps"])


def clip_grad_norm(params, max_norm):
    """Scale all gradients together so their joint L2 norm is at most max_norm; returns the norm."""
    params = [params] if isinstance(params, Node) else list(params)
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.sum(np.square(np.asarray(g, dtype=np.float64)))) for g in grads))
    if total > max_norm:
        scale = max_norm / (total + 1e-12)
        for p in params:
            if p.grad is not None:
                p.grad = p.grad * scale
    return total


clip_grad_norm_ = clip_grad_norm    # PyTorch's name (torch.nn.utils.clip_grad_norm_)

from . import lr_scheduler  # noqa: E402
from .lr_scheduler import CosineAnnealingLR, StepLR  # noqa: E402,F401  (their old home)
