"""`torch.nn.utils` under its PyTorch name: gradient clipping (`al.optim` holds the same)."""
from __future__ import annotations

import numpy as np

from ..core.node import Node
from ..optim import clip_grad_norm, clip_grad_norm_  # noqa: F401


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value], in place of `.grad`."""
    params = [parameters] if isinstance(parameters, Node) else list(parameters)
    for p in params:
        if p.grad is not None:
            p.grad = np.clip(p.grad.data if isinstance(p.grad, Node) else p.grad, -clip_value, clip_value)
