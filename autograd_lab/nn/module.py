"""`Module`: parameters, sub-modules, train/eval, state_dict, and scope recording.

Shaped like PyTorch's nn.Module so that what students learn here carries over.
Calling a module records its scope (e.g. "AudioCNN.features.0", type "Conv2d")
on every node it creates, so drawings can group and collapse layers.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..core.errors import ShapeError
from ..core.node import Tensor
from ..core.state import module_scope, state


def Parameter(data, name=None) -> Tensor:
    """A trainable tensor: a leaf with requires_grad=True (float data)."""
    arr = np.array(data.data if isinstance(data, Tensor) else data)
    if arr.dtype.kind != "f":
        arr = arr.astype(state.default_dtype)
    return Tensor(arr, requires_grad=True, name=name)


class StateDictError(KeyError):
    """load_state_dict found missing, unexpected or mis-shaped entries."""

    def __str__(self):   # KeyError would quote the whole message
        return self.args[0] if self.args else ""


class Module:
    """Base class of every layer and model.

    Assigning a Tensor with requires_grad=True registers a parameter; assigning a
    Module registers a child; `register_buffer` keeps non-trained state
    (BatchNorm's running statistics) in the state_dict.

    >>> import autograd_lab as al
    >>> class Tiny(al.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = al.nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    >>> model = Tiny()
    >>> [name for name, _ in model.named_parameters()]
    ['fc.weight', 'fc.bias']
    >>> model(al.tensor([[1.0, 2.0, 3.0]])).shape
    (1, 2)
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        if name in self._buffers and not isinstance(value, (Module, Tensor)):
            object.__setattr__(self, name, np.asarray(value))     # a buffer stays a buffer
            return
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Module):
            self._modules[name] = value
            object.__setattr__(value, "_scope_name", name)   # its name in scope paths
        elif isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
            if value.name is None:
                value.name = name
            self._parameters[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, array) -> None:
        """Keep an array (not trained) in the module's state_dict."""
        self._buffers[name] = None
        object.__setattr__(self, name, np.asarray(array))

    # ---- traversal ------------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        for name, p in self._parameters.items():
            yield (f"{prefix}.{name}" if prefix else name), p
        for name, child in self._modules.items():
            yield from child.named_parameters(f"{prefix}.{name}" if prefix else name)

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def _named_buffers(self, prefix=""):
        for name in self._buffers:
            yield (f"{prefix}.{name}" if prefix else name), self, name
        for name, child in self._modules.items():
            yield from child._named_buffers(f"{prefix}.{name}" if prefix else name)

    # ---- modes and gradients ------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: None (PyTorch's default), or zeros with set_to_none=False."""
        for p in self.parameters():
            p.grad = None if set_to_none else np.zeros_like(p.data)

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (False) or unfreeze every parameter, e.g. for fine-tuning one head."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def apply(self, fn):
        """Call fn(module) on every sub-module, then on this one (e.g. custom initialisation)."""
        for child in self._modules.values():
            child.apply(fn)
        fn(self)
        return self

    def named_buffers(self, prefix=""):
        for name, owner, attr in self._named_buffers(prefix):
            yield name, getattr(owner, attr)

    def buffers(self):
        return [b for _, b in self.named_buffers()]

    def add_module(self, name, module) -> None:
        setattr(self, name, module)

    register_module = add_module

    def register_parameter(self, name, param) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
            return
        if not (isinstance(param, Tensor) and param.requires_grad and param.is_leaf):
            raise TypeError(f"register_parameter: {name!r} must be a leaf Tensor with requires_grad=True")
        setattr(self, name, param)

    def get_submodule(self, target: str):
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no sub-module {part!r} (in {target!r})")
            module = module._modules[part]
        return module

    # ---- dtype and device ---------------------------------------------------------
    def to(self, *args, **kwargs):
        """Convert every floating parameter and buffer to a dtype, in place; return self.

        As in PyTorch: integer buffers (BatchNorm's num_batches_tracked) keep their dtype,
        and the parameters stay the same Tensor objects (their `.data` is replaced), so an
        optimizer built before keeps updating them. Accepts to(dtype), to("cpu"),
        to("cpu", dtype), to(tensor), to(dtype=...); other devices raise.

        >>> import autograd_lab as al
        >>> bn = al.nn.BatchNorm1d(3).to(al.float64)
        >>> bn.weight.dtype, bn.running_var.dtype, bn.num_batches_tracked.dtype
        (dtype('float64'), dtype('float64'), dtype('int64'))
        """
        from ..ops.creation import parse_to
        dtype = parse_to(type(self).__name__, args, kwargs)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: nn.Module.to only accepts floating dtypes, "
                            f"got {dtype}")
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None and p.data.dtype.kind == "f" and p.data.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    if isinstance(p.grad, np.ndarray):
                        p.grad = p.grad.astype(dtype)
            for name in module._buffers:
                array = getattr(module, name)
                if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.dtype != dtype:
                    object.__setattr__(module, name, array.astype(dtype))
        return self

    def double(self):
        """Floating parameters and buffers to float64 (in place); returns self."""
        return self.to(np.float64)

    def float(self):
        """Floating parameters and buffers to float32 (in place); returns self."""
        return self.to(np.float32)

    def half(self):
        """Floating parameters and buffers to float16 (in place); returns self."""
        return self.to(np.float16)

    def cpu(self):
        """Everything already lives on the CPU: returns self."""
        return self

    def cuda(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}.cuda(): autograd_lab runs on the CPU only "
                           "(numpy arrays); drop .cuda() / .to('cuda')")

    # ---- state ------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, by dotted name."""
        out = OrderedDict((name, np.array(p.data)) for name, p in self.named_parameters())
        for name, owner, attr in self._named_buffers():
            out[name] = np.array(getattr(owner, attr))
        return out

    def load_state_dict(self, state_dict, strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers, after checking every key and shape.

        Raises StateDictError listing the missing, unexpected and mis-shaped keys;
        nothing is changed unless everything fits.
        """
        targets = {name: ("param", p) for name, p in self.named_parameters()}
        for name, owner, attr in self._named_buffers():
            targets[name] = ("buffer", (owner, attr))
        # a counter that older checkpoints (and PyTorch's before version 2) lack: keep ours
        missing = [k for k in targets if k not in state_dict and not k.endswith(_OPTIONAL_KEYS)]
        unexpected = [k for k in state_dict if k not in targets]
        misshaped = []
        for key, (kind, target) in targets.items():
            if key in state_dict:
                have = np.shape(target.data if kind == "param" else getattr(*target))
                got = np.shape(state_dict[key])
                if have != got and not (have == () and got == (1,)):   # a counter stored as 1-D
                    misshaped.append(f"{key}: expected {have}, got {got}")
        if misshaped or (strict and (missing or unexpected)):
            lines = [f"load_state_dict into {type(self).__name__} refused:"]
            if missing:
                lines.append("  missing keys: " + ", ".join(missing))
            if unexpected:
                lines.append("  unexpected keys: " + ", ".join(unexpected))
            if misshaped:
                lines.append("  mis-shaped keys: " + "; ".join(misshaped))
            raise StateDictError("\n".join(lines))
        for key, (kind, target) in targets.items():
            if key not in state_dict:
                continue
            value = np.asarray(state_dict[key])
            if value.shape == (1,) and np.shape(target.data if kind == "param" else getattr(*target)) == ():
                value = value.reshape(())
            if kind == "param":
                target.data = np.array(value, dtype=target.data.dtype)
            else:
                owner, attr = target
                object.__setattr__(owner, attr, np.array(value, dtype=getattr(owner, attr).dtype))

    # ---- calling ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        parent = state.scope
        name = self.__dict__.get("_scope_name") or type(self).__name__
        path = name if parent is None else f"{parent[0]}.{name}"
        with module_scope(path, type(self).__name__, self):
            return self.forward(*args, **kwargs)

    # ---- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            lines[0] = lines[0] if self.extra_repr() else f"{type(self).__name__}("
            for name, child in self._modules.items():
                child_repr = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child_repr}")
            lines.append(")")
            return "\n".join(lines)
        return lines[0] + ")"


_OPTIONAL_KEYS = ("num_batches_tracked",)


def check_input(module, x, ndim, what):
    """A clear error when a layer gets an input of the wrong rank or width."""
    if x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ShapeError(f"{type(module).__name__}: expected input {what}, got shape {x.shape}")
