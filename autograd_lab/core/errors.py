"""The errors autograd_lab raises on purpose, so callers can catch them by type."""


class ShapeError(ValueError):
    """Shapes that an op cannot combine (broadcasting, matmul, reshape...).

    The message names the op and every input shape.
    """


class GraphFreedError(RuntimeError):
    """backward() through a graph whose saved state was already released."""


class AnomalyError(FloatingPointError):
    """A NaN or Inf produced inside `al.detect_anomaly()`."""


class GradcheckError(AssertionError):
    """An analytic gradient that disagrees with finite differences."""
