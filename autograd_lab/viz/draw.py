"""`al.draw`: the forward and the backward pass as Graphviz pictures.

Forward: value nodes (name, value, gradient) and op nodes, as in micrograd's
drawing, styled by kind (input, parameter, constant, output, backward-pass node)
with a legend. Backward: the same layout with arrows from the output back to the
leaves; for scalars each edge reads `local × upstream = contribution` (the chain
rule), for arrays the gradient's shape and norm; edge darkness and width grow
with the gradient's magnitude, so vanishing and exploding gradients show.
Layer view: the nodes of each nn.Module call collapse into one.

Labels are records and plain strings (not HTML-like labels, which the in-process
WebAssembly Graphviz does not support). Every piece of user text goes through
`escape` (plain labels) or `escape_record` (record fields), so names containing
< > " { } | \\ & or newlines cannot break the DOT source; Graphviz itself escapes
text when it writes the SVG.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..core.engine import backward_steps, local_derivative, topological_order
from ..core.node import Node, Value
from .render import RenderError, render

# Fill colours differ in lightness as well as hue, and each kind has its own border,
# so the kinds stay distinguishable in a grey-scale print.
STYLES = {
    "output":    {"fill": "#b8e0b8", "penwidth": "3", "style": "filled,bold"},
    "parameter": {"fill": "#fbd9a4", "penwidth": "2", "style": "filled"},
    "input":     {"fill": "#cfe2f3", "penwidth": "1", "style": "filled"},
    "constant":  {"fill": "#ffffff", "penwidth": "1", "style": "filled,dashed"},
    "value":     {"fill": "#f4f4f4", "penwidth": "1", "style": "filled"},
    "backward":  {"fill": "#e6d5ee", "penwidth": "1.5", "style": "filled,dotted"},
}
LEGEND = {"input": "input", "parameter": "parameter", "constant": "constant",
          "value": "intermediate value", "output": "output", "backward": "node of a backward pass"}
MAX_OP_NODES = 300
# Above this many nodes, cap Graphviz's crossing minimisation and network simplex and
# draw straight edges: a 527-node graph took 4 s this way and over 5 minutes without.
FAST_LAYOUT_NODES = 150
FAST_LAYOUT = "mclimit=0.1, nslimit=2, nslimit1=2, splines=line, remincross=false, searchsize=10"
# Above this many nodes even that is slow (1,000 nodes: 30 s; 2,000: 3.5 min; 3,000: the
# WebAssembly build runs out of memory), so we place the nodes ourselves (layered by
# depth, ordered by their inputs' mean position) and Graphviz only draws them.
LAYERED_NODES = 1000
COLUMNS_PER_BAND = 40


def escape(text) -> str:
    """Text made safe inside a quoted DOT label (lines kept, no escape sequences run)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
    return text.replace("\n", "\\n")


def escape_record(text) -> str:
    """Text made safe inside one field of a record label ({ } | < > are field syntax)."""
    text = str(text).replace("\\", "\\\\")
    for ch in '{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r", "").replace("\n", "\\n")


def _record(fields, horizontal=False) -> str:
    body = "|".join(escape_record(f) for f in fields)
    return "{" + body + "}" if horizontal else body


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, (float, int, np.floating, np.integer)):
        x = float(x)
        return f"{x:.4f}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"
    return str(x)


def _array_text(a, max_elements):
    a = np.asarray(a)
    if a.size <= max_elements:
        return np.array2string(a, precision=3, separator=", ", suppress_small=True,
                               max_line_width=48)
    finite = a[np.isfinite(a)] if a.dtype.kind in "fc" else a
    if finite.size == 0:
        return "no finite values"
    return f"min {_fmt(finite.min())}  mean {_fmt(finite.mean())}  max {_fmt(finite.max())}"


def _norm(a) -> float:
    if a is None:
        return 0.0
    a = np.asarray(a.data if isinstance(a, Node) else a, dtype=np.float64)
    return float(np.sqrt(np.sum(a * a)))


def kind_of(node, root) -> str:
    if node is root:
        return "output"
    if node.from_backward:
        return "backward"
    if node.is_leaf:
        if node.requires_grad:
            return "parameter"
        if node.name is None and (np.size(node.data) == 1 or (node._meta or {}).get("constant")):
            return "constant"
        return "input"
    return "value"


# ---------------------------------------------------------------------------
# the gradients flowing along each edge, computed without touching .grad
# ---------------------------------------------------------------------------
@dataclass
class Flow:
    grads: dict          # node -> d root / d node (raw)
    edges: dict          # (node, input position) -> (local derivative or None, contribution)


