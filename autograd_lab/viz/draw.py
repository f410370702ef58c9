"""`al.draw`: the forward and the backward pass as Graphviz pictures that fit a slide.

Forward: value nodes (name, value, gradient) and op nodes, as in micrograd's drawing,
styled by kind (input, parameter, constant, output, backward-pass node) with a legend.
Backward: the same with arrows from the output back to the leaves; scalar edges read
`local × upstream = contribution` (the chain rule), array edges the gradient's shape and
norm; edge darkness and width grow linearly with the gradient (log scale on request).

Level of detail: every op, or (networks) one box per neuron call or per layer / module
call. By default the finest level whose picture fits the size rule (layout.py), with a
caption saying what was collapsed. This module only orchestrates: names.py names the
nodes, groups.py collapses layers, dot.py writes DOT, layout.py fits, render.py renders.
"""
from __future__ import annotations

import os

from ..core.engine import topological_order
from .dot import FONT, NODE_FONT, DotBuilder, escape, escape_record, layer_view, op_view  # noqa: F401
from .flow import Flow, backward_flow  # noqa: F401
from .groups import LEVELS, collapse, grouping
from .layout import LAYERED_NODES, candidates, depths, fits, layered_positions, measure, slide_scale, wrap_columns
from .names import kind_of, node_names  # noqa: F401
from .render import RenderError, render

# Op views are tried by default only up to this many nodes when the graph has layers to
# collapse to: a 55-node CNN drawn op by op was 72,126 px long.
OP_NODES = 60
# Above this many nodes, cap Graphviz's crossing minimisation and network simplex and
# draw straight edges: a 527-node graph took 4 s this way and over 5 minutes without.
FAST_LAYOUT_NODES = 150
FAST_LAYOUT = "mclimit=0.1, nslimit=2, nslimit1=2, splines=line, remincross=false, searchsize=10"
_COARSER = {"op": "every op", "neuron": "each neuron call as one node", "layer": "each layer call as one node"}


