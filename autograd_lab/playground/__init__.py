"""The playground: TF Playground's interactive network, trained on our engine, with
each point's forward and backward pass one click away.

`autograd-lab playground` (or `serve()`) runs a local server and opens its page;
`start()` runs one in a background thread; `widget()` shows the page in Jupyter.
"""
from .datasets import DATASETS, make_dataset  # noqa: F401
from .session import Session, SettingsError, parse_csv, parse_settings  # noqa: F401
from .server import PlaygroundServer, serve, start  # noqa: F401
from .widget import widget  # noqa: F401
