"""Code generation: the optimized IR as one Python function, fused chains as Numba kernels.

The step becomes the source of one Python function (`Compiled.source()` shows
it): a line per instruction, calling the op's own forward (so matrix products
and convolutions run the existing kernels) with its params bound once. A fused
chain of elementwise ops becomes one Numba loop over the elements, written to
a file named by the hash of its source in a user cache directory and compiled
with Numba's on-disk cache, so a second process loads it instead of compiling.
Its result goes into a buffer allocated once (passes.plan_buffers). Programs
over al.Value (floats) are plain Python, one line per op: the engine's
per-node bookkeeping is what made them slow, not the arithmetic.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import sys

import numpy as np

from .. import kernels
from .ir import Ref

# One element of each elementwise op, as an expression of its inputs' elements.
_NUMBA = {
    "neg": "-{0}", "exp": "np.exp({0})", "log": "np.log({0})", "sqrt": "np.sqrt({0})",
    "tanh": "np.tanh({0})", "abs": "abs({0})", "sign": "np.sign({0})", "astype": "{0}",
    "sigmoid": "(1 / (1 + np.exp(-{0})) if {0} >= 0 else np.exp({0}) / (1 + np.exp({0})))",
    "relu": "({0} if not {0} <= 0 else 0)",         # NaN passes, as in kernels.elementwise
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "pow": "{0} ** {1}", "maximum": "max({0}, {1})", "minimum": "min({0}, {1})",
    "equal": "{0} == {1}", "not_equal": "{0} != {1}", "less": "{0} < {1}",
    "less_equal": "{0} <= {1}", "greater": "{0} > {1}", "greater_equal": "{0} >= {1}",
    "where": "({1} if {0} else {2})",
}
# the same for Python floats (al.Value), matching the ops' scalar forwards
_PYTHON = dict(_NUMBA, exp="_exp({0})", log="_log({0})", sqrt="_sqrt({0})", tanh="_tanh({0})",
               sigmoid="_sigmoid({0})", relu="({0} if {0} > 0 else 0.0)", pow="_pow({0}, {1})",
               sign="float(({0} > 0) - ({0} < 0))", abs="({0} if {0} >= 0 else -{0})")


def _clip_expr(args, params):
    x = args[0]
    low, high = params.get("low"), params.get("high")
    expr = x
    if low is not None:
        expr = f"max({expr}, {float(low)!r})"
    if high is not None:
        expr = f"min({expr}, {float(high)!r})"
    return expr


def element_expr(name, args, params, table):
    if name == "clip":
        return _clip_expr(args, params)
    return table[name].format(*args)


def _cast(dtype):
    if dtype.kind == "b":
        return ""
    return f"np.{dtype.name}"


# ---- fused kernels ---------------------------------------------------------------------------
def cache_dir() -> str:
    """Where generated kernels are kept: AUTOGRAD_LAB_COMPILER_CACHE, else `compiled` inside the
    library's own kernel cache (`kernels.cache_dir()`, so a new version of the library or of its
    kernels starts afresh); Numba caches each one next to it."""
    path = os.environ.get("AUTOGRAD_LAB_COMPILER_CACHE") or os.path.join(kernels.cache_dir(), "compiled")
    os.makedirs(path, exist_ok=True)
    return path


def kernel_source(fused, graph):
    """Numba source of a fused chain: (source, input modes), a mode per external input.

    One flat loop over the elements; a chain whose column sums are wanted too
    (passes.fuse_sums) loops over rows and columns and adds each result to its column.
    """
    n_out = int(np.prod(fused.shape))
    sums = fused.params.get("sums", ())
    place = getattr(graph, "buffers", {}).get(fused.id)
    updated = place[1] if place is not None and place[0] == "inplace" else None
    at, pad = ("r, c", "            ") if sums else ("i", "        ")
    names, modes, loads = {}, [], []
    for k, i in enumerate(fused.inputs):
        src = graph[i]
        size = int(np.prod(src.shape))
        if i == updated:
            # an update written into its own input (SGD's w - lr * g) reads it from `out`:
            # passed twice, the two arrays overlap exactly, LLVM's run-time overlap check
            # fails and the loop runs unvectorized (W2's first-layer update: 134 against 21 µs)
            modes.append("out")
            names[i] = f"x{k}"
            loads.append(f"{pad}x{k} = out[{at}]")
        elif size == 1 and n_out != 1:
            modes.append("scalar")
            names[i] = f"a{k}"
        else:
            modes.append("full" if src.shape == fused.shape else "broadcast")
            names[i] = f"x{k}"
            loads.append(f"{pad}x{k} = a{k}[{at}]")
    lines = []
    for k, ins in enumerate(fused.body):     # temporaries numbered in the chain: equal chains, one kernel
        args = [names[i] for i in ins.inputs]
        expr = element_expr(ins.op.name, args, ins.params, _NUMBA)
        cast = _cast(ins.dtype)
        lines.append(f"{pad}t{k} = {cast}({expr})" if cast else f"{pad}t{k} = {expr}")
        names[ins.id] = f"t{k}"
    last = f"t{len(fused.body) - 1}"
    params = ", ".join([f"s{k}" for k in range(len(sums))]
                       + [f"a{k}" for k, mode in enumerate(modes) if mode != "out"])
    if sums:
        loop = ["    for c in range(out.shape[1]):",
                *[f"        s{k}[c] = 0" for k in range(len(sums))],
                "    for r in range(out.shape[0]):",
                "        for c in range(out.shape[1]):",
                *loads, *lines,
                f"            out[r, c] = {last}",
                *[f"            s{k}[c] += {last}" for k in range(len(sums))]]
    else:
        # range(out.size), not range(start, stop): with indices it cannot prove non-negative,
        # Numba wraps negative ones on every access and the loop does not vectorize (6x slower)
        loop = ["    for i in range(out.size):", *loads, *lines, f"        out[i] = {last}"]
    source = "\n".join([
        "import numpy as np",
        "from numba import njit",
        "",
        "",
        "@njit(cache=True, nogil=True)",
        f"def kernel(out{', ' if params else ''}{params}):",
        *loop,
        "",
    ])
    return source, modes


_loaded = {}


def load_kernel(source):
    """The compiled kernel of `source`: from this process, else from the disk cache, else compiled."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:20]
    if digest in _loaded:
        return _loaded[digest], digest
    path = os.path.join(cache_dir(), f"fused_{digest}.py")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(source)
        os.replace(tmp, path)      # atomic: a concurrent process sees the whole file or none
    name = f"autograd_lab_fused_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _loaded[digest] = module.kernel
    return module.kernel, digest


