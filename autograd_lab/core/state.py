"""Global switches of the engine: grad mode, default dtype, anomaly mode.

They live in one small object so the hot path reads plain attributes.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np


class _State:
    __slots__ = ("grad_enabled", "default_dtype", "anomaly", "in_backward", "scope",
                 "meta_active")

    def __init__(self):
        self.grad_enabled = True          # record ops into the graph
        self.default_dtype = np.dtype(np.float32)
        self.anomaly = False              # check every result for NaN/Inf
        self.in_backward = False          # nodes made now belong to a backward pass
        self.scope = None                 # name of the nn.Module being called
        self.meta_active = False          # any of the three above is on

    def refresh(self):
        self.meta_active = self.anomaly or self.in_backward or self.scope is not None


state = _State()


def set_default_dtype(dtype) -> None:
    """Set the floating dtype of tensors made from Python lists and scalars.

    >>> import autograd_lab as al, numpy as np
    >>> al.set_default_dtype(np.float64); al.tensor([1, 2]).dtype
    dtype('float64')
    >>> al.set_default_dtype(np.float32)
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: need a floating dtype, got {dtype}")
    state.default_dtype = dtype


def get_default_dtype() -> np.dtype:
    return state.default_dtype


@contextlib.contextmanager
def _switch(attr, value):
    old = getattr(state, attr)
    setattr(state, attr, value)
    state.refresh()
    try:
        yield
    finally:
        setattr(state, attr, old)
        state.refresh()


class _GradMode:
    """A context manager that is also a decorator, with or without parentheses, as in PyTorch."""
    enabled = False

    def __init__(self, func=None):
        self._func = func
        if func is not None:
            functools.update_wrapper(self, func)

    def __enter__(self):
        self._old = state.grad_enabled
        state.grad_enabled = self.enabled
        state.refresh()
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._old
        state.refresh()
        return False

    def __call__(self, *args, **kwargs):
        if self._func is None:                 # @no_grad(): decorate the function given
            (func,) = args
            return type(self)(func)
        with type(self)():                     # a fresh context per call: recursion is safe
            return self._func(*args, **kwargs)

    def __get__(self, obj, objtype=None):      # decorated methods still bind self
        return self if obj is None else functools.partial(self.__call__, obj)


class no_grad(_GradMode):
    """Context (or decorator) in which ops are computed but not recorded (no graph, no grads).

    >>> import autograd_lab as al
    >>> w = al.tensor([1.0], requires_grad=True)
    >>> with al.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    >>> @al.no_grad
    ... def predict(x):
    ...     return w * x
    >>> predict(3.0).requires_grad
    False
    """
    enabled = False


class enable_grad(_GradMode):
    """Context (or decorator) that turns recording back on inside `no_grad()`."""
    enabled = True


inference_mode = no_grad      # PyTorch's faster no_grad; here the same thing


class set_grad_enabled(_GradMode):
    """Turn recording on or off: as a context (`with al.set_grad_enabled(train):`) or a call."""

    def __init__(self, mode: bool):
        self.enabled, self._func = bool(mode), None
        self._old = state.grad_enabled
        state.grad_enabled = self.enabled      # a plain call switches at once, as in PyTorch
        state.refresh()

    def __enter__(self):
        return self

    def __call__(self, func):
        mode = self.enabled
        self.__exit__()

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return func(*args, **kwargs)
        return wrapper


def is_grad_enabled() -> bool:
    return state.grad_enabled


def detect_anomaly():
    """Context in which the first NaN or Inf made in forward or backward raises.

    The error names the op and the line of user code that created the node.

    >>> import autograd_lab as al
    >>> x = al.tensor([0.0], requires_grad=True)
    >>> with al.detect_anomaly():
    ...     y = al.log(x)            # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    AnomalyError: log produced -inf ...
    """
    return _switch("anomaly", True)


def module_scope(path, type_name="", module=None):
    """Context that tags the nodes created inside it with a scope (nn.Module does this)."""
    return _switch("scope", (path, type_name, module))
