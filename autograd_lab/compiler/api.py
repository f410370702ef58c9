"""`al.compile`: trace a function twice, check the traces agree, then replay generated code."""
from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections import namedtuple

import numpy as np

from ..core.node import Node, Tensor, Value
from ..core.state import state
from . import codegen, passes
from .ir import Graph
from .trace import Trace, build, flatten, leaf_key, reconcile, tracing

MAX_TRACES = 4          # traces of one input signature before giving up (state warming up: Adam's moments)
PassReport = namedtuple("PassReport", "name changes instructions")


class CompileWarning(UserWarning):
    """al.compile runs a function eagerly, and says why."""


class _Retrace(Exception):
    pass


class _Entry:
    """What one input signature (shapes, dtypes, Python values) has led to."""

    def __init__(self):
        self.previous = None        # the last trace (graph, structure, leaf_data)
        self.traces = 0
        self.fallback = None        # reason to run eagerly
        self.traced = None          # Graph as traced (reconciled)
        self.optimized = None
        self.report = None
        self.program = None
        self.inputs = None
        self.structure = None
        self.number_sinks = None


class Compiled:
    """A function compiled by `al.compile`; call it like the function.

    step.graph("traced" | "optimized")   the program before and after the passes, drawn
    step.passes()                        what each pass changed
    step.source()                        the generated Python and Numba code
    step.status                          "tracing", "compiled" or "eager: <reason>"
    """

    def __init__(self, fn, fuse=True):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.fuse = fuse
        self._entries = {}
        self._last = None
        try:
            self._where = f"{os.path.relpath(inspect.getsourcefile(fn))}:{inspect.getsourcelines(fn)[1]}"
        except (TypeError, OSError):
            self._where = getattr(fn, "__qualname__", repr(fn))

    # ---- calling ------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        leaves = []
        structure = flatten((args, kwargs), leaves)
        key = (_hashable(structure), tuple(leaf_key(x) for x in leaves), state.grad_enabled,
               state.default_dtype.str)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        self._last = entry
        if entry.fallback is not None:
            return self.fn(*args, **kwargs)
        if entry.program is not None:
            try:
                return self._replay(entry, leaves)
            except _Retrace:
                entry.program = None      # state changed shape or kind: trace again
                entry.previous = None
                entry.traces = 0
        return self._trace(entry, args, kwargs, leaves)

    def _trace(self, entry, args, kwargs, leaves):
        tr = Trace()
        tr.register_args(leaves)
        with tracing(tr):
            try:
                returned = self.fn(*args, **kwargs)
            except BaseException:
                _finish(tr)
                raise
        traced = None
        if not tr.reasons:
            traced = build(tr, returned, leaves)
            _check_reads(tr, traced[0])
        if not tr.reasons:
            used = {ins.value[1] for ins in traced[0].instrs
                    if ins.kind == "input" and ins.value[0] == "arg"}
            for k, x in enumerate(leaves):
                if k not in used and isinstance(x, (np.ndarray, Tensor)):
                    tr.note(f"argument {k} (shape {np.shape(x)}) is used outside the recorded ops "
                            "(e.g. .tolist() or numpy): pass data that the ops consume")
                    break
        result = _detached(returned)
        _finish(tr)
        entry.traces += 1
        if tr.reasons:
            self._give_up(entry, tr.reasons[0])
            return result
        if entry.previous is not None:
            graph, reason = reconcile(entry.previous, traced)
            if graph is not None:
                self._compile(entry, graph, traced[1])
                entry.previous = None
                return result
            if not reason.startswith("structure: ") or entry.traces >= MAX_TRACES:
                self._give_up(entry, reason.replace("structure: ", ""))
                return result
        entry.previous = traced
        return result

    def _give_up(self, entry, reason):
        entry.fallback = reason
        entry.previous = None
        warnings.warn(f"al.compile: {getattr(self.fn, '__name__', 'function')} ({self._where}) runs "
                      f"eagerly: {reason}", CompileWarning, stacklevel=4)

    def _compile(self, entry, graph, structure):
        entry.traced = graph
        entry.optimized, entry.report = passes.optimize(graph, self.fuse)
        entry.program, entry.inputs = codegen.generate(entry.optimized)
        entry.structure = structure
        entry.sinks = [sink for _, sink in entry.optimized.outputs]
        entry.checks = [(ins.value, ins.shape, ins.dtype, ins.scalar) for ins in entry.inputs]
        inplace = {place[1] for place in getattr(entry.optimized, "buffers", {}).values()
                   if place[0] == "inplace"}
        entry.contiguous = [ins.id in inplace for ins in entry.inputs]

    def _replay(self, entry, leaves):
        values = []
        for (desc, shape, dtype, scalar), contiguous in zip(entry.checks, entry.contiguous):
            kind = desc[0]
            if kind == "arg":
                v = leaves[desc[1]]
                if isinstance(v, Node):
                    v = v.data
            elif kind == "data":
                v = desc[1].data
            elif kind == "attr":                # the optimizer's learning rate
                v = getattr(desc[1], desc[2])
                v = float(v) if scalar else np.asarray(v, dtype)
            elif kind == "grad":
                v = desc[1]._grad
                if v is None or (isinstance(v, float) and v == 0.0 and not scalar):
                    raise _Retrace
            else:                           # optimizer state
                v = desc[1].get(desc[2])
                if v is None:
                    raise _Retrace
                if desc[3] != "array" and not scalar:
                    v = np.asarray(v, dtype)
            if scalar:
                if v.__class__ is not float:
                    if not isinstance(v, (int, float)):
                        raise _Retrace
                    v = float(v)
            elif v.__class__ is not np.ndarray or v.shape != shape or v.dtype != dtype or (
                    contiguous and not (v.flags.c_contiguous and v.flags.writeable)):
                if isinstance(v, np.ndarray) and v.shape == shape and v.dtype == dtype:
                    pass    # only the layout differs: fine unless written in place
                else:
                    raise _Retrace
                if contiguous:
                    raise _Retrace
            values.append(v)
        outs = entry.program.run(values)
        returned, numbers = {}, {}
        for value, sink in zip(outs, entry.sinks):
            kind = sink[0]
            if kind == "grad":
                sink[1]._grad = value if not isinstance(sink[1], Value) else float(value)
            elif kind == "data":
                leaf = sink[1]
                if isinstance(leaf, Value):
                    leaf.data = float(value)
                elif value is not leaf.data:
                    leaf.data[...] = value
            elif kind == "state":
                st, key, how = sink[1], sink[2], sink[3]
                st[key] = (int(round(float(value))) if how == "int" else float(value) if how == "float"
                           else value)
            elif kind == "return":
                returned[sink[1]] = value
            else:
                numbers[sink[1]] = value
        return _unflatten(entry.structure, returned, numbers, [0])

    # ---- looking inside -------------------------------------------------------------------
    def _compiled_entry(self):
        entry = self._last
        if entry is None or entry.program is None:
            status = "never called" if entry is None else self.status
            raise RuntimeError(f"al.compile: no compiled program yet ({status}); call the function "
                               "twice with the same kinds of arguments first")
        return entry

    @property
    def status(self) -> str:
        entry = self._last
        if entry is None:
            return "not called yet"
        if entry.fallback:
            return f"eager: {entry.fallback}"
        return "compiled" if entry.program is not None else "tracing"

    def graph(self, which="optimized"):
        """The program as a drawing: "traced" (as recorded) or "optimized" (after the passes)."""
        from .draw import draw_graph
        entry = self._compiled_entry()
        if which not in ("traced", "optimized"):
            raise ValueError(f"graph(): which must be 'traced' or 'optimized', got {which!r}")
        return draw_graph(entry.traced if which == "traced" else entry.optimized,
                          title=f"{getattr(self.fn, '__name__', 'step')}: {which}")

    def ir(self, which="optimized") -> Graph:
        entry = self._compiled_entry()
        return entry.traced if which == "traced" else entry.optimized

    def passes(self) -> list:
        """[(pass, changes, instructions after it)], starting from the traced program."""
        entry = self._compiled_entry()
        return [PassReport("traced", 0, entry.traced.op_count())] + [PassReport(*r) for r in entry.report]

    def source(self) -> str:
        """The generated step function, then each fused kernel's Numba source."""
        entry = self._compiled_entry()
        parts = [entry.program.source]
        for digest, ins in entry.program.kernels:
            text, _ = codegen.kernel_source(ins, entry.optimized)
            parts.append(f"# fused kernel {digest} (v{ins.id}: {ins.name})\n{text}")
        return "\n".join(parts)


