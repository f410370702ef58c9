"""From a dataset of clips to a trained, inspected classifier, and back from a checkpoint.

`train_classifier` is what `autograd-lab train` and `demo` run: features (cached),
a validation split taken from the training data (it picks the best epoch; the test
set is only used for the final figures), training with augmentation, then
metrics.json and the pictures. `AudioClassifier.load` rebuilds a model, its
feature settings, class names and input scaling from one checkpoint file.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

from .. import io, nn, optim
from ..core.node import Tensor
from ..core.random import manual_seed
from ..core.state import no_grad
from ..data import DataLoader
from ..train import fit
from .models import AudioCNN, AudioMLP
from .prepare import Augment, FeatureConfig, extract_features

CHECKPOINT_KIND = "autograd_lab-audio-classifier-1"
MODELS = {"cnn": AudioCNN, "mlp": AudioMLP}


def build_model(kind, n_classes, n_mels, **kwargs):
    """A fresh AudioCNN ("cnn") or AudioMLP ("mlp") and the spec that rebuilds it."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
    kwargs = {"n_classes": int(n_classes), **kwargs}
    if kind == "mlp":
        kwargs["n_mels"] = int(n_mels)
    return MODELS[kind](**kwargs), {"kind": kind, "kwargs": kwargs}


class AudioClassifier:
    """A model with everything needed to use it on sound files."""

    def __init__(self, model, spec, config: FeatureConfig, classes, mean=0.0, std=1.0):
        self.model, self.spec, self.config = model, spec, config
        self.classes = list(classes)
        self.mean, self.std = float(mean), float(std)

    def metadata(self) -> dict:
        return {"kind": CHECKPOINT_KIND, "model": self.spec, "features": self.config.to_dict(),
                "classes": self.classes, "normalization": {"mean": self.mean, "std": self.std}}

    @classmethod
    def load(cls, path) -> "AudioClassifier":
        """Rebuild a classifier from a checkpoint written by `train_classifier`."""
        state, meta = io.load(path, with_metadata=True)
        if meta.get("kind") != CHECKPOINT_KIND:
            raise io.CheckpointError(f"{path}: a checkpoint, but not of an audio classifier "
                                     "(written by `autograd-lab train`?)")
        spec = meta["model"]
        model = MODELS[spec["kind"]](**spec["kwargs"])
        model.load_state_dict(state)
        model.eval()
        norm = meta.get("normalization", {})
        return cls(model, spec, FeatureConfig.from_dict(meta["features"]), meta["classes"],
                   norm.get("mean", 0.0), norm.get("std", 1.0))

    def scale(self, X):
        return ((np.asarray(X, np.float32) - self.mean) / self.std).astype(np.float32)

    def logits(self, X, batch_size=256) -> np.ndarray:
        """Class scores for log-mel inputs (N, 1, n_mels, frames), unscaled."""
        self.model.eval()
        outputs = []
        with no_grad():
            for start in range(0, len(X), batch_size):
                outputs.append(self.model(Tensor(self.scale(X[start:start + batch_size]))).data)
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.classes)), np.float32)

    def probabilities(self, X) -> np.ndarray:
        z = self.logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict_file(self, path):
        """(label, {class: probability}) for one sound file, most likely first."""
        from .io import load
        samples, sr = load(path)
        p = self.probabilities(self.config.features(samples, sr)[None])[0]
        order = np.argsort(-p)
        return self.classes[order[0]], {self.classes[k]: float(p[k]) for k in order}

    def evaluate(self, X, y) -> dict:
        """accuracy, per-class recall and the confusion matrix (rows: true class)."""
        predicted = np.argmax(self.logits(X), axis=1)
        return scores(y, predicted, self.classes)


def scores(y, predicted, classes) -> dict:
    n = len(classes)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (np.asarray(y), np.asarray(predicted)), 1)
    support = confusion.sum(axis=1)
    recall = {c: (float(confusion[k, k] / support[k]) if support[k] else None) for k, c in enumerate(classes)}
    return {"accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)), "n": int(confusion.sum()),
            "recall": recall, "confusion": confusion.tolist()}


def stratified_holdout(labels, fraction, seed):
    """Indices (keep, held out): `fraction` of each class held out, chosen with `seed`."""
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held.extend(members[:int(round(fraction * len(members)))])
    held = np.sort(np.asarray(held, np.int64))
    return np.setdiff1d(np.arange(len(labels)), held), held


class _AugmentedBatches:
    """A DataLoader whose inputs pass through Augment.spectrogram (in the scaled domain)."""

    def __init__(self, loader, augment):
        self.loader, self.augment = loader, augment

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for xb, yb in self.loader:
            yield self.augment.spectrogram(xb), yb


def train_classifier(train_set, test_set=None, *, model="cnn", config=None, epochs=30, batch_size=64,
                     lr=3e-3, weight_decay=1e-4, seed=0, out="out/train", val_fraction=0.1,
                     augment=True, progress=True, cache_dir=None, use_cache=True, strict=False,
                     log=print, model_kwargs=None) -> dict:
    """Train a classifier on `train_set`, evaluate it on `test_set`, write results to `out`.

    Returns the metrics written to out/metrics.json. out/model.safetensors is the checkpoint of
    the epoch with the lowest validation loss (validation: `val_fraction` of each class
    of the training data).
    """
    start = time.perf_counter()
    config = config or FeatureConfig()
    os.makedirs(out, exist_ok=True)
    manual_seed(seed)
    X, y, _ = extract_features(train_set, config, cache_dir, use_cache, strict, progress)
    fit_idx, val_idx = stratified_holdout(y, val_fraction, seed) if val_fraction else (np.arange(len(y)), [])
    mean, std = float(X[fit_idx].mean()), float(X[fit_idx].std() + 1e-6)
    network, spec = build_model(model, len(train_set.classes), config.n_mels, **(model_kwargs or {}))
    classifier = AudioClassifier(network, spec, config, train_set.classes, mean, std)
    Xs = classifier.scale(X)
    train_loader = DataLoader(Xs[fit_idx], y[fit_idx], batch_size=batch_size, shuffle=True, seed=seed)
    if augment:
        train_loader = _AugmentedBatches(train_loader, Augment(seed=seed))
    val_loader = DataLoader(Xs[val_idx], y[val_idx], batch_size=256) if len(val_idx) else None
    optimizer = optim.AdamW(network.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = optim.CosineAnnealingLR(optimizer, t_max=epochs)
    checkpoint = os.path.join(out, "model.safetensors")
    log(f"training a {model} on {len(fit_idx)} clips ({len(val_idx)} for validation), "
        f"input {X.shape[1:]}, {sum(p.size for p in network.parameters())} parameters")
    history = fit(network, nn.functional.cross_entropy, optimizer, train_loader, val_loader,
                  epochs=epochs, checkpoint=checkpoint, scheduler=scheduler, progress=progress,
                  log=log, checkpoint_metadata=classifier.metadata())
    if history.best_epoch is None:
        raise RuntimeError("train: stopped before the first epoch ended; no checkpoint was written")
    best = AudioClassifier.load(checkpoint)
    metrics = {"model": model, "epochs_run": len(history.epochs), "best_epoch": history.best_epoch,
               "train_clips": int(len(fit_idx)), "val_clips": int(len(val_idx)),
               "features": config.to_dict(), "classes": train_set.classes,
               "history": history.epochs, "interrupted": history.interrupted,
               "train": best.evaluate(X[fit_idx], y[fit_idx])}
    if len(val_idx):
        metrics["validation"] = best.evaluate(X[val_idx], y[val_idx])
    test = None
    if test_set is not None:
        Xt, yt, _ = extract_features(test_set, config, cache_dir, use_cache, strict, progress)
        test = best.evaluate(Xt, yt)
        metrics["test"] = test
    metrics["seconds"] = time.perf_counter() - start
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    metrics["pictures"] = write_pictures(out, best, history, (test or metrics["train"])["confusion"],
                                         X, y, title="test" if test else "training")
    return metrics


def write_pictures(out, classifier, history, confusion, X, y, title="test"):
    """Learning curves, confusion matrix, a spectrogram per class, first-layer weights and
    the model's layer-view graph, as PNG (and SVG for the graph) in `out`."""
    import autograd_lab as al
    from ..viz import plots
    plt = plots._plt()
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    plots.loss_curves(history, ax=axes[0])
    plots.loss_curves(history, keys=("accuracy", "val_accuracy"), ax=axes[1])
    axes[1].set_ylabel("accuracy")
    axes[1].set_title("accuracy")
    paths.append(plots.save(fig, os.path.join(out, "learning_curves.png")))

    fig = plots.confusion_matrix(np.asarray(confusion), classifier.classes,
                                 title=f"confusion matrix ({title} set)")
    paths.append(plots.save(fig, os.path.join(out, "confusion_matrix.png")))

    present = [k for k in range(len(classifier.classes)) if np.any(y == k)]
    cols = min(5, len(present))
    rows = int(np.ceil(len(present) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows + 0.3), layout="constrained",
                             squeeze=False)
    cfg = classifier.config
    seconds = cfg.n_frames * cfg.hop_length / cfg.sr
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), present):
        ax.axis("on")
        ax.imshow(X[np.flatnonzero(y == k)[0], 0], origin="lower", aspect="auto", cmap="magma",
                  extent=[0, seconds, 0, cfg.n_mels])
        ax.set_title(classifier.classes[k], fontsize=9)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("mel band", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle("log-mel spectrograms, one example per class (dB)")
    paths.append(plots.save(fig, os.path.join(out, "spectrograms.png")))

    first = next(m for m in classifier.model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    if isinstance(first, nn.Conv2d):
        fig = plots.filters(first.weight.data, title="first-layer filters (3x3, frequency up)")
    else:
        # AudioMLP: each hidden unit's weights over the coarse (mel band x time stretch) input
        model = classifier.model
        w = first.weight.data.reshape(-1, 1, model.n_mels, model.segments)
        strongest = np.argsort(-np.abs(w).reshape(len(w), -1).sum(axis=1))[:16]
        fig = plots.filters(w[strongest], title="first-layer weights of the 16 strongest hidden units "
                                                "(mel band up, time right)")
    paths.append(plots.save(fig, os.path.join(out, "filters.png")))

    classifier.model.eval()
    scores_node = classifier.model(Tensor(classifier.scale(X[:1])))
    drawing = al.draw(scores_node, detail="layer")
    paths.append(drawing.save(os.path.join(out, "model_graph.svg")))
    paths.append(drawing.save(os.path.join(out, "model_graph.png")))
    return paths
