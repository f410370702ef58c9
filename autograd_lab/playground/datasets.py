"""The playground's data sets, TF Playground's four with any number of classes.

Points lie in about [-1, 1]^2 (the page shows [-DOMAIN, DOMAIN]^2); `noise` is the
standard deviation of Gaussian noise added to every coordinate.
"""
from __future__ import annotations

import numpy as np

DOMAIN = 1.25


def circle(n, k, rng):
    """k rings around the origin; class c at radius (c + U(0.1, 0.9)) / k."""
    labels = np.arange(n) % k
    radius = (labels + rng.uniform(0.1, 0.9, n)) / k
    angle = rng.uniform(0, 2 * np.pi, n)
    return np.c_[radius * np.cos(angle), radius * np.sin(angle)], labels


def xor(n, k, rng):
    """Two classes by the sign of x1*x2, with a thin margin around the axes (k is ignored)."""
    points = rng.uniform(-1, 1, (n, 2))
    points += np.sign(points) * 0.05
    return points, (points[:, 0] * points[:, 1] > 0).astype(np.int64)


def gauss(n, k, rng):
    """k Gaussian clusters on a circle of radius 0.6."""
    labels = np.arange(n) % k
    angle = 2 * np.pi * labels / k + np.pi / 4
    centres = 0.6 * np.c_[np.cos(angle), np.sin(angle)]
    return centres + rng.normal(0, 0.15, (n, 2)), labels


def spiral(n, k, rng):
    """k interleaved arms of 1.75 turns each, as in TF Playground."""
    labels = np.arange(n) % k
    r = rng.uniform(0.05, 1, n)
    t = 1.75 * r * 2 * np.pi + 2 * np.pi * labels / k
    return np.c_[r * np.sin(t), r * np.cos(t)], labels


DATASETS = {"circle": circle, "xor": xor, "gauss": gauss, "spiral": spiral}


def make_dataset(name, n=400, classes=2, noise=0.0, seed=0):
    """(points (n, 2) float32, labels (n,) int64) of data set `name`.

    >>> points, labels = make_dataset("spiral", 300, classes=3, seed=0)
    >>> points.shape, sorted(set(labels.tolist()))
    ((300, 2), [0, 1, 2])
    """
    if name not in DATASETS:
        raise ValueError(f"make_dataset: {name!r} is not one of {', '.join(DATASETS)}")
    rng = np.random.default_rng(seed)
    points, labels = DATASETS[name](n, classes, rng)
    if noise:
        points = points + rng.normal(0, noise, points.shape)
    return points.astype(np.float32), labels.astype(np.int64)
