"""Batching with seeded shuffling, and the playground's 2-D datasets."""
from __future__ import annotations

import math

import numpy as np

from .core.random import generator


class TensorDataset:
    """Tensors (or arrays) of the same length, indexed together: PyTorch's TensorDataset.

    >>> import autograd_lab as al
    >>> ds = al.data.TensorDataset(al.arange(5), al.arange(5) * 10)
    >>> len(ds), [int(t) for t in ds[3]]
    (5, [3, 30])
    """

    def __init__(self, *tensors):
        from .core.node import Tensor
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors)
        lengths = {len(t.data) for t in self.tensors}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset: tensors of different lengths "
                             f"{[len(t.data) for t in self.tensors]}")

    def __len__(self):
        return len(self.tensors[0].data)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)


class DataLoader:
    """Iterate in batches: over (inputs, targets) arrays, or over a dataset as PyTorch does.

    `DataLoader(X, y, batch_size=...)` gives (inputs, targets) numpy arrays.
    `DataLoader(dataset, batch_size=...)` takes a `TensorDataset`, or anything with
    `len()` and `dataset[i]`, and gives batches of Tensors, one per field (PyTorch's
    default collation: items stacked along a new first axis). Shuffling draws from the
    library generator (al.manual_seed), or from `seed`.

    >>> import autograd_lab as al, numpy as np
    >>> loader = al.data.DataLoader(np.arange(10.0), np.arange(10), batch_size=4)
    >>> [len(y) for _, y in loader]
    [4, 4, 2]
    >>> ds = al.data.TensorDataset(al.randn(10, 3), al.randint(0, 2, (10,)))
    >>> [tuple(x.shape) for x, y in al.data.DataLoader(ds, batch_size=4)]
    [(4, 3), (4, 3), (2, 3)]
    """

    def __init__(self, inputs, targets=None, batch_size=32, shuffle=False, drop_last=False, seed=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        self.dataset = None
        if targets is None:
            if not (hasattr(inputs, "__len__") and hasattr(inputs, "__getitem__")) \
                    or isinstance(inputs, np.ndarray):
                raise TypeError("DataLoader: give (inputs, targets) arrays, or a dataset "
                                "(al.data.TensorDataset, or anything with len() and [i])")
            self.dataset = inputs
            self.inputs = self.targets = None
        else:
            inputs, targets = np.asarray(inputs), np.asarray(targets)
            if len(inputs) != len(targets):
                raise ValueError(f"DataLoader: {len(inputs)} inputs but {len(targets)} targets")
            self.inputs, self.targets = inputs, targets
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.rng = np.random.default_rng(seed) if seed is not None else None

    def _count(self):
        return len(self.dataset) if self.dataset is not None else len(self.inputs)

    def __len__(self):
        n = self._count()
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = self._count()
        order = (self.rng or generator()).permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            if self.dataset is None:
                yield self.inputs[idx], self.targets[idx]
            elif isinstance(self.dataset, TensorDataset):
                yield [t[idx] for t in self.dataset.tensors]    # one gather per tensor
            else:
                yield _collate([self.dataset[int(i)] for i in idx])


def _collate(items):
    """Items of a dataset stacked into batch Tensors: one per field if items are tuples."""
    from .core.node import Tensor

    def stack(values):
        return Tensor(np.stack([np.asarray(getattr(v, "data", v)) for v in values]))
    if isinstance(items[0], (tuple, list)):
        return [stack(field) for field in zip(*items)]
    if isinstance(items[0], dict):
        return {key: stack([item[key] for item in items]) for key in items[0]}
    return stack(items)


def train_test_split(X, y, test_fraction=0.25, seed=0):
    """Shuffle with `seed` and split -> (X_train, X_test, y_train, y_test).

    >>> import autograd_lab as al, numpy as np
    >>> X_train, X_test, y_train, y_test = al.data.train_test_split(np.arange(8.0), np.arange(8))
    >>> len(X_train), len(X_test)
    (6, 2)
    """
    order = np.random.default_rng(seed).permutation(len(X))
    cut = int(round(len(X) * (1 - test_fraction)))
    return X[order[:cut]], X[order[cut:]], y[order[:cut]], y[order[cut:]]


# ---- the playground's datasets: (n, 2) float32 points, integer labels ---------------
def _finish(X, y, noise, rng):
    X = X + rng.normal(0, noise, X.shape) if noise else X
    return X.astype(np.float32), y.astype(np.int64)


def make_moons(n=200, noise=0.1, seed=0):
    """Two interleaving half circles.

    >>> import autograd_lab as al
    >>> X, y = al.data.make_moons(100, seed=0)
    >>> X.shape, X.dtype, sorted(set(y.tolist()))
    ((100, 2), dtype('float32'), [0, 1])
    """
    rng = np.random.default_rng(seed)
    n_out = n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
    X = np.concatenate([np.c_[np.cos(t_out), np.sin(t_out)],
                        np.c_[1 - np.cos(t_in), 0.5 - np.sin(t_in)]])
    y = np.r_[np.zeros(n_out), np.ones(n - n_out)]
    return _finish(X, y, noise, rng)


def make_circles(n=200, noise=0.05, factor=0.5, seed=0):
    """A small circle inside a large one."""
    rng = np.random.default_rng(seed)
    n_out = n // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)
    X = np.concatenate([np.c_[np.cos(t_out), np.sin(t_out)],
                        factor * np.c_[np.cos(t_in), np.sin(t_in)]])
    y = np.r_[np.zeros(n_out), np.ones(n - n_out)]
    return _finish(X, y, noise, rng)


def make_xor(n=200, noise=0.0, seed=0):
    """Points in [-1, 1]^2 labelled by the sign of x*y (the four quadrants)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    X += np.sign(X) * 0.05                 # a thin margin around the axes
    y = (X[:, 0] * X[:, 1] > 0)
    return _finish(X, y, noise, rng)


def make_spiral(n=200, noise=0.05, turns=1.0, seed=0):
    """Two interleaved spiral arms."""
    rng = np.random.default_rng(seed)
    n_a = n // 2
    arms = []
    for k, count in enumerate((n_a, n - n_a)):
        r = np.linspace(0.15, 1, count)
        t = r * turns * 2 * np.pi + k * np.pi
        arms.append(np.c_[r * np.cos(t), r * np.sin(t)])
    y = np.r_[np.zeros(n_a), np.ones(n - n_a)]
    return _finish(np.concatenate(arms), y, noise, rng)


def make_blobs(n=200, centers=3, spread=0.3, seed=0):
    """Gaussian blobs around `centers` random centres (or given (k, 2) centres)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-1.5, 1.5, (centers, 2)) if np.isscalar(centers) else np.asarray(centers)
    y = np.arange(n) % len(centres)
    return _finish(centres[y], y, spread, rng)