def _check_reads(tr, graph):
    """A number read with .item() that comes back into the graph as a constant was used in
    the middle of the step: replaying would keep this call's number forever."""
    if not tr.reads:
        return
    numbers = set()
    for ins in graph.instrs:
        v = ins.value
        if ins.kind == "const" and np.size(v) == 1:
            numbers.add(float(np.reshape(v, -1)[0]) if not isinstance(v, float) else v)
        elif ins.kind == "input" and ins.value[0] == "leaf" and ins.scalar:
            numbers.add(ins.value[1].data)
    for node, _, line, value in tr.reads:
        if float(value) in numbers or -float(value) in numbers:
            tr.note(f".item() or float() at {line} reads a value in the middle of the step "
                    "(everything computed from it would be fixed at trace time)")
            return


def _hashable(obj):
    try:
        hash(obj)
        return obj
    except TypeError:
        if isinstance(obj, tuple):
            return tuple(_hashable(x) for x in obj)
        return ("id", id(obj))


def _finish(tr):
    """Leave the eager world as a plain call would: gradients, data and state as arrays."""
    for leaf in tr.grad_leaves:
        g = leaf._grad
        if isinstance(g, Node):
            leaf._grad = g.data
    for st, key, node, kind in tr.state_out.values():
        value = st.get(key)
        if isinstance(value, Node):
            value = value.data
            st[key] = int(round(float(value))) if kind == "int" else float(value) if kind == "float" \
                else value


