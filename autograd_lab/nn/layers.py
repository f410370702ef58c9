"""Layers: thin modules over nn.functional, each with its parameters and a readable repr."""
from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from ..core.state import state
from ..ops import functions as fn
from . import functional as F
from . import init
from .module import Module, Parameter, check_input


class Sequential(Module):
    """Modules applied one after another; children are named 0, 1, 2, ...

    >>> import autograd_lab as al
    >>> net = al.nn.Sequential(al.nn.Linear(2, 4), al.nn.ReLU(), al.nn.Linear(4, 1))
    >>> net(al.tensor([[1.0, -1.0]])).shape
    (1, 1)
    """

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
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
    """2-D convolution over (N, C, H, W) input."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True):
        super().__init__()
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation = stride, padding, dilation
        fan_in = in_channels * k[0] * k[1]
        self.weight = Parameter(init.kaiming_uniform((out_channels, in_channels) + k))
        self.bias = Parameter(init.uniform((out_channels,), -1 / np.sqrt(fan_in),
                                           1 / np.sqrt(fan_in))) if bias else None

    def forward(self, x):
        check_input(self, x, 4, f"(N, {self.in_channels}, H, W)")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


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


class Flatten(Module):
    """(N, ...) -> (N, prod(...))."""

    def forward(self, x):
        return fn.flatten(x, 1)


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
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))

    def forward(self, x):
        check_input(self, x, self._rank, f"with {self.num_features} features in axis 1")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}): input {x.shape} has "
                             f"{x.shape[1]} features in axis 1")
        return F.batch_norm(x, self, self.weight, self.bias, self.training, self.momentum, self.eps)

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
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return fn.softmax(x, axis=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"
