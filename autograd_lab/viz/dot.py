"""DOT text for the op view and the layer views: node records, edges, the legend.

Labels are records and plain strings (not HTML-like labels, which the in-process
WebAssembly Graphviz does not support). Every piece of user text goes through `escape`
(plain labels) or `escape_record` (record fields), so names containing < > " { } | \\ &
or newlines cannot break the DOT source; Graphviz escapes text when it writes the SVG.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.node import Value
from .flow import norm
from .names import kind_of

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
LEGEND = {"input": "input (data)", "parameter": "parameter", "constant": "constant",
          "value": "intermediate value", "output": "output", "backward": "node of a backward pass"}
FONT = 'fontname="DejaVu Sans"'
NODE_FONT, LEGEND_FONT = 10, 10       # the legend is never larger than the node text


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


def record(fields, flip=False) -> str:
    """Record label; `flip` turns the fields across the rank direction ({...} in DOT)."""
    body = "|".join(escape_record(f) for f in fields)
    return "{" + body + "}" if flip else body


def fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, (float, int, np.floating, np.integer)):
        x = float(x)
        return f"{x:.4f}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"
    return str(x)


def array_text(a, max_elements):
    a = np.asarray(a)
    if a.size <= max_elements:
        return np.array2string(a, precision=3, separator=", ", suppress_small=True, max_line_width=48)
    finite = a[np.isfinite(a)] if a.dtype.kind in "fc" else a
    if finite.size == 0:
        return "no finite values"
    return f"min {fmt(finite.min())}  mean {fmt(finite.mean())}  max {fmt(finite.max())}"


def scalar(x) -> float:
    return float(np.asarray(getattr(x, "data", x)).reshape(-1)[0])


class DotBuilder:
    """Writes one picture's nodes and edges; remembers the boxes and edges it drew (for layout)."""

    def __init__(self, root, names, mode, show, max_elements, flow, scale, rankdir):
        self.root, self.names, self.mode, self.show = root, names, mode, set(show)
        self.max_elements, self.flow, self.scale, self.rankdir = max_elements, flow, scale, rankdir
        self.ids = {}
        self.kinds_used, self.boxes, self.links = set(), [], []
        self.span = None
        self.positions = None       # {key: (x, y)} when we lay the graph out ourselves

    def id(self, key) -> str:
        """A DOT id for a box key ("v"/"o", node) or ("g"/"b", name)."""
        if key not in self.ids:
            self.ids[key] = f"{key[0]}{len(self.ids)}"
        return self.ids[key]

    def grad_of(self, node):
        if self.flow is not None:
            return self.flow.grads.get(node)
        return node.grad if node.requires_grad else None

    def _box(self, key, attrs, label, kind=None):
        if kind:
            self.kinds_used.add(kind)
            st = STYLES[kind]
            attrs += f', style="{st["style"]}", fillcolor="{st["fill"]}", penwidth={st["penwidth"]}'
        i = self.id(key)
        self.boxes.append(i)
        if self.positions is not None:
            x, y = self.positions[key]
            attrs += f', pos="{x:.0f},{y:.0f}!"'
        return f'  {i} [id="{i}", {attrs}, label="{label}"];'

    # ---- value and op nodes --------------------------------------------------
    def value_fields(self, node):
        fields = [self.names[node]]
        grad = self.grad_of(node)
        if isinstance(node, Value) or (np.size(node.data) == 1 and node.ndim == 0):
            if "value" in self.show:
                fields.append(f"data {fmt(scalar(node))}")
            if "grad" in self.show and node.requires_grad and grad is not None:
                fields.append(f"grad {fmt(scalar(grad))}")
            return record(fields, flip=True)      # one line along LR ranks, a column in TB
        if "shape" in self.show:
            fields.append(f"{tuple(node.shape)} {node.dtype}")
        if "value" in self.show:
            fields.append(array_text(node.data, self.max_elements))
        if "grad" in self.show and node.requires_grad and grad is not None:
            g = np.asarray(getattr(grad, "data", grad))
            fields.append("grad " + (array_text(g, self.max_elements) if g.size <= self.max_elements
                                     else f"norm {fmt(norm(g))}"))
        return record(fields, flip=self.rankdir != "LR")

    def value_node(self, node):
        return self._box(("v", node), "shape=record", self.value_fields(node), kind_of(node, self.root))

    def op_node(self, node):
        fill = STYLES["backward"]["fill"] if node.from_backward else "#e8e8e8"
        text = node.op.symbol or node.op.name
        shown = {k: v for k, v in node.params.items() if k in ("axis", "kernel", "stride", "padding", "shape", "axes")}
        if shown:
            text += "\n" + ", ".join(f"{k}={v}" for k, v in shown.items())
        return self._box(("o", node), f'shape=ellipse, style=filled, fillcolor="{fill}", margin="0.04,0.02"',
                         escape(text))

    # ---- edges -----------------------------------------------------------------
    def set_span(self, shares):
        mags = [norm(s) for s in shares]
        positive = [m for m in mags if m > 0]
        self.span = (min(positive), max(positive)) if positive else (0.0, 0.0)

    def edge_style(self, magnitude):
        """Darker and wider for larger gradients: linear in |gradient| (or log) over this picture."""
        if self.span is None:
            return ""
        if magnitude <= 0:
            return ', color="#c8c8c8", style=dashed, penwidth=0.8'
        lo, hi = self.span
        if self.scale == "log":
            t = 1.0 if hi <= lo else (math.log10(magnitude) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        else:
            t = 1.0 if hi <= 0 else magnitude / hi
        light, dark = np.array([200, 200, 200]), np.array([120, 10, 30])
        r, g, b = (light + (dark - light) * t).astype(int)
        return f', color="#{r:02x}{g:02x}{b:02x}", penwidth={0.8 + 3.7 * t:.2f}'

    def edge(self, src, dst, share=None, local=None, upstream=None):
        """An edge drawn in data direction; in backward mode its arrow points back and it is
        labelled `local × upstream = contribution` (scalars) or the gradient's shape and norm."""
        self.links.append((src, dst))
        if self.mode != "backward" or self.flow is None:
            return f"  {src} -> {dst};" if self.mode != "backward" else f"  {src} -> {dst} [dir=back];"
        if share is None:
            return f"  {src} -> {dst} [dir=back];"
        if local is not None:
            text = f"{fmt(local)} × {fmt(scalar(upstream))} = {fmt(scalar(share))}"
        elif np.size(share) == 1:
            text = f"grad {fmt(scalar(share))}"
        else:
            text = f"grad {tuple(np.shape(share))}, norm {fmt(norm(share))}"
        # padded: Graphviz reserves the label's width from its own font metrics, which run
        # narrower than the DejaVu Sans the picture is drawn in
        return f'  {src} -> {dst} [dir=back, label="  {escape(text)}  "{self.edge_style(norm(share))}];'

    def legend(self):
        kinds = [k for k in LEGEND if k in self.kinds_used]
        if len(kinds) < 2 and self.mode == "forward":
            return []
        lines = ['  subgraph cluster_legend { label="legend"; style=rounded; color="#aaaaaa"; '
                 f"fontsize={LEGEND_FONT};"]
        for k in kinds:
            st = STYLES[k]
            lines.append(f'    legend_{k} [shape=box, style="{st["style"]}", fillcolor="{st["fill"]}", '
                         f'penwidth={st["penwidth"]}, fontsize={LEGEND_FONT}, label="{escape(LEGEND[k])}"];')
        if self.mode == "backward" and self.span is not None:
            lo, hi = self.span
            scale = (f"width and darkness grow linearly with |gradient|: thickest = {fmt(hi)}"
                     if self.scale != "log" else
                     f"width and darkness grow with log |gradient|, from {fmt(lo)} to {fmt(hi)}")
            text = "scalar edges: local derivative × upstream gradient = contribution\n" + scale
            lines.append(f'    legend_edges [shape=plaintext, fontsize={LEGEND_FONT}, label="{escape(text)}"];')
            kinds.append("edges")
        lines.append("    { rank=same; " + "; ".join(f"legend_{k}" for k in kinds) + "; }")
        for a, b in zip(kinds, kinds[1:]):
            lines.append(f"    legend_{a} -> legend_{b} [style=invis];")
        lines.append("  }")
        return lines


# ---- the views ------------------------------------------------------------------------
def op_view(b: DotBuilder, nodes, groups):
    """Every value and every op; the ops of one group (module call, neuron) in a dashed box."""
    lines, clusters = [], {}
    for node in nodes:
        block = [b.value_node(node)]
        if node.op is not None:
            block.append(b.op_node(node))
        if node in groups:
            clusters.setdefault(groups[node], []).extend(block)
        else:
            lines += block
    for k, (name, block) in enumerate(clusters.items()):
        first = next(n for n in nodes if groups.get(n) == name)
        title = f"{first.module_type}  {name}" if first.scope else name
        lines.append(f'  subgraph cluster_{k} {{ label="{escape(title)}"; style="rounded,dashed"; color="#888888";')
        lines += ["  " + x for x in block]
        lines.append("  }")
    flow = b.flow
    if flow is not None:
        b.set_span([share for _, share in flow.edges.values()])
    for node in nodes:
        if node.op is None:
            continue
        lines.append(b.edge(b.id(("o", node)), b.id(("v", node))))
        for position, x in enumerate(node.inputs):
            local, share = flow.edges.get((node, position), (None, None)) if flow else (None, None)
            lines.append(b.edge(b.id(("v", x)), b.id(("o", node)), share, local, flow.grads.get(node) if flow else None))
    return lines


def _group_fields(b: DotBuilder, name, members, params):
    out = members[-1]
    kind = out.module_type if out.scope else ("neuron" if "." in name.partition("#")[0] else "layer")
    count = sum(int(np.size(p.data)) for p in params if p.requires_grad)
    fields = [name if kind == name else f"{kind}  {name}", f"{count:,} parameters"]
    grad = b.grad_of(out)
    outputs = [n for n in members if n._meta and n._meta.get("neuron")]   # a scalar layer: its neurons
    if len(outputs) > 1:
        grads = [b.grad_of(n) for n in outputs]
        fields.append(f"{len(outputs)} outputs, norm {fmt(math.sqrt(sum(scalar(n) ** 2 for n in outputs)))}")
        if all(g is not None for g in grads):
            fields.append(f"out grad norm {fmt(math.sqrt(sum(scalar(g) ** 2 for g in grads)))}")
    elif np.size(out.data) == 1:
        fields.append(f"out {fmt(scalar(out))}" + (f"  grad {fmt(scalar(grad))}" if grad is not None else ""))
    else:
        fields.append(f"out {tuple(out.shape)}")
        if grad is not None:
            fields.append(f"out grad norm {fmt(norm(grad))}")
    if b.flow is not None and count:
        pnorm = math.sqrt(sum(norm(b.flow.grads.get(p)) ** 2 for p in params))
        fields.append(f"parameter grad norm {fmt(pnorm)}")
    return fields


def _bundle_fields(b: DotBuilder, name, params):
    rows = {}
    for p in params:                      # one row per neuron: "L1.n3.w0" -> "n3"
        rows.setdefault(p.name.rsplit(".", 1)[0], []).append(p)
    fields = [f"weights  {name}"]
    for owner, ps in rows.items():
        short = owner[len(name) + 1:] if owner.startswith(name + ".") else ""
        w = math.sqrt(sum(scalar(p) ** 2 for p in ps))
        text = f"{short + ': ' if short else ''}{len(ps)} values, |w| {fmt(w)}"
        if b.flow is not None:
            text += f", |grad| {fmt(math.sqrt(sum(norm(b.flow.grads.get(p)) ** 2 for p in ps)))}"
        fields.append(text)
    return fields


def layer_view(b: DotBuilder, c):
    """One box per group (with its parameters' count and gradient norm), one record per
    bundle of shared parameters, the other nodes as in the op view."""
    lines = []
    absorbed_by = {}
    for leaf, group in c.absorbed.items():
        absorbed_by.setdefault(group, []).append(leaf)
    for name, members in c.members.items():
        params = [p for p in absorbed_by.get(name, []) if p.requires_grad]
        params += [p for p in c.bundle_of if any(p in m.inputs for m in members)]
        kind = "output" if any(n is b.root for n in members) else "value"
        flip = b.rankdir != "LR"
        lines.append(b._box(("g", name), "shape=record", record(_group_fields(b, name, members, params), flip), kind))
    for name, params in c.bundles.items():
        lines.append(b._box(("b", name), "shape=record", record(_bundle_fields(b, name, params), b.rankdir != "LR"),
                            "parameter"))
    for node in c.free:
        lines.append(b.value_node(node))
        if node.op is not None:
            lines.append(b.op_node(node))
            lines.append(b.edge(b.id(("o", node)), b.id(("v", node))))
    # a box may use an input in several ops (BatchNorm: the mean and x - mean): the edge
    # between two boxes carries the sum of all those contributions
    shares = {}
    if b.flow is not None:
        for pair, uses in c.between.items():
            parts = [b.flow.edges[u][1] for u in uses if u in b.flow.edges]
            if parts:
                total = parts[0]
                for p in parts[1:]:
                    total = total + p
                shares[pair] = (total, b.flow.edges[uses[0]][0] if len(uses) == 1 else None)
        b.set_span([s for s, _ in shares.values()])
    for (src, dst), uses in c.between.items():
        share, local = shares.get((src, dst), (None, None))
        upstream = b.flow.grads.get(uses[0][0]) if b.flow is not None and dst[0] == "o" else None
        if upstream is None:
            local = None
        lines.append(b.edge(b.id(src), b.id(dst), share, local, upstream))
    return lines
