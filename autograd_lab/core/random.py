"""The library's one random generator: initialisation, dropout, shuffling, augmentation.

`al.manual_seed(s)` resets it, so the same seed gives bit-identical training.
"""
from __future__ import annotations

import random

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reset the generator used by nn.init, dropout and data shuffling, and seed Python's
    `random` (which the scalar networks draw from, as micrograd's do).

    >>> import autograd_lab as al
    >>> al.manual_seed(1); a = al.nn.init.normal((2,))
    >>> al.manual_seed(1); b = al.nn.init.normal((2,))
    >>> bool((a == b).all())
    True
    """
    global _generator
    _generator = np.random.default_rng(seed)
    random.seed(seed)


def generator() -> np.random.Generator:
    return _generator
