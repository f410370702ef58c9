"""Numerical gradient checking by central differences, in float64.

`f` may return any shape: it is contracted with a fixed random vector u, so the
check compares every element of the vector-Jacobian product uᵀJ from backward
against the finite difference of ⟨u, f(x)⟩ for that element. Second order
applies the same check to the function x -> ⟨w, ∇⟨u, f⟩(x)⟩, whose gradient is
computed through a recorded (create_graph=True) backward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import grad
from .errors import GradcheckError
from .node import Node, Tensor
from .state import no_grad


@dataclass
class GradcheckReport:
    """The worst element found: which input, where, both values, and the error."""
    ok: bool
    order: int
    worst_input: int | None = None
    worst_index: tuple | None = None
    analytic: float = 0.0
    numeric: float = 0.0
    error: float = 0.0          # |analytic - numeric| / (atol + rtol * |numeric|); <= 1 passes

    def __bool__(self):
        return bool(self.ok)

    def __str__(self):
        where = f"input {self.worst_input} at index {self.worst_index}"
        return (f"order-{self.order} gradcheck {'passed' if self.ok else 'FAILED'}; worst element: "
                f"{where}: analytic {self.analytic:.6g}, numeric {self.numeric:.6g} "
                f"(error {self.error:.3g} of tolerance)")


def _raw(x):
    return x.data if isinstance(x, Node) else x


def gradcheck(f, inputs, order=1, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0,
              raise_exception=True) -> GradcheckReport:
    """Check the gradients of `f(*inputs)` against central differences in float64.

    Floating inputs are checked; others (boolean masks, integer indices) are
    passed through unchanged. Raises GradcheckError naming the worst element
    (or returns the failing report with raise_exception=False).

    >>> import autograd_lab as al, numpy as np
    >>> report = al.gradcheck(lambda x: (x * x).tanh(), [np.array([0.3, -1.2])], order=2)
    >>> report.ok
    True
    """
    arrays = [np.asarray(_raw(x)) for x in inputs]
    arrays = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
    report = _check(f, arrays, order, eps, atol, rtol, np.random.default_rng(seed))
    if not report.ok and raise_exception:
        raise GradcheckError(str(report))
    return report


def _check(f, arrays, order, eps, atol, rtol, rng):
    if order > 1:
        f = _gradient_function(f, arrays, rng)
    checked = [k for k, a in enumerate(arrays) if a.dtype.kind == "f"]

    leaves = [Tensor(a.copy(), requires_grad=k in checked) for k, a in enumerate(arrays)]
    out = f(*leaves)
    u = rng.standard_normal(out.shape)
    if out.requires_grad:
        analytic = grad(out, [leaves[k] for k in checked], grad_outputs=u, allow_unused=True)
    else:   # f does not depend on the inputs differentiably (e.g. relu'' = 0): zero gradient
        analytic = [None] * len(checked)

    def contracted(values):
        if order > 1:   # f itself computes a gradient: its inputs must be differentiable
            return float(np.sum(u * _raw(f(*[Tensor(v, requires_grad=v.dtype.kind == "f")
                                              for v in values]))))
        with no_grad():
            return float(np.sum(u * _raw(f(*[Tensor(v) for v in values]))))

    report = GradcheckReport(ok=True, order=order)
    for k, g in zip(checked, analytic):
        g = np.zeros_like(arrays[k]) if g is None else np.broadcast_to(g.data, arrays[k].shape)
        for index in np.ndindex(*arrays[k].shape):
            values = [a.copy() for a in arrays]
            values[k][index] += eps
            plus = contracted(values)
            values[k][index] -= 2 * eps
            minus = contracted(values)
            numeric = (plus - minus) / (2 * eps)
            error = abs(g[index] - numeric) / (atol + rtol * abs(numeric))
            if error >= report.error:
                report.worst_input, report.worst_index = k, index
                report.analytic, report.numeric, report.error = float(g[index]), numeric, error
    report.ok = bool(report.error <= 1.0)
    return report


def _gradient_function(f, arrays, rng):
    """x -> ⟨w, ∇⟨u, f⟩(x)⟩: its gradient is the second derivative of f, contracted."""
    with no_grad():
        probe_out = f(*[Tensor(a) for a in arrays])
    u = rng.standard_normal(probe_out.shape)
    weights = [rng.standard_normal(a.shape) if a.dtype.kind == "f" else None for a in arrays]

    def gradient_of_f(*leaves):
        positions = [k for k, x in enumerate(leaves) if x.dtype.kind == "f"]
        grads = grad(f(*leaves), [leaves[k] for k in positions], grad_outputs=u,
                     create_graph=True, allow_unused=True)
        total = 0.0
        for k, g in zip(positions, grads):
            if g is not None:
                total = total + (g * weights[k]).sum()
        return total if isinstance(total, Node) else Tensor(np.float64(total))

    return gradient_of_f
