"""The compiler's IR: a flat list of instructions over the op table.

An instruction is one op of the op table (`instr.op` is the very `Op` object the
engine recorded, with its params), or one of the few things a traced program
needs besides ops:

    input   a value read when the program starts (an argument, a parameter's
            data, a gradient that was already there, an optimizer's state)
    const   an array or number fixed at trace time
    saved   the buffer an op keeps for its backward pass (max_pool2d's argmax),
            read from that op's instruction at run time
    fused   a chain of elementwise instructions run as one kernel (passes.fuse)

Instructions are numbered in an order where each comes after its inputs, so
the list is the program. Passes are plain functions `Graph -> Graph`; a graph
is never modified after a pass returned it.
"""
from __future__ import annotations

import numpy as np


class Ref:
    """A param that is an array computed at run time: instruction `id`'s value, reshaped.

    max_pool2d's recorded gradient scatters at the argmax of its forward
    pass; in the trace that argmax is an array in the scatter's params. In the
    program it must be this step's argmax, so the param points at it.
    """

    __slots__ = ("id", "shape")

    def __init__(self, id, shape):
        self.id, self.shape = id, tuple(shape)

    def key(self):
        return ("ref", self.id, self.shape)

    def __repr__(self):
        return f"<v{self.id} reshaped {self.shape}>"


class HostOp:
    """A numpy/Numba function outside the op table that the trace saw applied to an input
    (cross-entropy's one-hot targets from class indices): carried as an instruction so
    that it runs on every call's data. Never differentiated."""

    __slots__ = ("name", "forward", "symbol", "saves")

    def __init__(self, name, forward, saves=False):
        # saves: forward returns (value, buffer for a backward pass), as an op that saves does
        self.name, self.forward, self.symbol, self.saves = name, forward, None, saves

    differentiable = False

    def __repr__(self):
        return f"<host op {self.name}>"


class Instr:
    __slots__ = ("id", "kind", "op", "inputs", "params", "shape", "dtype", "value", "source",
                 "body", "scalar")

    def __init__(self, id, kind, op=None, inputs=(), params=None, shape=(), dtype=None,
                 value=None, source=None, body=None, scalar=False):
        self.id = id
        self.kind = kind            # "op", "input", "const", "saved", "fused", "reduced"
        self.op = op
        self.inputs = tuple(inputs)
        self.params = params or {}
        self.shape = tuple(shape)
        self.dtype = dtype
        self.value = value          # const: the data; input: its descriptor (trace.InputKind)
        self.source = source        # where the user's code made it, when known
        self.body = body            # fused: the instructions of the chain, in order
        self.scalar = scalar        # float data (al.Value), not arrays

    def copy(self, **changes):
        new = Instr.__new__(Instr)
        (new.id, new.kind, new.op, new.inputs, new.params, new.shape, new.dtype, new.value, new.source,
         new.body, new.scalar) = (self.id, self.kind, self.op, self.inputs, self.params, self.shape,
                                  self.dtype, self.value, self.source, self.body, self.scalar)
        for name, value in changes.items():
            setattr(new, name, value)
        return new

    @property
    def name(self):
        if self.kind == "op":
            return self.op.name
        if self.kind == "fused":
            return "fused(" + " ".join(i.op.name for i in self.body) + ")"
        return self.kind

    def refs(self):
        """Ids this instruction reads: its inputs and the instructions its params point at."""
        if not self.params:
            return self.inputs
        extra = tuple(v.id for v in self.params.values() if isinstance(v, Ref))
        if self.kind == "op" and "index" in self.params and isinstance(self.params["index"], tuple):
            extra += tuple(v.id for v in self.params["index"] if isinstance(v, Ref))
        return self.inputs + extra

    def __repr__(self):
        args = ", ".join(f"v{i}" for i in self.inputs)
        params = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"v{self.id} = {self.name}({args}{', ' if args and params else ''}{params})"


def _short(v):
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    return repr(v)


class Graph:
    """A program: `instrs` in order (each after its inputs) and its `outputs`.

    outputs: list of (instruction id, sink); a sink says where the value goes
    after a call (returned, a parameter's new data, a gradient, an optimizer
    state entry): see trace.py.
    """

    def __init__(self, instrs, outputs):
        self.instrs = list(instrs)
        self.outputs = list(outputs)
        self.by_id = {i.id: i for i in self.instrs}

    def __getitem__(self, id):
        return self.by_id[id]

    def __len__(self):
        return len(self.instrs)

    def next_id(self):
        return max(self.by_id, default=-1) + 1

    def consumers(self) -> dict:
        """id -> list of instruction ids that read it."""
        users = {i.id: [] for i in self.instrs}
        for instr in self.instrs:
            for r in instr.refs():
                users[r].append(instr.id)
        return users

    def count(self, kind=None) -> int:
        """Number of instructions (of one kind), fused chains counted as one."""
        return sum(1 for i in self.instrs if kind is None or i.kind == kind)

    def op_count(self) -> int:
        """Instructions that compute something (not inputs or constants)."""
        return sum(1 for i in self.instrs if i.kind in ("op", "fused", "saved"))

    def __repr__(self):
        lines = [repr(i) for i in self.instrs]
        lines.append("outputs: " + ", ".join(f"v{i} -> {sink}" for i, sink in self.outputs))
        return "\n".join(lines)


def evaluate_instr(instr, args):
    """Run one instruction on raw data (the interpreter passes and tests use)."""
    params = instr.params
    if any(isinstance(v, Ref) for v in params.values()):
        raise ValueError("evaluate_instr: resolve Ref params first")
    forward = instr.op.value_forward if instr.scalar and hasattr(instr.op, "value_forward") \
        else instr.op.forward
    out = forward(*args, **params)
    if instr.op.saves:
        out = out[0]
    if not instr.scalar and out.__class__ is not np.ndarray:
        out = np.asarray(out)
    return out
