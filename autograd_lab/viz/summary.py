"""`summary`: a table of ops, shapes, parameters and FLOPs per node and per layer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.engine import topological_order

def flops(node) -> int:
    """Floating-point operations of one op node (multiply-add = 2), an estimate from its declaration."""
    op = node.op
    if op is None:
        return 0
    if op.flops is None:
        raise ValueError(f"summary: op {op.name!r} declares no FLOP count (flops= in its declaration)")
    return int(op.flops(tuple(node.shape), *[tuple(x.shape) for x in node.inputs], **node.params))


@dataclass
class Summary:
    rows: list           # (index, op, scope, shape, parameters, flops)
    layers: list         # (scope, type, parameters, flops, output shape)

    @property
    def total_flops(self) -> int:
        return sum(r[5] for r in self.rows)

    @property
    def total_parameters(self) -> int:
        return sum(r[4] for r in self.rows)

    def _repr_html_(self):
        """Jupyter: the per-layer table (or the per-op one when there are no layers)."""
        import html
        if self.layers:
            head = ("layer", "type", "parameters", "FLOPs", "output")
            rows = [(s, t, f"{p:,}", f"{f:,}", str(sh)) for s, t, p, f, sh in self.layers]
        else:
            head = ("#", "op", "scope", "shape", "parameters", "FLOPs")
            rows = [(i, op, sc, str(sh), f"{p:,}", f"{f:,}") for i, op, sc, sh, p, f in self.rows]
        cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return (f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>{cells}</tbody>"
                f"</table><p>total: {self.total_parameters:,} parameters, {self.total_flops:,} FLOPs</p>")

    def __str__(self):
        lines = [f"{'#':>4}  {'op':<16} {'scope':<26} {'shape':<20} {'params':>9} {'FLOPs':>12}"]
        for i, op, scope, shape, params, fl in self.rows:
            lines.append(f"{i:>4}  {op:<16} {scope[:26]:<26} {str(shape):<20} {params:>9,} {fl:>12,}")
        lines.append(f"total: {self.total_parameters:,} parameters, {self.total_flops:,} FLOPs")
        if self.layers:
            lines.append("")
            lines.append(f"{'layer':<28} {'type':<16} {'params':>9} {'FLOPs':>12}  output")
            for scope, kind, params, fl, shape in self.layers:
                lines.append(f"{scope[:28]:<28} {kind:<16} {params:>9,} {fl:>12,}  {shape}")
        return "\n".join(lines)


def summary(root) -> Summary:
    """Every node: op, scope, shape, parameters (leaves that require grad), FLOPs.

    >>> import autograd_lab as al, numpy as np
    >>> net = al.nn.Linear(4, 3)
    >>> s = al.viz.summary(net(al.tensor(np.ones((2, 4)))))
    >>> s.total_parameters, s.total_flops
    (15, 54)
    """
    rows, layers = [], {}
    for i, node in enumerate(topological_order(root)):
        params = int(np.size(node.data)) if node.is_leaf and node.requires_grad else 0
        label = node.op_name or ("parameter" if params else "input")
        scope = node.scope or ""
        rows.append((i, label, scope or (node.name or ""), tuple(node.shape), params, flops(node)))
        if node.scope:
            entry = layers.setdefault(node.scope, [node.module_type, 0, 0, tuple(node.shape)])
            entry[2] += flops(node)
            entry[3] = tuple(node.shape)
    # parameters count for the layer whose nodes consume them
    for node in topological_order(root):
        if node.scope:
            for x in node.inputs:
                if x.is_leaf and x.requires_grad and x.scope is None:
                    layers[node.scope][1] += int(np.size(x.data))
    return Summary(rows, [(s, t, p, f, sh) for s, (t, p, f, sh) in layers.items()])
