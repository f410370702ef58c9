"""The chain rule in words and symbols, and scalar graphs as SymPy expressions.

`explain(L, a)` lists every path from L back to a as a product of local
derivatives with their numbers, and the sum over paths:

    dL/da = dL/dd · dd/de · de/da = (-2)(1)(-3) = 6
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.engine import topological_order
from ..core.node import Node


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
    paths: list = field(default_factory=list)
    total: float = 0.0
    truncated: bool = False

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
            text += "\n  (more paths exist; only the first ones are listed, the total counts all)"
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
    from .names import node_names          # the names the drawings use
    return node_names(topological_order(root))


def _local_derivative(node, position) -> float:
    rule = node.op.vjp(position)
    if rule is None:
        return 0.0
    args = [x.data for x in node.inputs]
    one = 1.0 if isinstance(node.data, float) else np.ones_like(node.data)
    params = dict(node.params)
    if node.op.saves:
        params["saved"] = node._saved
    return _scalar(np.sum(rule(one, node.data, *args, **params)))


def explain(root, wrt, max_paths=32) -> Explanation:
    """Spell out d root / d wrt as the chain rule over every path (scalar graphs).

    >>> import autograd_lab as al
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> e = a * b; e.label = "e"
    >>> print(al.explain(e, a))
    de/da = (-3) = -3
    """
    for n in (root, wrt):
        if np.size(n.data) != 1:
            raise ValueError(f"explain: works on scalar graphs; {n.name or n.op_name} has shape {n.shape}")
    names = _names(root)
    if wrt not in names:
        raise ValueError(f"explain: {wrt.name or 'that node'} is not part of the graph of {names[root]}")
    result = Explanation(names[root], names[wrt])
    # depth-first over (node, path so far); an explicit stack, no recursion
    stack = [(root, [root], [])]
    total = 0.0
    while stack:
        node, path, locals_ = stack.pop()
        if node is wrt:
            product = float(np.prod(locals_)) if locals_ else 1.0
            total += product
            if len(result.paths) < max_paths:
                result.paths.append(ChainPath([names[n] for n in path], list(locals_), product))
            else:
                result.truncated = True
            continue
        if node.op is None:
            continue
        for position in reversed(range(len(node.inputs))):
            x = node.inputs[position]
            if x.requires_grad or x is wrt:
                stack.append((x, path + [x], locals_ + [_local_derivative(node, position)]))
    result.total = total
    return result


# ---- SymPy ----------------------------------------------------------------------
def _sympy_ops(sp):
    return {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "neg": lambda a: -a,
        "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "abs": sp.Abs,
        "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "relu": lambda a: sp.Max(0, a),
        "maximum": sp.Max, "minimum": sp.Min,
    }


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
    ops = _sympy_ops(sp)
    names = _names(root)
    expr, symbols = {}, {}
    for node in topological_order(root):
        if np.size(node.data) != 1:
            raise ValueError(f"to_sympy: works on scalar graphs; {names[node]} has shape {node.shape}")
        if node.op is None:
            if node.requires_grad or node.name:
                symbols[node] = expr[node] = sp.Symbol(names[node])
            else:
                expr[node] = sp.nsimplify(_scalar(node.data), rational=False)
            continue
        if node.op.name not in ops:
            raise ValueError(f"to_sympy: op {node.op.name!r} has no scalar SymPy form")
        expr[node] = ops[node.op.name](*[expr[x] for x in node.inputs])
    return (expr[root], symbols) if return_symbols else expr[root]
