"""How a primitive op is declared: one `primitive(...)` call per op.

A declaration gives the op's name, its forward function on raw data (numpy
arrays; optionally a faster one for Python floats), one gradient rule (VJP) per
input, and a sampler of test inputs. Gradient rules have the form

    rule(g, out, *inputs, **params) -> gradient for that input

and are written with operators and `autograd_lab.ops.generic` helpers, so the
same rule runs on raw arrays (a plain backward pass) or on graph nodes
(`create_graph=True`, where the backward pass is itself recorded). A rule may
return a gradient of the broadcast shape: the engine sums it back to the
input's shape in one place (`generic.sum_to`).

Every declared op lands in `OPS`; the test-suite gradient-checks each one from
its `samples`, so an op cannot be added without being tested.
"""
from __future__ import annotations

from typing import Callable

from .engine import call

OPS: dict[str, "Op"] = {}


class Op:
    """A primitive op: see `primitive`."""

    __slots__ = ("name", "forward", "scalar_forward", "value_forward", "vjps", "variadic_vjp", "samples",
                 "differentiable", "second_order", "saves", "symbol", "doc", "__weakref__")

    def __call__(self, *args, **params):
        return call(self, args, params)

    def vjp(self, i: int) -> Callable | None:
        """The gradient rule for input `i` (None: no gradient flows to it)."""
        if self.variadic_vjp is not None:
            return self.variadic_vjp(i)
        return self.vjps[i]

    def __repr__(self):
        return f"<op {self.name}>"


def primitive(name: str, forward: Callable, *vjps: Callable | None,
              scalar: Callable | None = None, variadic_vjp: Callable | None = None,
              samples: Callable | None = None, differentiable: bool = True,
              second_order: bool = True, saves: bool = False, symbol: str | None = None,
              doc: str = "") -> Op:
    """Declare a primitive op and register it in `OPS`.

    name           unique op name, shown on every node it makes
    forward        forward(*raw_inputs, **params) -> raw output (numpy)
    *vjps          one gradient rule per input, rule(g, out, *inputs, **params);
                   None for an input that takes no gradient (e.g. a mask)
    scalar         forward for Python floats (al.Value), if numpy's is slow there
    variadic_vjp   for ops with any number of inputs: i -> rule for input i
    samples        samples(gen) -> (inputs, params): test inputs drawn from a
                   generator (see tests/sampling.py); required for differentiable ops
    differentiable False for ops whose result carries no gradient (comparisons)
    second_order   False if the gradient rules are not themselves differentiable
    saves          forward returns (output, saved): buffers kept only for the backward
                   pass (im2col columns, argmax indices), handed to the rules as
                   `saved=` and released by backward() unless retain_graph=True
    symbol         short symbol for drawings ('+', '*', ...)
    """
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    op = Op()
    op.name = name
    op.forward = forward
    op.scalar_forward = scalar
    op.value_forward = scalar or forward      # what al.Value (float data) runs
    op.vjps = tuple(vjps)
    op.variadic_vjp = variadic_vjp
    op.samples = samples
    op.differentiable = differentiable
    op.second_order = second_order
    op.saves = saves
    op.symbol = symbol
    op.doc = doc
    OPS[name] = op
    return op
