"""Neural-network building blocks: modules, layers, scalar networks, functional ops, init."""
from . import functional, init  # noqa: F401
from .module import Module, Parameter, StateDictError  # noqa: F401
from .layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,  # noqa: F401
                     GlobalAvgPool2d, LeakyReLU, Linear, MaxPool2d, ReLU, Sequential, Sigmoid,
                     Softmax, Tanh)
from .scalar import MLP, Layer, Neuron  # noqa: F401