def _detached(obj):
    if isinstance(obj, Tensor):
        return Tensor(obj.data)
    if isinstance(obj, Value):
        return Value(obj.data, requires_grad=False)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_detached(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _detached(v) for k, v in obj.items()}
    return obj


def _unflatten(structure, returned, numbers, counter):
    kind = structure[0]
    if kind == "leaf":
        value = returned.get(structure[1])
        if value is None:
            return None
        return Value(float(value), requires_grad=False) if isinstance(value, float) else Tensor(np.asarray(value))
    if kind == "static":
        v = structure[1]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            k = counter[0]
            counter[0] += 1
            if k in numbers:
                return float(numbers[k])
        return v
    if kind == "dict":
        return {k: _unflatten(s, returned, numbers, counter) for k, s in structure[1]}
    items = [_unflatten(s, returned, numbers, counter) for s in structure[1]]
    return tuple(items) if kind == "tuple" else items


def compile(fn=None, *, fuse=True):    # noqa: A001 - al.compile, as torch.compile / jax.jit
    """Compile a function of Tensors (or Values), e.g. a whole training step.

    The first call traces (runs the function eagerly, recording forward, the
    backward pass as a graph and the optimizer's updates); the second traces
    again and checks that both traces are one program; from then on, calls with
    the same shapes, dtypes and Python values run generated code. Anything it
    cannot replay (a decision on a traced value, `.item()` in the middle, data
    made outside the ops) makes it run eagerly, with a CompileWarning that says why.
    fuse=False leaves elementwise ops unfused (each runs its numpy forward): no
    Numba compilation, for programs run only a few times.

    >>> import autograd_lab as al, numpy as np
    >>> w = al.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = al.optim.SGD([w], lr=0.1)
    >>> @al.compile
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = ((w * x).sum() - 1.0) ** 2
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> for _ in range(3):
    ...     loss = step(np.array([1.0, 1.0], np.float32))
    >>> step.status, [round(float(v), 3) for v in w.data]      # three SGD steps on (w.x - 1)^2
    ('compiled', [0.216, 1.216])
    """
    if fn is None:
        return functools.partial(compile, fuse=fuse)
    return Compiled(fn, fuse=fuse)