def backward_flow(root) -> Flow | None:
    """d(root)/d(every node) and the share sent along every edge, read from the engine's walk.

    Returns None when root is not a single number (no chain rule to show).
    """
    if np.size(root.data) != 1 or not root.requires_grad:
        return None
    grads, edges = {}, {}
    for step in backward_steps(root):
        node = step.node
        grads[node] = step.grad
        for c in step.contributions:
            local = None
            if np.size(c.input.data) == 1 and np.size(node.data) == 1:
                local = float(np.sum(local_derivative(node, c.position)))
            edges[(node, c.position)] = (local, c.value)
    return Flow(grads, edges)


# ---------------------------------------------------------------------------
# the picture
# ---------------------------------------------------------------------------
class Drawing:
    """A graph picture: `.source` (DOT), `.save(path)`, and display in Jupyter."""

    def __init__(self, source: str, note: str | None = None, node_count: int = 0):
        self.source = source
        self.note = note
        self.node_count = node_count

    def pipe(self, fmt: str = "svg") -> bytes:
        return render(self.source, fmt)

    def save(self, path) -> str:
        """Write the picture; the format follows the suffix (.svg, .png, .pdf, .dot)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        if not fmt:
            raise RenderError(f"save: {path!r} has no suffix; use .svg, .png, .pdf or .dot")
        data = self.pipe(fmt)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def _repr_svg_(self):
        return self.pipe("svg").decode()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/svg+xml": self._repr_svg_(), "text/plain": f"<Drawing: {self.node_count} nodes>"}


def draw(root, mode="forward", detail=None, show=("value", "grad", "shape"), rankdir=None,
         max_elements=16, legend=True, title=None) -> Drawing:
    """Draw the graph that produced `root`.

    mode     "forward" (data flow) or "backward" (gradients, output to leaves)
    detail   "op" (every op) or "layer" (each nn.Module call one node); by default
             "op", or "layer" for graphs of more than 300 nodes (with a note saying so)
    show     what value nodes display: any of "value", "grad", "shape"
    rankdir  "LR" (left to right, the default for ops) or "TB" (the default for layers)

    >>> import autograd_lab as al
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> L = a * b; L.backward()
    >>> d = al.draw(L, mode="backward")
    >>> "-3.0000 × 1.0000 = -3.0000" in d.source
    True
    """
    if mode not in ("forward", "backward"):
        raise ValueError(f"draw: mode must be 'forward' or 'backward', got {mode!r}")
    nodes = topological_order(root)
    note = None
    if detail is None:
        detail = "op"
        if len(nodes) > MAX_OP_NODES and any(n.scope for n in nodes):
            detail = "layer"
            note = (f"{len(nodes)} nodes: drawn by layer (each module call is one node); "
                    "pass detail='op' for every op")
    if detail not in ("op", "layer"):
        raise ValueError(f"draw: detail must be 'op' or 'layer', got {detail!r}")
    if rankdir is None:
        rankdir = "TB" if detail == "layer" else "LR"
    flow = backward_flow(root) if mode == "backward" else None
    builder = _Builder(root, nodes, mode, show, max_elements, flow)
    fast = f", {FAST_LAYOUT}" if len(nodes) > FAST_LAYOUT_NODES and detail == "op" else ""
    if len(nodes) > LAYERED_NODES and detail == "op":
        builder.positions = _layered_positions(nodes, rankdir, builder)
        builder.clusters = False
        xs = [x for x, _ in builder.positions.values()]
        ys = [y for _, y in builder.positions.values()]
        bb = f"{min(xs) - 300:.0f},{min(ys) - 60:.0f},{max(xs) + 300:.0f},{max(ys) + 60:.0f}"
        fast = f', layout=nop, splines=false, bb="{bb}"'
        legend = False
        note = ((note + "; ") if note else "") + f"{len(nodes)} nodes: placed in layers by depth"
    body = builder.op_view() if detail == "op" else builder.layer_view()
    lines = ["digraph autograd_lab {",
             f'  graph [rankdir={rankdir}, fontname="DejaVu Sans", fontsize=11, nodesep=0.25, ranksep=0.4{fast}];',
             '  node [fontname="DejaVu Sans", fontsize=10];',
             '  edge [fontname="DejaVu Sans", fontsize=9];']
    heading = title or ("backward pass: gradients flow from the output to the leaves"
                        if mode == "backward" else None)
    label = "\\n".join(escape(t) for t in (heading, note) if t)
    if label:
        lines.append(f'  labelloc=t; label="{label}";')
    lines += body
    if legend:
        lines += builder.legend()
    lines.append("}")
    return Drawing("\n".join(lines), note, len(nodes))


def _layered_positions(nodes, rankdir, builder):
    """Positions (points) for value nodes v<i> and op nodes o<i>: one column per depth,
    spaced by the estimated size of the labels in it."""
    ids = {n: i for i, n in enumerate(nodes)}
    depth = {}
    for n in nodes:                                  # topological order: inputs first
        depth[n] = 0 if n.op is None else 2 + max((depth[x] for x in n.inputs), default=0)
    columns = {}
    for n in nodes:
        if n.op is not None:
            columns.setdefault(depth[n] - 1, []).append(("o", n))
        columns.setdefault(depth[n], []).append(("v", n))

    def size(entry):                                 # (along, across) extent in points
        kind, n = entry
        if kind == "o":
            return 60.0, 36.0
        fields = builder.value_fields(n).replace("\\n", "|").strip("{}").split("|")
        chars = sum(len(f) for f in fields) if fields[0] != "" else 4
        lines = len(fields)
        scalar = isinstance(n, Value) or np.size(n.data) == 1
        width = 7.0 * chars + 16 * len(fields) if scalar else 7.0 * max(len(f) for f in fields) + 16
        height = 36.0 if scalar else 18.0 * lines + 8
        return (width, height) if rankdir == "LR" else (height, width)

    # Deep graphs wrap after COLUMNS_PER_BAND columns into a new band below, like lines
    # of text: Graphviz gives up on drawings a few hundred thousand points long.
    row_of, placed = {}, []
    for index, d in enumerate(sorted(columns)):
        entries = columns[d]

        def mean_row(entry):                         # barycentre of the inputs: fewer crossings
            kind, n = entry
            sources = [row_of.get(("v", x)) for x in n.inputs] if kind == "o" else [row_of.get(("o", n))]
            sources = [r for r in sources if r is not None]
            return sum(sources) / len(sources) if sources else 0.0
        entries.sort(key=mean_row)
        for row, entry in enumerate(entries):
            row_of[entry] = row
        placed.append((index // COLUMNS_PER_BAND, entries, [size(e) for e in entries]))
    positions, band_start, band, along, previous_extent, band_depth = {}, 0.0, 0, 0.0, 0.0, 0.0
    for band_index, entries, sizes in placed:
        if band_index != band:                       # start the next band below this one
            band, band_start, along, previous_extent = band_index, band_start + band_depth + 80.0, 0.0, 0.0
            band_depth = 0.0
        extent = max(a for a, _ in sizes)
        along += previous_extent / 2 + extent / 2 + 40.0
        previous_extent = extent
        across = band_start
        for entry, (_, thick) in zip(entries, sizes):
            across += thick / 2
            x, y = (along, -across) if rankdir == "LR" else (across, -along)
            positions[f"{entry[0]}{ids[entry[1]]}"] = (x, y)
            across += thick / 2 + 12.0
        band_depth = max(band_depth, across - band_start)
    return positions


class _Builder:
    def __init__(self, root, nodes, mode, show, max_elements, flow):
        self.positions = None       # {"v3": (x, y)} when we lay the graph out ourselves
        self.clusters = True
        self.root, self.nodes, self.mode, self.show = root, nodes, mode, set(show)
        self.max_elements, self.flow = max_elements, flow
        self.ids = {n: i for i, n in enumerate(nodes)}
        self.kinds_used = set()

    # ---- value and op nodes ----------------------------------------------------
    def _grad_of(self, node):
        if self.flow is not None and node in self.flow.grads:
            return self.flow.grads[node]
        return node.grad

    def _node_attrs(self, kind):
        self.kinds_used.add(kind)
        st = STYLES[kind]
        return f'style="{st["style"]}", fillcolor="{st["fill"]}", penwidth={st["penwidth"]}'

    def value_fields(self, node):
        name = node.name or ""
        grad = self._grad_of(node)
        if isinstance(node, Value) or (np.size(node.data) == 1 and node.ndim == 0):
            fields = [name] if name else []
            if "value" in self.show:
                fields.append(f"data {_fmt(float(np.asarray(node.data)))}")
            if "grad" in self.show and node.requires_grad:
                g = None if grad is None else float(np.asarray(getattr(grad, "data", grad)))
                fields.append(f"grad {_fmt(g)}")
            return _record(fields or [" "], horizontal=True)
        fields = [name] if name else []
        if "shape" in self.show:
            fields.append(f"{tuple(node.shape)} {node.dtype}")
        if "value" in self.show:
            fields.append(_array_text(node.data, self.max_elements))
        if "grad" in self.show and node.requires_grad and grad is not None:
            g = np.asarray(getattr(grad, "data", grad))
            fields.append("grad " + (_array_text(g, self.max_elements) if g.size <= self.max_elements
                                     else f"norm {_fmt(_norm(g))}"))
        return _record(fields or [" "])

    @staticmethod
    def op_text(node):
        op = node.op
        text = op.symbol if op.symbol else op.name
        shown = {k: v for k, v in node.params.items() if k in ("axis", "kernel", "stride", "padding", "shape", "axes")}
        if shown:
            text += "\n" + ", ".join(f"{k}={v}" for k, v in shown.items())
        return text

    def _pos(self, name):
        if self.positions is None:
            return ""
        x, y = self.positions[name]
        return f', pos="{x:.0f},{y:.0f}!"'

    def value_node(self, node):
        i = self.ids[node]
        return (f'  v{i} [id="v{i}", shape=record, {self._node_attrs(kind_of(node, self.root))}, '
                f'label="{self.value_fields(node)}"{self._pos(f"v{i}")}];')

    def op_node(self, node):
        i = self.ids[node]
        fill = STYLES["backward"]["fill"] if node.from_backward else "#e8e8e8"
        return (f'  o{i} [id="o{i}", shape=ellipse, style=filled, fillcolor="{fill}", margin="0.04,0.02", '
                f'label="{escape(self.op_text(node))}"{self._pos(f"o{i}")}];')

    # ---- edges -------------------------------------------------------------------
    def _magnitudes(self):
        if self.flow is None:
            return None
        mags = [_norm(share) for _, share in self.flow.edges.values()]
        positive = [m for m in mags if m > 0]
        if not positive:
            return (0.0, 0.0)
        return (math.log10(min(positive)), math.log10(max(positive)))

    def edge_style(self, magnitude, span):
        """Darker and wider for larger gradients (log scale over this graph's edges)."""
        if span is None:
            return ""
        if magnitude <= 0:
            return ', color="#c8c8c8", style=dashed, penwidth=0.8'
        lo, hi = span
        t = 1.0 if hi <= lo else (math.log10(magnitude) - lo) / (hi - lo)
        light, dark = np.array([200, 200, 200]), np.array([120, 10, 30])
        r, g, b = (light + (dark - light) * t).astype(int)
        return f', color="#{r:02x}{g:02x}{b:02x}", penwidth={0.8 + 3.7 * t:.2f}'

    def _edge_key(self, node, position):
        return ("layer",) + position if isinstance(node, str) else (node, position)

    def edge_label(self, node, position):
        key = self._edge_key(node, position)
        if self.flow is None or key not in self.flow.edges:
            return ""
        local, share = self.flow.edges[key]
        upstream = None if isinstance(node, str) else self.flow.grads.get(node)
        if local is not None:
            up = float(np.asarray(upstream).sum())
            text = f"{_fmt(local)} × {_fmt(up)} = {_fmt(float(np.asarray(share).sum()))}"
        else:
            text = f"grad {tuple(np.shape(share))}, norm {_fmt(_norm(share))}"
        return f', label="{escape(text)}"'

    def edge(self, src, dst, node=None, position=None, span=None):
        """An edge drawn in data direction; in backward mode its arrow points back."""
        extra = ""
        if self.mode == "backward":
            extra = ", dir=back"
            if node is not None:
                key = self._edge_key(node, position)
                _, share = self.flow.edges.get(key, (None, None)) if self.flow else (None, None)
                extra += self.edge_label(node, position) + self.edge_style(_norm(share), span)
        return f"  {src} -> {dst} [{extra.lstrip(', ')}];"

    # ---- the two views ----------------------------------------------------------------
    def op_view(self):
        lines, clusters = [], {}
        span = self._magnitudes()
        for node in self.nodes:
            block = [self.value_node(node)]
            if node.op is not None:
                block.append(self.op_node(node))
            if node.scope and not node.is_leaf and self.clusters:
                clusters.setdefault((node.scope, node.module_type), []).extend(block)
            else:
                lines += block
        for k, ((path, type_name), block) in enumerate(clusters.items()):
            lines.append(f'  subgraph cluster_{k} {{ label="{escape(type_name + "  " + path)}"; '
                         'style="rounded,dashed"; color="#888888";')
            lines += ["  " + b for b in block]
            lines.append("  }")
        for node in self.nodes:
            if node.op is None:
                continue
            i = self.ids[node]
            lines.append(self.edge(f"o{i}", f"v{i}"))
            for position, x in enumerate(node.inputs):
                lines.append(self.edge(f"v{self.ids[x]}", f"o{i}", node, position, span))
        return lines

    def layer_view(self):
        groups = {}          # scope path -> list of nodes, in topological order
        for node in self.nodes:
            if node.scope and not node.is_leaf:
                groups.setdefault(node.scope, []).append(node)
        member = {n: path for path, ns in groups.items() for n in ns}
        consumers = {}
        for node in self.nodes:
            for x in node.inputs:
                consumers.setdefault(x, set()).add(member.get(node, node))
        # parameters and constants used only inside one layer are part of that layer
        absorbed = {}
        for node in self.nodes:
            if node.is_leaf and node is not self.root:
                users = consumers.get(node, set())
                if len(users) == 1 and isinstance(next(iter(users)), str) and \
                        kind_of(node, self.root) in ("parameter", "constant"):
                    absorbed[node] = next(iter(users))
        lines, gid = [], {path: f"g{k}" for k, path in enumerate(groups)}

        def rep(n):
            if n in member:
                return gid[member[n]]
            return f"v{self.ids[n]}"

        for path, ns in groups.items():
            out = ns[-1]
            params = sum(int(np.size(p.data)) for p, owner in absorbed.items()
                         if owner == path and p.requires_grad)
            kind = "output" if any(n is self.root for n in ns) else "value"
            fields = [out.module_type, path, f"{params:,} parameters", f"out {tuple(out.shape)}"]
            if self.flow is not None and out in self.flow.grads:
                fields.append(f"grad norm {_fmt(_norm(self.flow.grads[out]))}")
            lines.append(f'  {gid[path]} [id="{gid[path]}", shape=record, {self._node_attrs(kind)}, '
                         f'label="{_record(fields)}"];')
        # A layer may use its input in several ops (BatchNorm: the mean and x - mean): the
        # edge between two layers carries the sum of all those contributions.
        between = {}                      # (src, dst) -> list of (node, position)
        for node in self.nodes:
            if node in absorbed:
                continue
            if node not in member:
                lines.append(self.value_node(node))
                if node.op is not None:
                    lines.append(self.op_node(node))
                    lines.append(self.edge(f"o{self.ids[node]}", f"v{self.ids[node]}"))
            for position, x in enumerate(node.inputs):
                if x in absorbed:
                    continue
                src = rep(x)
                dst = rep(node) if node in member else f"o{self.ids[node]}"
                if src != dst:
                    between.setdefault((src, dst), []).append((node, position))
        if self.flow is not None:
            for (src, dst), uses in between.items():
                shares = [self.flow.edges[u][1] for u in uses if u in self.flow.edges]
                if len(uses) > 1 and shares:
                    total = shares[0]
                    for share in shares[1:]:
                        total = total + share
                    self.flow.edges[("layer", src, dst)] = (None, total)
        span = self._magnitudes()
        for (src, dst), uses in between.items():
            if self.flow is not None and ("layer", src, dst) in self.flow.edges:
                lines.append(self.edge(src, dst, "layer", (src, dst), span))
            else:
                lines.append(self.edge(src, dst, uses[0][0], uses[0][1], span))
        return lines

    def legend(self):
        kinds = [k for k in LEGEND if k in self.kinds_used]
        if len(kinds) < 2 and self.mode == "forward":
            return []
        lines = ['  subgraph cluster_legend { label="legend"; style=rounded; color="#aaaaaa"; fontsize=10;']
        for k in kinds:
            st = STYLES[k]
            lines.append(f'    legend_{k} [shape=box, style="{st["style"]}", fillcolor="{st["fill"]}", '
                         f'penwidth={st["penwidth"]}, fontsize=9, label="{escape(LEGEND[k])}"];')
        if self.mode == "backward":
            lines.append('    legend_edges [shape=plaintext, fontsize=9, label="edge labels: local derivative '
                         '× upstream gradient = contribution\\ndarker and wider edges carry larger gradients"];')
            kinds.append("edges")
        # one rank: with rankdir=LR the entries stack in a column
        lines.append("    { rank=same; " + "; ".join(f"legend_{k}" for k in kinds) + "; }")
        for a, b in zip(kinds, kinds[1:]):
            lines.append(f"    legend_{a} -> legend_{b} [style=invis];")
        lines.append("  }")
        return lines
