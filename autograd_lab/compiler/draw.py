"""The IR as a Graphviz picture: inputs, constants, ops, fused kernels and where results go."""
from __future__ import annotations

import numpy as np

from ..viz.render import render

_COLORS = {"input": "#dbe9f6", "const": "#eeeeee", "op": "#ffffff", "fused": "#fde6c8",
           "saved": "#eeeeee", "reduced": "#fde6c8", "sink": "#d9f2d9"}


class IRDrawing:
    """A drawing of a compiled program: `.source` (DOT), `.save(path)`, shown in Jupyter."""

    def __init__(self, source, node_count):
        self.source = source
        self.node_count = node_count

    def pipe(self, fmt="svg") -> bytes:
        return render(self.source, fmt)

    def save(self, path) -> str:
        import os
        fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
        with open(path, "wb") as f:
            f.write(self.pipe(fmt))
        return os.fspath(path)

    def _repr_svg_(self):
        return self.pipe("svg").decode()


def _esc(text):
    # labels carry DOT's own line breaks (backslash-n); only quotes need escaping
    return str(text).replace('"', '\\"')


def _shape(ins):
    return "" if ins.scalar else "x".join(str(s) for s in ins.shape) or "scalar"


def _leaf_name(leaf):
    return getattr(leaf, "name", None) or f"{'x'.join(map(str, np.shape(leaf.data)))} tensor"


def label(ins):
    if ins.kind == "input":
        d = ins.value
        what = {"arg": lambda: f"argument {d[1]}", "data": lambda: f"param {_leaf_name(d[1])}",
                "grad": lambda: f"old grad of {_leaf_name(d[1])}",
                "state": lambda: f"state {d[2]}"}.get(d[0], lambda: d[0])()
        return f"{what}\\n{_shape(ins)}"
    if ins.kind == "const":
        v = ins.value
        text = f"{float(v):.4g}" if np.size(v) == 1 else f"const {_shape(ins)}"
        return text
    if ins.kind == "saved":
        return "saved (argmax)"
    if ins.kind == "fused":
        ops = " ".join(b.op.symbol or b.op.name for b in ins.body)
        sums = " + column sums" if ins.params.get("sums") else ""
        return f"fused kernel\\n{ops}{sums}\\n{_shape(ins)}"
    if ins.kind == "reduced":
        return f"column sums\\n(in the kernel)\\n{_shape(ins)}"
    return f"{ins.op.symbol or ins.op.name}\\n{_shape(ins)}"


def _sink_text(sink):
    kind = sink[0]
    if kind in ("grad", "data"):
        return f"{'grad of' if kind == 'grad' else 'new'} {_leaf_name(sink[1])}"
    if kind == "state":
        return f"state {sink[2]}"
    return "returned"


def draw_graph(graph, title="", max_nodes=600):
    """DOT of the graph: one box per instruction, green boxes for where results go."""
    instrs = graph.instrs
    if len(instrs) > max_nodes:
        kinds = {}
        for ins in instrs:
            kinds[ins.name if ins.kind == "op" else ins.kind] = kinds.get(
                ins.name if ins.kind == "op" else ins.kind, 0) + 1
        rows = "\\l".join(f"{k}: {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:20])
        source = (f'digraph G {{ label="{_esc(title)}: {len(instrs)} instructions (too many to draw)"; '
                  f'n [shape=box, label="{rows}\\l"]; }}')
        return IRDrawing(source, len(instrs))
    lines = ["digraph G {", "  rankdir=LR;", f'  label="{_esc(title)}"; labelloc=t; fontname="DejaVu Sans";',
             '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans", fontsize=10];',
             '  edge [color="#666666", arrowsize=0.6];']
    for ins in instrs:
        shape = "ellipse" if ins.kind in ("input", "const") else "box"
        lines.append(f'  v{ins.id} [label="{_esc(label(ins))}", shape={shape}, '
                     f'fillcolor="{_COLORS[ins.kind]}"];')
        for r in ins.refs():
            lines.append(f"  v{r} -> v{ins.id};")
    for k, (i, sink) in enumerate(graph.outputs):
        lines.append(f'  s{k} [label="{_esc(_sink_text(sink))}", fillcolor="{_COLORS["sink"]}"];')
        lines.append(f"  v{i} -> s{k};")
    lines.append("}")
    return IRDrawing("\n".join(lines), len(instrs))
