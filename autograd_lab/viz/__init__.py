"""Pictures of the graph: Graphviz drawings, the chain rule spelled out, summaries, plots."""
from .draw import Drawing, backward_flow, draw, escape  # noqa: F401
from .render import RenderError  # noqa: F401