class Drawing:
    """A graph picture: `.source` (DOT), `.save(path)` (.svg .png .pdf .dot, or .html for the
    interactive viewer), and display in Jupyter (SVG and PNG; `.interactive()` for the viewer)."""

    def __init__(self, source: str, note: str | None = None, node_count: int = 0, root=None,
                 mode="forward", detail="op", svg: bytes | None = None):
        self.source, self.note, self.node_count = source, note, node_count
        self.root, self.mode, self.detail = root, mode, detail
        self._svg = svg

    def pipe(self, fmt: str = "svg") -> bytes:
        if fmt == "svg" and self._svg is not None:
            return self._svg
        return render(self.source, fmt)

    def save(self, path) -> str:
        """Write the picture; the format follows the suffix (.svg, .png, .pdf, .dot, .html)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        if not fmt:
            raise RenderError(f"save: {path!r} has no suffix; use .svg, .png, .pdf, .dot or .html")
        if fmt in ("html", "htm"):
            return self.interactive().save(path)
        data = self.pipe(fmt)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def interactive(self):
        """The interactive viewer of the same graph (pan, zoom, layers, hover, search)."""
        from .viewer import Viewer
        if self.root is None:
            raise RenderError("this drawing was made from DOT text alone: draw a graph to get a viewer")
        return Viewer(self.root, mode=self.mode)

    def _repr_svg_(self):
        return self.pipe("svg").decode()

    def _repr_png_(self):
        return self.pipe("png")

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/svg+xml": self._repr_svg_(), "image/png": self._repr_png_(),
                "text/plain": f"<Drawing: {self.node_count} nodes, detail={self.detail!r}>"}


def draw(root, mode="forward", detail=None, show=("value", "grad", "shape"), rankdir=None,
         max_elements=16, legend=True, title=None, scale="linear") -> Drawing:
    """Draw the graph that produced `root`.

    mode     "forward" (data flow) or "backward" (gradients, output to leaves)
    detail   "op" (every op), "neuron" (scalar networks: each neuron call one node) or
             "layer" (each layer / nn.Module call one node); by default the finest
             level that fits a slide (layout.py), said in the caption
    show     what value nodes display: any of "value", "grad", "shape"
    rankdir  "LR" (left to right) or "TB" (top to bottom); by default what fits
    scale    edge width and darkness grow "linear"ly with the gradient, or with its "log"

    >>> import autograd_lab as al
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> L = a * b; L.backward()
    >>> d = al.draw(L, mode="backward")
    >>> "-3.0000 × 1.0000 = -3.0000" in d.source
    True
    """
    if mode not in ("forward", "backward"):
        raise ValueError(f"draw: mode must be 'forward' or 'backward', got {mode!r}")
    if detail is not None and detail not in LEVELS:
        raise ValueError(f"draw: detail must be one of {', '.join(LEVELS)}, got {detail!r}")
    if scale not in ("linear", "log"):
        raise ValueError(f"draw: scale must be 'linear' or 'log', got {scale!r}")
    nodes = topological_order(root)
    flow = backward_flow(root) if mode == "backward" else None
    names = node_names(nodes)
    has_neurons = any(n._meta and n._meta.get("neuron") for n in nodes)
    has_groups = has_neurons or any(n.scope for n in nodes)
    if detail is not None:
        levels = [detail]
    else:
        levels = ["op"] if len(nodes) <= OP_NODES or not has_groups else []
        levels += (["neuron", "layer"] if has_neurons else ["layer"]) if has_groups else []
    heading = title or ("backward pass: gradients flow from the output to the leaves" if mode == "backward" else None)
    best = None
    for level in levels:
        groups = grouping(nodes, "neuron" if level == "op" else level)
        note = None if level == "op" else (
            f"{len(nodes)} nodes, drawn with {_COARSER[level]}; "
            f"pass detail='op'{' or detail=' + repr('neuron') if level == 'layer' and has_neurons else ''} "
            "to see more, or save as .html to expand layers one by one")
        if level == "op" and len(nodes) > LAYERED_NODES:
            source = _layered_source(root, nodes, names, mode, show, max_elements, flow, scale,
                                     rankdir or "LR", heading, groups)
            return Drawing(source, f"{len(nodes)} nodes: placed in layers by depth", len(nodes), root, mode, level)
        collapsed = collapse(nodes, root, groups, level) if level != "op" else None
        n_depths = 0
        if level != "op":                          # the wrap widths follow the number of depths
            probe = DotBuilder(root, names, mode, show, max_elements, flow, scale, "TB")
            layer_view(probe, collapsed)
            n_depths = 1 + max(depths(probe.boxes, probe.links).values(), default=0)
        tries = candidates(level, rankdir, n_depths)
        for direction, per_column in tries:
            builder = DotBuilder(root, names, mode, show, max_elements, flow, scale, direction)
            body = op_view(builder, nodes, groups) if level == "op" else layer_view(builder, collapsed)
            if per_column:
                body += wrap_columns(builder.boxes, builder.links, per_column)
            source = _document(builder, body, direction, heading, note, legend, mode == "backward",
                               fast=len(nodes) > FAST_LAYOUT_NODES and level == "op")
            if len(levels) == 1 and len(tries) == 1:
                return Drawing(source, note, len(nodes), root, mode, level)
            try:
                svg = render(source, "svg")
            except RenderError:    # no Graphviz here: keep the DOT text; pipe() says what to install
                return Drawing(source, note, len(nodes), root, mode, level)
            size = measure(svg)
            drawing = Drawing(source, note, len(nodes), root, mode, level, svg)
            # among the layouts that fit, keep the one whose text is largest on a 16:9 slide
            score = (fits(size), slide_scale(size))
            if best is None or score > best[0]:
                best = (score, drawing)
        if best[0][0]:
            return best[1]
    return best[1]


def _document(builder, body, rankdir, heading, note, legend, labelled=False, fast=False, extra=""):
    # labelled edges sit side by side in a rank: more room between them, so labels never touch
    lines = ["digraph autograd_lab {",
             f"  graph [rankdir={rankdir}, {FONT}, fontsize=12, nodesep={0.5 if labelled else 0.25}, ranksep=0.4"
             f"{', ' + FAST_LAYOUT if fast else ''}{extra}];",
             f"  node [{FONT}, fontsize={NODE_FONT}];",
             f"  edge [{FONT}, fontsize={NODE_FONT}];"]
    label = "\\n".join(escape(t) for t in (heading, note) if t)
    if label:
        lines.append(f'  labelloc=t; label="{label}";')
    lines += body
    if legend:
        lines += builder.legend()
    lines.append("}")
    return "\n".join(lines)


def _layered_source(root, nodes, names, mode, show, max_elements, flow, scale, rankdir, heading, groups):
    builder = DotBuilder(root, names, mode, show, max_elements, flow, scale, rankdir)
    builder.positions = layered_positions(nodes, rankdir, builder.value_fields)
    body = op_view(builder, nodes, groups)
    xs = [x for x, _ in builder.positions.values()]
    ys = [y for _, y in builder.positions.values()]
    bb = f"{min(xs) - 300:.0f},{min(ys) - 60:.0f},{max(xs) + 300:.0f},{max(ys) + 60:.0f}"
    note = f"{len(nodes)} nodes: placed in layers by depth"
    return _document(builder, body, rankdir, heading, note, legend=False, labelled=mode == "backward",
                     extra=f', layout=nop, splines=false, bb="{bb}"')
