"""Pictures of the graph: Graphviz drawings, the chain rule spelled out, summaries, plots,
the step-by-step page and the interactive viewer."""
from .draw import Drawing, backward_flow, draw, escape  # noqa: F401
from .render import RenderError  # noqa: F401
from .explain import Explanation, explain, to_sympy  # noqa: F401
from .summary import Summary, summary  # noqa: F401
from .stepper import Stepper, backprop_steps, save_backprop_html, stepper  # noqa: F401
from .viewer import Viewer, save_viewer_html  # noqa: F401
