"""The ops: the primitive table, the public functions, and operator bindings."""
from . import primitives, spatial, functions, methods, creation  # noqa: F401  (methods binds operators on import)
