"""The chain rule in words and symbols, and scalar graphs as SymPy expressions.

`explain(L, a)` writes d L / d a as the sum over the paths from L back to a of
the product of the local derivatives along each path, with their numbers:

    dL/da = dL/dd · dd/de · de/da = (-2)(1)(-3) = 6

It reads the engine's reverse walk (`core.engine.backward_steps`), so the total
is the gradient backward() computes. Paths are counted, and the largest ones
found, by dynamic programming over that walk, in time linear in the graph:
`y = y * y` 18 times has 2^18 paths, and none of them is enumerated.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from ..core.engine import backward_steps, local_derivative, topological_order
from ..core.node import Node
from .names import node_names


def _scalar(x) -> float:
    return float(np.asarray(getattr(x, "data", x)).reshape(-1)[0])


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e12:
        text = str(int(x))
    else:
        text = f"{x:.4g}"
    return f"({text})"


def _latex_name(name: str) -> str:
    special = {"\\": r"\backslash{}", "_": r"\_", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%",
               "#": r"\#", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}
    return r"\mathrm{" + "".join(special.get(c, c) for c in name) + "}"


def _bracket(name: str) -> str:
    return f"({name})" if any(c in name for c in "+-*/@ ") else name


@dataclass
class ChainPath:
    names: list           # root first, wrt last
    locals: list          # d names[k] / d names[k+1]
    product: float


@dataclass
class Explanation:
    root_name: str
    wrt_name: str
    paths: list = field(default_factory=list)     # the largest paths, by |product|
    total: float = 0.0                            # d root / d wrt: the sum over all paths
    path_count: int = 0                           # how many paths there are in all

    @property
    def truncated(self) -> bool:
        """True when only some of the paths are listed."""
        return self.path_count > len(self.paths)

    def _factors(self, path, fmt):
        return [fmt(path.names[k], path.names[k + 1]) for k in range(len(path.locals))]

    @property
    def text(self) -> str:
        def d(a, b):            # names made from expressions go in brackets: d(a*b)/da
            return f"d{_bracket(a)}/d{_bracket(b)}"
        lhs = d(self.root_name, self.wrt_name)
        if not self.paths:
            return f"{lhs} = 0   (no path from {self.root_name} to {self.wrt_name})"
        symbolic = " + ".join(" · ".join(self._factors(p, d)) for p in self.paths)
        numeric = " + ".join("".join(_num(v) for v in p.locals) for p in self.paths)
        middle = f"{numeric}" if symbolic == lhs else f"{symbolic} = {numeric}"
        text = f"{lhs} = {middle} = {_num(self.total)[1:-1]}"
        if len(self.paths) > 1:
            text += "\n" + "\n".join(f"  path {k + 1}: {' <- '.join(p.names)}: product {p.product:.6g}"
                                     for k, p in enumerate(self.paths))
        if self.truncated:
            text += (f"\n  ({self.path_count:,} paths in all; the {len(self.paths)} largest are "
                     "listed, the total counts all)")
        return text

    @property
    def latex(self) -> str:
        def d(a, b):
            return rf"\frac{{\partial {_latex_name(a)}}}{{\partial {_latex_name(b)}}}"
        lhs = d(self.root_name, self.wrt_name)
        if not self.paths:
            return lhs + " = 0"
        symbolic = " + ".join(r"\,".join(self._factors(p, d)) for p in self.paths)
        numeric = " + ".join("".join(_num(v) for v in p.locals) for p in self.paths)
        middle = f"{numeric}" if symbolic == lhs else f"{symbolic} = {numeric}"
        return f"{lhs} = {middle} = {_num(self.total)[1:-1]}"

    def __str__(self):
        return self.text

    def _repr_html_(self):
        """Jupyter: the chain rule as LaTeX (MathJax renders it) and the paths as a list."""
        import html
        paths = "".join(f"<li>{html.escape(' ← '.join(p.names))}: product {p.product:.6g}</li>"
                        for p in self.paths)
        return (f"<div>$${html.escape(self.latex)}$$</div>"
                + (f"<ul>{paths}</ul>" if len(self.paths) > 1 else "")
                + ("<p>(more paths exist; the total counts all)</p>" if self.truncated else ""))


def _names(root):
    return node_names(topological_order(root))


def _local_derivative(node, position) -> float:
    local = local_derivative(node, position)
    return 0.0 if local is None else _scalar(np.sum(local))


def _on_a_path_to(wrt, order):
    """The nodes of `order` (topological) that depend on `wrt`: only they can lie on a path."""
    depends = {wrt}
    for node in order:
        if node not in depends and any(x in depends for x in node.inputs):
            depends.add(node)
    return depends


class _Partial:
    """A path from the root to some node, as a link to the path it extends."""
    __slots__ = ("log_size", "sign", "node", "local", "position", "before")

    def __init__(self, log_size, sign, node, local, position, before):
        self.log_size, self.sign, self.node = log_size, sign, node
        self.local, self.position, self.before = local, position, before

    def walk_back(self):
        links = []
        link = self
        while link is not None:
            links.append(link)
            link = link.before
        return links[::-1]          # root first


def explain(root, wrt, max_paths=32) -> Explanation:
    """Spell out d root / d wrt as the chain rule: the largest paths and the sum over all (scalar graphs).

    The total is the gradient of the engine's reverse walk; paths are counted
    and the `max_paths` largest (by |product of local derivatives|) found by
    dynamic programming over that walk, in time linear in the graph.

    >>> import autograd_lab as al
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> e = a * b; e.label = "e"
    >>> print(al.explain(e, a))
    de/da = (-3) = -3
    """
    for n in (root, wrt):
        if np.size(n.data) != 1:
            raise ValueError(f"explain: works on scalar graphs; {n.name or n.op_name} has shape {n.shape}")
    order = topological_order(root)
    names = node_names(order)                                # the names the drawings use
    if wrt not in names:
        raise ValueError(f"explain: {wrt.name or 'that node'} is not part of the graph of {names[root]}")
    if not wrt.requires_grad:
        raise ValueError(f"explain: {names[wrt]} does not require grad, so no gradient flows to it "
                         "(make it with requires_grad=True)")
    result = Explanation(names[root], names[wrt])
    relevant = _on_a_path_to(wrt, order)
    for n in relevant:
        if np.size(n.data) != 1:
            raise ValueError(f"explain: works on scalar graphs; {names[n]} (op {n.op_name}) has "
                             f"shape {n.shape}")
    counts = {root: 1}                                       # paths from the root to each node
    best = {root: [_Partial(0.0, 1.0, root, None, None, None)]}   # its largest partial paths
    for step in backward_steps(root):                        # each node after all its consumers
        node = step.node
        if node is wrt:
            result.total = _scalar(step.grad)
            continue
        if node not in counts:
            continue
        count, partials = counts.pop(node), best.pop(node)
        for c in step.contributions:
            x = c.input
            if x not in relevant:
                continue
            counts[x] = counts.get(x, 0) + count
            local = _local_derivative(node, c.position)
            size = math.log(abs(local)) if local != 0 else -math.inf
            sign = math.copysign(1.0, local)
            extended = [_Partial(p.log_size + size, p.sign * sign, x, local, c.position, p)
                        for p in partials]
            best[x] = heapq.nlargest(max_paths, best.get(x, []) + extended, key=lambda p: p.log_size)
    result.path_count = counts.get(wrt, 0)
    finals = best.get(wrt, [])
    paths = []
    for p in finals:
        links = p.walk_back()
        locals_ = [link.local for link in links[1:]]
        paths.append((-p.log_size, [link.position for link in links[1:]],
                      ChainPath([names[link.node] for link in links], locals_,
                                float(np.prod(locals_)) if locals_ else 1.0)))
    paths.sort(key=lambda entry: entry[:2])          # largest first; ties in input order
    result.paths = [entry[2] for entry in paths]
    return result


# ---- SymPy ----------------------------------------------------------------------
def to_sympy(root, return_symbols=False):
    """The scalar graph of `root` as a SymPy expression (SymPy is an optional extra).

    Leaves that require grad, and named leaves, become symbols (their names);
    other leaves become numbers.

    >>> import autograd_lab as al
    >>> x = al.Value(0.5, label="x"); y = (x * x).tanh()
    >>> al.to_sympy(y)
    tanh(x**2)
    """
    try:
        import sympy as sp
    except ImportError:
        raise ImportError("to_sympy needs SymPy: pip install sympy "
                          "(or the extra: pip install 'autograd-lab[sympy]')") from None
    names = _names(root)
    expr, symbols = {}, {}
    for node in topological_order(root):
        if np.size(node.data) != 1:
            raise ValueError(f"to_sympy: works on scalar graphs; {names[node]} has shape {node.shape}")
        if node.op is None:
            if node.requires_grad or node.name:
                symbols[node] = expr[node] = sp.Symbol(names[node], real=True)   # leaves are real numbers
            else:
                expr[node] = sp.nsimplify(_scalar(node.data), rational=False)
            continue
        if node.op.sympy is None:
            raise ValueError(f"to_sympy: op {node.op.name!r} has no SymPy form (sympy= in its declaration)")
        expr[node] = node.op.sympy(sp, *[expr[x] for x in node.inputs], **node.params)
    return (expr[root], symbols) if return_symbols else expr[root]
