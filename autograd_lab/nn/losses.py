"""Losses as modules, as PyTorch spells them: `criterion = nn.CrossEntropyLoss(); criterion(logits, y)`.

Each holds its options and calls its function in nn.functional; a class `weight`
is kept as a buffer, so it travels with the state_dict as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in F._REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {F._REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction

    def _keep(self, name, value):
        if value is None:
            object.__setattr__(self, name, None)
        else:
            self.register_buffer(name, np.asarray(getattr(value, "data", value)))

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy from raw scores: see `nn.functional.cross_entropy`.

    >>> import autograd_lab as al, numpy as np
    >>> criterion = al.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> round(criterion(al.tensor([[2.0, 0.0, 0.0]]), np.array([0])).item(), 4)
    0.3729
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self._keep("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood from log-probabilities: see `nn.functional.nll_loss`."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self._keep("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Squared error: see `nn.functional.mse_loss`."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Absolute error: see `nn.functional.l1_loss`."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: see `nn.functional.binary_cross_entropy`."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self._keep("weight", weight)

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, exact for any logit: see
    `nn.functional.binary_cross_entropy_with_logits`."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self._keep("weight", weight)
        self._keep("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)
