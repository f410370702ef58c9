"""Networks of scalars, micrograd's Neuron / Layer / MLP, over al.Value: for the first
hour of teaching, where every weight and every sum is a node you can see.

Weights are drawn as micrograd draws them, `random.uniform(-1, 1)` from Python's
`random` module in the same order, so `random.seed(1337)` gives micrograd's
demo network weight for weight (`al.manual_seed` seeds `random` too).
"""
from __future__ import annotations

import random

from ..core.node import Value

_PARAMETER = {"parameter": True}


class Neuron:
    """A weighted sum of the inputs plus a bias, then tanh, relu or nothing.

    >>> import autograd_lab as al
    >>> al.manual_seed(0)
    >>> n = al.nn.Neuron(2, activation="tanh")
    >>> out = n([1.0, -2.0]); out.backward()
    >>> len(n.parameters()), isinstance(out, al.Value)
    (3, True)
    """

    def __init__(self, nin, activation="relu", name=None):
        if activation not in ("relu", "tanh", "linear"):
            raise ValueError(f"Neuron: activation must be relu, tanh or linear, got {activation!r}")
        # named by position ("L1.n3.w0") so drawings and al.explain say which weight it is;
        # marked as parameters, so drawings tell them from the inputs (also al.Value leaves)
        prefix = f"{name}." if name else ""
        self.w = [Value(random.uniform(-1, 1), label=f"{prefix}w{i}") for i in range(nin)]
        self.b = Value(0.0, label=f"{prefix}b")
        for p in self.parameters():
            p._meta = _PARAMETER
        self.name = name or "neuron"
        self.activation = activation

    def __call__(self, x):
        if len(x) != len(self.w):
            raise ValueError(f"Neuron with {len(self.w)} inputs got {len(x)}")
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        if self.activation == "relu":
            act = act.relu()
        elif self.activation == "tanh":
            act = act.tanh()
        # drawings group each neuron call (its output and the ops behind it) under this name
        if act.op is not None:
            act._meta = {**act._meta, "neuron": self.name} if act._meta else {"neuron": self.name}
        return act

    def parameters(self):
        return self.w + [self.b]

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def __repr__(self):
        return f"{self.activation.capitalize()}Neuron({len(self.w)})"


class Layer(Neuron):
    """nout neurons reading the same inputs."""

    def __init__(self, nin, nout, activation="relu", name=None):
        prefix = f"{name}." if name else ""
        self.neurons = [Neuron(nin, activation, name=f"{prefix}n{j}") for j in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Neuron):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; the last layer is linear."""

    def __init__(self, nin, nouts, activation="relu"):
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], activation if i < len(nouts) - 1 else "linear",
                             name=f"L{i + 1}") for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
            x = x if isinstance(x, list) else [x]
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
