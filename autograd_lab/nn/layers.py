"""Layers: thin modules over nn.functional, each with its parameters and a readable repr."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..core.errors import ShapeError
from ..core.state import state
from ..ops import functions as fn
from . import functional as F
from . import init
from .module import Module, Parameter, check_input


class Sequential(Module):
    """Modules applied one after another; children are named 0, 1, 2, ... or by an OrderedDict.

    >>> import autograd_lab as al
    >>> from collections import OrderedDict
    >>> net = al.nn.Sequential(al.nn.Linear(2, 4), al.nn.ReLU(), al.nn.Linear(4, 1))
    >>> net(al.tensor([[1.0, -1.0]])).shape
    (1, 1)
    >>> named = al.nn.Sequential(OrderedDict([("fc", al.nn.Linear(2, 4)), ("act", al.nn.ReLU())]))
    >>> [name for name, _ in named.named_parameters()]
    ['fc.weight', 'fc.bias']
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {name} is a {type(m).__name__}, not a Module")
            setattr(self, name, m)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        """Add a module at the end (named by its position)."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: got a {type(module).__name__}, not a Module")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules whose parameters belong to the owner (named 0, 1, 2, ...).

    >>> import autograd_lab as al
    >>> blocks = al.nn.ModuleList([al.nn.Linear(3, 3) for _ in range(2)])
    >>> len(blocks), len(blocks.parameters())
    (2, 4)
    """

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def _check(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: got a {type(module).__name__}, not a Module")
        return module

    def append(self, module):
        setattr(self, str(len(self._modules)), self._check(module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, self._check(module))
        self._renumber(items)

    def _renumber(self, items):
        for name in list(self._modules):
            delattr(self, name)
        self._modules.clear()
        for m in items:
            self.append(m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        items = list(self._modules.values())
        return ModuleList(items[i]) if isinstance(i, slice) else items[i]

    def __setitem__(self, i, module):
        name = list(self._modules)[i]
        setattr(self, name, self._check(module))

    def __delitem__(self, i):
        items = list(self._modules.values())
        del items[i]
        self._renumber(items)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your module's forward")


class ModuleDict(Module):
    """A dict of modules whose parameters belong to the owner (named by their keys).

    >>> import autograd_lab as al
    >>> heads = al.nn.ModuleDict({"digit": al.nn.Linear(8, 10), "speaker": al.nn.Linear(8, 6)})
    >>> sorted(heads.keys()), heads["digit"].out_features
    (['digit', 'speaker'], 10)
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} is a {type(module).__name__}, not a Module")
        setattr(self, str(key), module)

    def __getitem__(self, key):
        return self._modules[key]

    def __delitem__(self, key):
        del self._modules[key]
        object.__delattr__(self, key)

    def __contains__(self, key):
        return key in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for key, m in items:
            self[key] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(): pick a module by key in your forward")


class Identity(Module):
    """Returns its input (a placeholder, e.g. for a removed layer); accepts and ignores arguments."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """y = x @ weight.T + bias; weight (out_features, in_features), He-uniform initialised."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features)))
        self.bias = Parameter(init.uniform((out_features,), -1 / np.sqrt(in_features),
                                           1 / np.sqrt(in_features))) if bias else None

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}): input has shape "
                             f"{x.shape}, its last dimension must be {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution over (N, C, H, W) input; PyTorch's arguments, padding "same"/"valid" and groups.

    >>> import autograd_lab as al, numpy as np
    >>> conv = al.nn.Conv2d(4, 8, 3, padding="same", groups=2)
    >>> conv.weight.shape, conv(al.tensor(np.ones((1, 4, 5, 6)))).shape
    ((8, 2, 3, 3), (1, 8, 5, 6))
    """
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        n = self._dims
        k = (kernel_size,) * n if isinstance(kernel_size, int) else tuple(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{type(self).__name__}: groups={groups} must divide in_channels "
                             f"{in_channels} and out_channels {out_channels}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{type(self).__name__}: padding must be an int, a tuple, 'same' or "
                                 f"'valid', got {padding!r}")
            if padding == "same" and stride not in (1, (1,) * n, [1] * n):
                raise ValueError(f"{type(self).__name__}: padding='same' needs stride 1, got stride {stride}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        fan_in = in_channels // groups * int(np.prod(k))
        self.weight = Parameter(init.kaiming_uniform((out_channels, in_channels // groups) + k))
        self.bias = Parameter(init.uniform((out_channels,), -1 / np.sqrt(fan_in),
                                           1 / np.sqrt(fan_in))) if bias else None

    def forward(self, x):
        check_input(self, x, 4, f"(N, {self.in_channels}, H, W)")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        extra = f", groups={self.groups}" if self.groups != 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}{extra}")


class Conv1d(Conv2d):
    """1-D convolution over (N, C, L) input, e.g. along time (composite: conv2d over a height of 1).

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.Conv1d(40, 16, 5, padding=2)(al.tensor(np.ones((2, 40, 63)))).shape
    (2, 16, 63)
    """
    _dims = 1

    def forward(self, x):
        check_input(self, x, 3, f"(N, {self.in_channels}, L)")
        return F.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        return F.global_avg_pool2d(x)


class AdaptiveAvgPool2d(Module):
    """Mean over a grid of output_size windows, whatever the input's size (as PyTorch bins them).

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.AdaptiveAvgPool2d((1, 1))(al.tensor(np.ones((2, 3, 40, 63)))).shape
    (2, 3, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    """Maximum over a grid of output_size windows, whatever the input's size."""

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size)


class Flatten(Module):
    """(N, ...) -> (N, prod(...)); start_dim and end_dim as in PyTorch."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return fn.flatten(x, self.start_dim, self.end_dim)


class Unflatten(Module):
    """Split dimension `dim` into `sizes` (Flatten's inverse)."""

    def __init__(self, dim, sizes):
        super().__init__()
        self.dim, self.sizes = dim, tuple(sizes)

    def forward(self, x):
        d = self.dim % x.ndim
        return fn.reshape(x, x.shape[:d] + self.sizes + x.shape[d + 1:])


class Dropout(Module):
    """Zeroes each element with probability p during training (scaled by 1/(1-p))."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _BatchNorm(Module):
    _axes: tuple = ()
    _rank: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        if affine:
            self.weight = Parameter(np.ones(num_features, state.default_dtype))
            self.bias = Parameter(init.zeros((num_features,)))
        else:
            self.weight = self.bias = None
        self.register_buffer("running_mean", np.zeros(num_features, state.default_dtype))
        self.register_buffer("running_var", np.ones(num_features, state.default_dtype))
        # counted as PyTorch does, so state_dicts carry the same keys both ways
        self.register_buffer("num_batches_tracked", np.array(0, np.int64))

    def forward(self, x):
        check_input(self, x, self._rank, f"with {self.num_features} features in axis 1")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): input {x.shape} has "
                             f"{x.shape[1]} features in axis 1")
        if self.training:
            self.num_batches_tracked = self.num_batches_tracked + 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per feature C."""
    _rank = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C."""
    _rank = (4,)


class ReLU(Module):
    def forward(self, x):
        return fn.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return fn.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return fn.sigmoid(x)


class Softmax(Module):
    """softmax over `dim` (PyTorch's name; `axis` is accepted too, default -1)."""

    def __init__(self, dim=None, axis=None):
        super().__init__()
        if dim is not None and axis is not None and dim != axis:
            raise ValueError(f"{type(self).__name__}: dim={dim} and axis={axis} disagree; give one")
        self.axis = -1 if dim is None and axis is None else (dim if dim is not None else axis)

    def forward(self, x):
        return fn.softmax(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class GELU(Module):
    """x * Phi(x) (Phi: the standard normal CDF); approximate="tanh" for the tanh formula."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x):
        return F.silu(x)


class ELU(Module):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)


class Softplus(Module):
    """log(1 + exp(x)), exact for any x."""

    def forward(self, x):
        return F.softplus(x)


class LogSoftmax(Softmax):
    def forward(self, x):
        return fn.log_softmax(x, axis=self.axis)


class LayerNorm(Module):
    """Normalise over the last dims (`normalized_shape`) of each sample, then scale and shift.

    >>> import autograd_lab as al, numpy as np
    >>> ln = al.nn.LayerNorm(4)
    >>> out = ln(al.tensor(np.arange(8.0).reshape(2, 4)))
    >>> np.round(out.data[0], 3).tolist()
    [-1.342, -0.447, 0.447, 1.342]
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, state.default_dtype))
            self.bias = Parameter(np.zeros(shape, state.default_dtype)) if bias else None
        else:
            self.weight = self.bias = None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Embedding(Module):
    """A table of num_embeddings vectors, looked up by integer index (N(0, 1) initialised, as PyTorch).

    >>> import autograd_lab as al, numpy as np
    >>> emb = al.nn.Embedding(10, 3)
    >>> emb(np.array([[1, 2], [9, 9]])).shape
    (2, 2, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None and padding_idx < 0:
            padding_idx += num_embeddings
        self.padding_idx = padding_idx
        weight = init.normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
