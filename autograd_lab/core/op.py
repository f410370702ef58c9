"""How a primitive op is declared: one `primitive(...)` call per op, and it says everything.

A declaration gives the op's name, its forward function on raw data (numpy
arrays; optionally a faster one for Python floats), one gradient rule (VJP) per
input, a sampler of test inputs, and what the rest of the library needs to know:
its SymPy form (`al.to_sympy`), its FLOP count (`al.viz.summary`), its symbol in
drawings, and whether it is exported as `al.<name>` and bound as a method.
tests/test_op_table.py requires each of these where it applies, so an op cannot
be half-added. Gradient rules have the form

    rule(g, out, *inputs, **params) -> gradient for that input

An op is called the same way everywhere, and that call is the one dispatch
point (as `bind` in JAX's Autodidax):

  * on graph nodes (Tensor/Value) it records: the result is a new node;
  * on raw data (numpy arrays, Python floats) it evaluates: the result is raw.

So rules call ops directly (`lambda g, out, x: g * cos(x)`): the same rule runs
on raw arrays in a plain backward pass and on graph nodes with
`create_graph=True`, where the backward pass is itself recorded. A rule may
return a gradient of the broadcast shape: the engine sums it back to the
input's shape in one place (`core.shapes.sum_to`).

Every declared op lands in `OPS`; the test-suite gradient-checks each one from
its `samples`, so an op cannot be added without being tested.
"""
from __future__ import annotations

import math
from typing import Callable

from .engine import forward_error, record
from .node import Node

OPS: dict[str, "Op"] = {}


class Op:
    """A primitive op: see `primitive`. Call it on nodes to record, on raw data to evaluate."""

    __slots__ = ("name", "forward", "value_forward", "vjps", "variadic_vjp", "samples",
                 "differentiable", "second_order", "saves", "elementwise", "sympy", "flops",
                 "symbol", "function", "method", "__weakref__")

    def __call__(self, *args, **params):
        for a in args:
            if isinstance(a, Node):
                return record(self, args, params)
        return self.evaluate(*args, **params)

    def evaluate(self, *args, **params):
        """The forward on raw data, recording nothing (what a plain backward pass runs)."""
        forward = self.forward
        if self.value_forward is not forward:
            for a in args:
                if a.__class__ is not float:
                    break
            else:
                forward = self.value_forward
        try:
            out = forward(*args, **params)
        except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as exc:
            raise forward_error(self, args, params, exc) from None
        return out[0] if self.saves else out

    def vjp(self, i: int) -> Callable | None:
        """The gradient rule for input `i` (None: no gradient flows to it)."""
        if self.variadic_vjp is not None:
            return self.variadic_vjp(i)
        return self.vjps[i]

    def __repr__(self):
        return f"<op {self.name}>"


# ---- FLOP counts: flops(out_shape, *input_shapes, **params) -> int ---------------------------
def per_output_element(out, *inputs, **params) -> int:
    """One floating-point operation per output element: the default of elementwise ops."""
    return math.prod(out)


def per_input_element(out, *inputs, **params) -> int:
    """One per element of the first input: reductions (sum, max) and the softmax family."""
    return math.prod(inputs[0])


def no_flops(out, *inputs, **params) -> int:
    """Ops that only move, index, cast or compare data."""
    return 0


# ---- where declarations are listed: al.<name>, Tensor/Value methods ----------------------------
_listeners: list = []


def on_declare(callback: Callable) -> Callable:
    """Call `callback(op)` for every op declared so far, and for every op declared later.

    This is how a declaration reaches the places that list ops: the package
    exports ops declared with `function=True` as `al.<name>`, and ops/methods.py
    binds ops declared with `method=True` as Tensor (and, if elementwise, Value) methods.
    """
    _listeners.append(callback)
    for op in list(OPS.values()):
        callback(op)
    return callback


def primitive(name: str, forward: Callable, *vjps: Callable | None,
              scalar: Callable | None = None, variadic_vjp: Callable | None = None,
              samples: Callable | None = None, differentiable: bool = True,
              second_order: bool = True, saves: bool = False, elementwise: bool = False,
              sympy: Callable | None = None, flops: Callable | None = None,
              symbol: str | None = None, function: bool = False, method: bool = False) -> Op:
    """Declare a primitive op and register it in `OPS`: everything about an op is here.

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
    elementwise    a function of numbers applied element by element: it works on
                   al.Value too, and counts one FLOP per output element by default
    sympy          sympy(sp, *input_expressions, **params) -> its SymPy expression
                   (al.to_sympy); required for differentiable elementwise ops
    flops          flops(out_shape, *input_shapes, **params) -> floating-point
                   operations of one call (al.viz.summary); `no_flops` for data movement
    symbol         how drawings show the op ('+', '*', ...); its name if None
    function       export the op itself as `al.<name>`
    method         bind it as a method `x.<name>(...)` of Tensor (and of Value if elementwise)
    """
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    op = Op()
    op.name = name
    op.forward = forward
    op.value_forward = scalar or forward      # what al.Value (float data) runs
    op.vjps = tuple(vjps)
    op.variadic_vjp = variadic_vjp
    op.samples = samples
    op.differentiable = differentiable
    op.second_order = second_order
    op.saves = saves
    op.elementwise = elementwise
    op.sympy = sympy
    op.flops = flops if flops is not None or not elementwise else per_output_element
    op.symbol = symbol
    op.function = function
    op.method = method
    OPS[name] = op
    for callback in _listeners:
        callback(op)
    return op


# The engine's own op. A gradient that does not change with x (that of a linear op: sum,
# avg_pool2d, a constant scale) is still a function of x: al.grad(..., create_graph=True)
# returns it as constant_of(g, x), which is g itself tied to x with a zero derivative, so
# that differentiating it again gives zero instead of "does not require grad".
def _same_shape_pair(gen):
    shape = gen.shape()
    return (gen.array(shape), gen.array(shape)), {}


constant_of = primitive("constant_of", lambda g, x: g,
                        lambda h, out, g, x: h,
                        lambda h, out, g, x: h * 0,
                        flops=no_flops, samples=_same_shape_pair)
