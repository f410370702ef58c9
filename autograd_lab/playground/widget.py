"""The playground in a Jupyter notebook: an anywidget that shows the page.

The page needs the Python session beside it, so the widget starts the same
local server in a background thread and frames its page; nothing else changes.
anywidget is an optional dependency (the `notebook` extra).
"""
from __future__ import annotations

_ESM = """
function render({ model, el }) {
  const frame = document.createElement("iframe");
  frame.src = model.get("url");
  frame.style.width = "100%";
  frame.style.height = model.get("height") + "px";
  frame.style.border = "0";
  el.appendChild(frame);
}
export default { render };
"""


def widget(height: int = 900, settings=None, port: int = 0):
    """The playground as a notebook widget (needs `pip install anywidget`).

    The server stops with the kernel; `w.server.shutdown()` stops it earlier.
    """
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise ImportError("widget() needs anywidget: pip install 'autograd-lab[notebook]' "
                          "(or pip install anywidget)") from None
    from .server import start
    from .session import Session

    class PlaygroundWidget(anywidget.AnyWidget):
        _esm = _ESM
        url = traitlets.Unicode().tag(sync=True)
        height = traitlets.Int(900).tag(sync=True)

    server = start(port=port, session=Session(settings or {}))
    w = PlaygroundWidget(url=server.url, height=height)
    w.server = server
    return w
