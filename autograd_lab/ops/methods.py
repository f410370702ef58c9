"""Operators and methods of Tensor and Value: the table of operators and argument-handling
methods, and the ops declared with method=True (x.exp(), x.tanh(), ...).

`a * b` on nodes goes straight to the engine's `apply`: the operator path is the
hot path of scalar (al.Value) networks, so it skips the argument handling of the
general `Op.__call__`.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..core.engine import apply, record
from ..core.node import _NO_PARAMS, Node, Tensor, Value
from ..core.op import on_declare
from . import functions as fn
from . import primitives as P


def _binary(op):
    def method(self, other):
        if other.__class__ is not self.__class__:
            if isinstance(other, Node):
                return record(op, (self, other), _NO_PARAMS)   # raises a clear mixing error
            other = self._lift(other, self)
        return apply(op, (self, other))
    method.__name__ = op.name
    return method


def _reflected(op):
    def method(self, other):
        if isinstance(other, Node):
            return record(op, (other, self), _NO_PARAMS)
        return apply(op, (self._lift(other, self), self))
    method.__name__ = "r" + op.name
    return method


def _unary(op):
    def method(self):
        return apply(op, (self,))
    method.__name__ = op.name
    return method


_SHARED = {
    "__add__": _binary(P.add), "__radd__": _reflected(P.add),
    "__sub__": _binary(P.sub), "__rsub__": _reflected(P.sub),
    "__mul__": _binary(P.mul), "__rmul__": _reflected(P.mul),
    "__truediv__": _binary(P.div), "__rtruediv__": _reflected(P.div),
    "__pow__": _binary(P.pow), "__rpow__": _reflected(P.pow),
    "__neg__": _unary(P.neg), "__abs__": _unary(P.abs),
    "clip": fn.clip,
}

_TENSOR_ONLY = {
    "__matmul__": fn.matmul, "__rmatmul__": lambda self, other: fn.matmul(other, self),
    "__eq__": _binary(P.equal), "__ne__": _binary(P.not_equal),
    "__lt__": _binary(P.less), "__le__": _binary(P.less_equal),
    "__gt__": _binary(P.greater), "__ge__": _binary(P.greater_equal),
    "__getitem__": fn.getitem,
    "sum": fn.sum, "mean": fn.mean, "max": fn.max, "min": fn.min,
    "reshape": fn.reshape, "flatten": fn.flatten, "transpose": fn.transpose,
    "astype": fn.astype, "matmul": fn.matmul,
    "softmax": fn.softmax, "log_softmax": fn.log_softmax, "logsumexp": fn.logsumexp,
    "T": property(lambda self: fn.transpose(self)),
}

def _inputs_only(forward):
    """How many inputs `forward` takes, if it takes nothing else (no params); else None."""
    if isinstance(forward, np.ufunc):
        return forward.nin
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):          # a builtin without a signature: take the general path
        return None
    if all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params):
        return len(params)
    return None


def _declared(op):
    """x.<name>(...) for an op declared with method=True. A one-input op without params
    goes straight to the engine, as operators do: x.tanh() is on W5's hot path."""
    if _inputs_only(op.forward) == 1:
        return _unary(op)

    def method(self, *args, **params):
        return op(self, *args, **params)
    method.__name__ = op.name
    return method


@on_declare
def _bind(op):
    """An op declared with method=True is x.<its name>(...): on Tensor, and on Value too if elementwise."""
    if op.method:
        setattr(Node if op.elementwise else Tensor, op.name, _declared(op))


for _name, _method in _SHARED.items():
    setattr(Node, _name, _method)
for _name, _method in _TENSOR_ONLY.items():
    setattr(Tensor, _name, _method)
# Tensor defines __eq__, which would otherwise reset its hash to None.
Tensor.__hash__ = Node.__hash__
Value.__hash__ = Node.__hash__
