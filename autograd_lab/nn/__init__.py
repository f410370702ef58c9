"""Neural-network building blocks: modules, layers, losses, scalar networks, functional ops, init."""
from . import functional, init, utils  # noqa: F401
from .module import Module, Parameter, StateDictError  # noqa: F401
from .layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, BatchNorm1d,  # noqa: F401
                     BatchNorm2d, Conv1d, Conv2d, Dropout, ELU, Embedding, Flatten, GELU,
                     GlobalAvgPool2d, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax,
                     MaxPool2d, ModuleDict, ModuleList, ReLU, Sequential, Sigmoid, SiLU, Softmax,
                     Softplus, Tanh, Unflatten)
from .losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss,  # noqa: F401
                     NLLLoss, SmoothL1Loss)
from .scalar import MLP, Layer, Neuron  # noqa: F401