PARALLEL_MIN = 1 << 20      # elements: below this one thread beats a hand-off to the workers (W2 update: 164k)


def fused_runner(kernel, n):
    """kernel(out, *inputs) over n elements; large ones in slices across the worker threads."""
    if n < PARALLEL_MIN:
        return kernel
    from ..kernels.parallel import run_chunks
    chunk = max(n // 8, 1 << 14)

    def run(out, *inputs):
        def work(ranges):
            for lo, hi in ranges:
                kernel(out[lo:hi], *[x[lo:hi] if isinstance(x, np.ndarray) else x for x in inputs])
        run_chunks(n, chunk, work)
    return run


# ---- the program -----------------------------------------------------------------------------
def _scalar_namespace():
    from ..ops import primitives as P
    return {"_exp": math.exp, "_log": math.log, "_sqrt": math.sqrt, "_tanh": math.tanh,
            "_sigmoid": P.sigmoid.value_forward, "_pow": math.pow}


class Program:
    """The generated function with its namespace, and the kernels it uses."""

    def __init__(self, source, namespace, kernels_used, buffers_bytes):
        self.source = source
        self.namespace = namespace
        self.kernels = kernels_used
        self.buffers_bytes = buffers_bytes
        code = compile(source, "<al.compile step>", "exec")
        exec(code, namespace)
        self.run = namespace["step"]


def generate(graph):
    """Python source for `graph` and the objects it refers to: see Program."""
    ns = {"np": np, **_scalar_namespace()}
    lines, counter = [], [0]
    kernels_used = []
    buffers = getattr(graph, "buffers", {})
    pool = {}

    def bind(obj, prefix):
        counter[0] += 1
        name = f"{prefix}{counter[0]}"
        ns[name] = obj
        return name

    names = _register_names(graph)
    inputs = []          # (instruction id, descriptor) read from the call
    for ins in graph.instrs:
        v = names[ins.id]
        if ins.kind == "input":
            inputs.append(ins)
            lines.append(f"    {v} = inputs[{len(inputs) - 1}]")
        elif ins.kind == "const":
            if ins.scalar and math.isfinite(ins.value):
                lines.append(f"    {v} = {float(ins.value)!r}")
            else:
                lines.append(f"    {v} = {bind(ins.value, 'c')}")
        elif ins.kind == "reduced":
            continue            # column sums: written by the kernel that reads its input (fuse_sums)
        elif ins.kind == "saved":
            lines.append(f"    {v} = {names[ins.inputs[0]]}_saved")
        elif ins.kind == "op" and ins.scalar and ins.op.name in _PYTHON or (
                ins.kind == "op" and ins.scalar and ins.op.name == "clip"):
            args = [names[i] for i in ins.inputs]
            lines.append(f"    {v} = {element_expr(ins.op.name, args, ins.params, _PYTHON)}")
        elif ins.kind == "op":
            static = {k: p for k, p in ins.params.items() if not _dynamic(p)}
            dynamic = {k: p for k, p in ins.params.items() if _dynamic(p)}
            forward = ins.op.value_forward if ins.scalar else ins.op.forward
            fn = bind(functools.partial(forward, **static) if static else forward, f"{ins.op.name}_")
            args = [names[i] for i in ins.inputs]
            args += [f"{k}={_param_expr(p, names)}" for k, p in dynamic.items()]
            call = f"{fn}({', '.join(args)})"
            if ins.op.saves:
                saved_used = any(o.kind == "saved" and o.inputs[0] == ins.id for o in graph.instrs)
                lines.append(f"    {v}, {v}_saved = {call}" if saved_used else f"    {v} = {call}[0]")
            else:
                lines.append(f"    {v} = {call}")
        elif ins.kind == "fused":
            source, modes = kernel_source(ins, graph)
            kernel, digest = load_kernel(source)
            kernels_used.append((digest, ins))
            n = int(np.prod(ins.shape))
            sums = [s for s in ins.params.get("sums", ()) if s in graph.by_id]
            # with column sums: one thread, 2-D arrays as they are (a broadcast stays a view)
            run = bind(kernel if sums else fused_runner(kernel, n), "fused_")
            flat = "" if sums else ".reshape(-1)"
            args = []
            for s in sums:
                lines.append(f"    {names[s]} = np.empty({graph[s].shape!r}, np.{graph[s].dtype.name})")
                args.append(names[s])
            for i, mode in zip(ins.inputs, modes):
                a = names[i]
                src = graph[i]
                if mode == "out":
                    continue                # read from the output buffer: see kernel_source
                if mode == "scalar" and src.kind == "const" and not src.scalar:
                    args.append(bind(np.asarray(src.value).reshape(-1)[0], "k"))   # a typed numpy scalar, once
                elif mode == "scalar":
                    args.append(f"{a}.reshape(-1)[0]" if not src.scalar else a)
                elif mode == "full":
                    args.append(f"{a}{flat}")
                else:
                    args.append(f"np.broadcast_to({a}, {ins.shape!r}){flat}")
            place = buffers.get(ins.id)
            if place is not None and place[0] == "inplace":
                out = names[place[1]]
                lines.append(f"    {run}({out}{flat}, {', '.join(args)})")
                lines.append(f"    {v} = {out}")
                continue
            if place is not None:
                key = place[1:]
                if key not in pool:
                    pool[key] = bind(np.empty(ins.shape, ins.dtype), "buffer")
                out = pool[key]
                lines.append(f"    {v} = {out}")
            else:
                lines.append(f"    {v} = np.empty({ins.shape!r}, np.{ins.dtype.name})")
            lines.append(f"    {run}({v}{flat}, {', '.join(args)})")
    outs = ", ".join(names[i] for i, _ in graph.outputs)
    header = "def step(inputs):"
    source = "\n".join([header, *lines, f"    return ({outs}{',' if len(graph.outputs) == 1 else ''})", ""])
    buffers_bytes = sum(ns[name].nbytes for name in pool.values())
    return Program(source, ns, kernels_used, buffers_bytes), inputs


def _dynamic(p):
    return isinstance(p, Ref) or (isinstance(p, tuple) and any(isinstance(x, Ref) for x in p))


def _param_expr(p, names):
    if isinstance(p, Ref):
        return f"{names[p.id]}.reshape({p.shape!r})"
    return "(" + "".join(_param_expr(x, names) + ", " if isinstance(x, Ref) else f"{x!r}, " for x in p) + ")"


def _register_names(graph):
    """Variable names. Scalar programs (tens of thousands of lines) reuse names once a
    value is dead, as registers; array values keep one name each."""
    if not any(ins.scalar for ins in graph.instrs):
        return {ins.id: f"v{ins.id}" for ins in graph.instrs}
    last = {}
    for n, ins in enumerate(graph.instrs):
        for r in ins.refs():
            last[r] = n
    for i, _ in graph.outputs:
        last[i] = len(graph.instrs)
    names, free, count = {}, [], 0
    expire = {}
    for n, ins in enumerate(graph.instrs):
        for r in expire.pop(n, ()):
            free.append(names[r])
        if free:
            names[ins.id] = free.pop()
        else:
            names[ins.id] = f"r{count}"
            count += 1
        expire.setdefault(last.get(ins.id, n) + 1, []).append(ins.id)
    return names
