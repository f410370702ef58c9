"""Fitting a drawing on a slide: measure, then choose direction, wrapping and detail.

The size rule (docs/drawing.md): at the default scale (PNG at 2 px per point) the long
side is at most 5,000 px and the aspect ratio at most 3:1, with no text smaller than
the legend's. `draw` tries the candidate layouts of a level of detail in order and keeps
the first that fits, measured on the SVG Graphviz writes; beyond a level that cannot fit,
it draws coarser (ops -> neurons -> layers).
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..core.node import Value

PX_PER_PT = 2.0              # the PNG scale (render.PNG_ZOOM 1.5 x 4/3 px per point)
MAX_SIDE_PX = 5000
MAX_ASPECT = 3.0
# Above this many nodes Graphviz's own layout is too slow in WebAssembly (1,000 nodes:
# 30 s; 3,000: out of memory), so the op view places nodes itself and Graphviz only draws.
LAYERED_NODES = 1000
COLUMNS_PER_BAND = 40


def measure(svg: bytes) -> tuple:
    """(width, height) in points of a Graphviz SVG."""
    head = svg[:2000].decode(errors="replace")
    w = re.search(r'width="([\d.]+)pt"', head)
    h = re.search(r'height="([\d.]+)pt"', head)
    return float(w.group(1)), float(h.group(1))


def fits(size) -> bool:
    w, h = size
    return max(w, h) * PX_PER_PT <= MAX_SIDE_PX and max(w, h) <= MAX_ASPECT * max(min(w, h), 1.0)


def slide_scale(size) -> float:
    """How much a picture of this size must be scaled to fill a 16:9 slide (bigger: larger text)."""
    w, h = size
    return min(1600 / max(w, 1.0), 900 / max(h, 1.0))


def depths(boxes, links) -> dict:
    """Longest-path depth of every box over the links (src, dst), sources at 0."""
    preds = {b: [] for b in boxes}
    for s, d in links:
        if d in preds and s in preds:
            preds[d].append(s)
    depth, pending = {}, list(boxes)
    while pending:                       # boxes arrive in topological order but not always
        rest = []
        for b in pending:
            if all(p in depth for p in preds[b]):
                depth[b] = 1 + max((depth[p] for p in preds[b]), default=-1)
            else:
                rest.append(b)
        if len(rest) == len(pending):    # cannot happen on an acyclic graph; be safe anyway
            depth.update({b: 0 for b in rest})
            break
        pending = rest
    return depth


def wrap_columns(boxes, links, per_column) -> list:
    """DOT lines that wrap a long chain into columns of `per_column` ranks, side by side like
    newspaper columns: depth d goes on rank d mod per_column. (Rows of flat edges would be the
    other way, but the WebAssembly Graphviz misplaces labelled flat edges.)"""
    depth = depths(boxes, links)
    ranks = {}
    for b in boxes:
        ranks.setdefault(depth[b] % per_column, []).append(b)
    return ["  { rank=same; " + "; ".join(r) + "; }" for r in ranks.values()]


def candidates(level, rankdir, n_depths):
    """(rankdir, boxes per row or None) to try at this level of detail, best first."""
    if rankdir is not None:
        return [(rankdir, None)]
    if level == "op":
        return [("LR", None), ("TB", None)]
    wraps = [("TB", per_column) for per_column in sorted({max(2, math.ceil(n_depths / k)) for k in (2, 3, 4, 6)},
                                                   reverse=True)]
    return [("TB", None), ("LR", None)] + wraps


def layered_positions(nodes, rankdir, value_fields):
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
        fields = value_fields(n).replace("\\n", "|").strip("{}").split("|")
        chars = sum(len(f) for f in fields) if fields[0] != "" else 4
        scalar = isinstance(n, Value) or np.size(n.data) == 1
        width = 7.0 * chars + 16 * len(fields) if scalar else 7.0 * max(len(f) for f in fields) + 16
        height = 36.0 if scalar else 18.0 * len(fields) + 8
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
            positions[(entry[0], entry[1])] = (x, y)
            across += thick / 2 + 12.0
        band_depth = max(band_depth, across - band_start)
    return positions
