"""Matplotlib figures for the tutorials and the command line, in one place.

Each function draws onto a new figure (or the given `ax`) and returns the
figure; `save(fig, path)` writes it and closes it. Headless by default (Agg).
Colours come from the perceptually uniform, grey-scale-safe viridis/cividis maps.
"""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib
    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _axes(ax, figsize=(5, 3.5)):
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def save(fig, path, dpi=120):
    """Write a figure (format from the suffix) and close it."""
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    return path


def activations(names=("tanh", "relu", "sigmoid"), x_range=(-4, 4), ax=None):
    """Activation functions and their derivatives, both computed by the engine."""
    import autograd_lab as al
    fig, ax = _axes(ax, (6, 3.5))
    xs = np.linspace(*x_range, 401)
    styles = ["-", "--", ":"]
    for k, name in enumerate(names):
        x = al.tensor(xs, dtype=np.float64, requires_grad=True)
        y = getattr(al, name)(x)
        y.sum().backward()                  # d/dx of the sum = elementwise derivative
        line, = ax.plot(xs, y.data, styles[k % 3], lw=2, label=f"{name}(x)")
        ax.plot(xs, x.grad, styles[k % 3], lw=1, color=line.get_color(), alpha=0.7,
                label=f"{name}'(x)")
    ax.axhline(0, color="#999", lw=0.5)
    ax.axvline(0, color="#999", lw=0.5)
    ax.set_xlabel("x")
    ax.set_title("activation functions (thick) and their derivatives (thin)")
    ax.legend(fontsize=8, ncol=2)
    return fig


def loss_curves(history, keys=("loss", "val_loss"), ax=None):
    """Loss (and validation loss) per epoch from a train.History or a dict of lists."""
    fig, ax = _axes(ax)
    for key, style in zip(keys, ("-o", "--s")):
        values = history.series(key) if hasattr(history, "series") else history.get(key)
        if values and any(v is not None for v in values):
            ax.plot(range(1, len(values) + 1), values, style, ms=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("learning curves")
    ax.legend()
    return fig


def loss_surface(f, xlim=(-2, 2), ylim=(-2, 2), paths=None, resolution=121, ax=None, log=False):
    """Contours of f(w1, w2) and gradient-descent paths ({label: (steps, 2) array})."""
    fig, ax = _axes(ax, (5.5, 4.5))
    w1, w2 = np.meshgrid(np.linspace(*xlim, resolution), np.linspace(*ylim, resolution))
    z = f(w1, w2)
    levels = 30
    if log:
        z = np.log10(z - z.min() + 1e-3)
    cs = ax.contourf(w1, w2, z, levels=levels, cmap="viridis")
    ax.contour(w1, w2, z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
    fig.colorbar(cs, ax=ax, label="log10 loss" if log else "loss")
    markers = ["o", "s", "^", "D", "v"]
    for k, (label, path) in enumerate((paths or {}).items()):
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], "-" + markers[k % 5], ms=3, lw=1.5, color=f"C{k + 1}",
                label=label, markeredgecolor="white", markeredgewidth=0.4)
    if paths:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel("w1")
    ax.set_ylabel("w2")
    ax.set_title("loss surface and gradient descent")
    return fig


def decision_boundary(predict, X, y, ax=None, resolution=200, title="decision boundary"):
    """Shade predict(points) -> probability of class 1 over the plane; scatter the data."""
    fig, ax = _axes(ax, (4.5, 4))
    pad = 0.5
    xs = np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, resolution)
    ys = np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, resolution)
    gx, gy = np.meshgrid(xs, ys)
    p = np.asarray(predict(np.c_[gx.ravel(), gy.ravel()].astype(np.float32))).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="cividis", alpha=0.8)
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
    for cls, marker in ((0, "o"), (1, "^")):
        pts = X[y == cls]
        ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=14, edgecolor="k", linewidth=0.4,
                   color="white" if cls == 0 else "black", label=f"class {cls}")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return fig


def spectrogram(S, sr=None, hop_length=None, ax=None, title="log-mel spectrogram", y_label="mel band"):
    """A (bands, frames) array as an image, low frequencies at the bottom."""
    fig, ax = _axes(ax, (6, 3))
    extent = None
    if sr and hop_length:
        extent = [0, S.shape[1] * hop_length / sr, 0, S.shape[0]]
    im = ax.imshow(S, origin="lower", aspect="auto", cmap="magma", extent=extent)
    fig.colorbar(im, ax=ax, label="dB" if "log" in title or "dB" in title else "")
    ax.set_xlabel("time (s)" if extent else "frame")
    ax.set_ylabel(y_label)
    ax.set_title(title)
    return fig


def confusion_matrix(matrix, labels=None, ax=None, title="confusion matrix"):
    """Counts with row-normalised shading; numbers printed in each cell."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    fig, ax = _axes(ax, (0.55 * n + 2.5, 0.5 * n + 2))
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.5 else "black")
    labels = labels if labels is not None else [str(i) for i in range(n)]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig


def filters(weights, title="first-layer filters", max_filters=32):
    """Conv weights (O, C, KH, KW): one small image per output channel (first input channel)."""
    plt = _plt()
    w = np.asarray(weights)[:max_filters, 0]
    n = len(w)
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols, 1.1 * rows + 0.4), layout="constrained")
    limit = np.abs(w).max() or 1.0
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(w[k], cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower", aspect="auto")
            ax.set_title(str(k), fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def feature_maps(maps, title="feature maps", max_maps=16):
    """Activations (C, H, W) of one example, one panel per channel."""
    plt = _plt()
    maps = np.asarray(maps)[:max_maps]
    n = len(maps)
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.2 * rows + 0.4), layout="constrained")
    for k, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(maps[k], origin="lower", aspect="auto", cmap="viridis")
            ax.set_title(f"channel {k}", fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig
