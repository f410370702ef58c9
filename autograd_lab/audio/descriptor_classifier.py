"""A classifier on clip descriptors: what `autograd-lab train` picks for music-like folders.

`train_descriptor_classifier` computes every clip's descriptor vector (`descriptors.py`:
MFCC statistics, the harmonic profile at the detected fundamental, the envelope) and fits
one of two learners on them (`fit_descriptors`):

  * "trees" (the default): DEFAULT_TREES extremely randomised trees (`trees.py`, numpy).
    Across two banks of instrument recordings they carried over best (docs/audio.md: 0.78
    and 0.84 with the command line's defaults, where the spectrogram CNN reached 0.61 and 0.63);
  * "network": `DescriptorMLP`, small networks trained by this library's engine with
    dropout on their *inputs*, so that no network leans on all descriptors at once
    (0.67 and 0.73 on the same banks).

The checkpoint is an ordinary safetensors file of kind `autograd_lab-audio-classifier-1`
whose model spec says "descriptors"; `AudioClassifier.load` returns a
`DescriptorClassifier` for it, so `evaluate` and `predict` work as for the CNN. There is no
ONNX form of the descriptor front end (a pitch tracker with a median filter, statistics
over a whole clip), so `export` refuses it, saying so.
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
from ..ops import functions as fn
from .descriptors import DescriptorConfig, Descriptors, extract_descriptors
from .trees import ExtraTrees

MODEL_KIND = "descriptors"
# 1000 trees carried over better than 300 across the banks (0.793 / 0.847 against 0.775 / 0.825,
# three seeds; docs/audio.md), at 11-15 CPU-s for 400 clips.
DEFAULT_TREES = 1000

ONNX_REFUSAL = ("the descriptor model has no ONNX form: its front end (a harmonic-sum pitch tracker with a "
                "median filter, MFCC and envelope statistics over a whole clip) is computed in numpy; "
                "`predict` and `evaluate` use it, or train a CNN (`--model cnn`) to export")


class DescriptorMLP(nn.Module):
    """`members` networks n_inputs -> hidden -> n_classes (ReLU), each with dropout
    `input_dropout` on its inputs and `dropout` on its hidden units; the output is the mean
    of their log-probabilities (one member: its logits).

    >>> import autograd_lab as al, numpy as np
    >>> model = al.audio.DescriptorMLP(75, 8, members=3)
    >>> model(al.tensor(np.zeros((2, 75), np.float32))).shape
    (2, 8)
    """

    def __init__(self, n_inputs, n_classes, hidden=64, input_dropout=0.5, dropout=0.3, members=1, subspace=1.0,
                 subspace_seed=0):
        super().__init__()
        self.n_inputs, self.members_count = int(n_inputs), int(members)
        self.members = nn.ModuleList([
            nn.Sequential(nn.Dropout(input_dropout), nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(hidden, n_classes)) for _ in range(int(members))])
        # random subspaces (as a random forest's trees): member k sees a fixed random `subspace`
        # share of the descriptors, drawn from `subspace_seed`, so the members disagree usefully
        self.masks = None
        if subspace < 1.0:
            rng = np.random.default_rng(subspace_seed)
            keep = max(int(round(subspace * n_inputs)), 1)
            self.masks = []
            for _ in range(int(members)):
                mask = np.zeros(n_inputs, np.float32)
                mask[rng.permutation(n_inputs)[:keep]] = 1.0
                self.masks.append(mask)

    def member_logits(self, x) -> list:
        if self.masks is None:
            return [m(x) for m in self.members]
        return [m(x * Tensor(mask.astype(x.dtype))) for m, mask in zip(self.members, self.masks)]

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            from ..core.errors import ShapeError
            raise ShapeError(f"DescriptorMLP: expected (N, {self.n_inputs}) descriptors, got {tuple(x.shape)}")
        outputs = self.member_logits(x)
        if len(outputs) == 1:
            return outputs[0]
        total = fn.log_softmax(outputs[0], axis=-1)
        for z in outputs[1:]:
            total = total + fn.log_softmax(z, axis=-1)
        return total / float(len(outputs))


class DescriptorClassifier:
    """A DescriptorMLP with its descriptor settings, class names and input scaling: used like
    an AudioClassifier (`extract`, `evaluate_clips`, `clip_probabilities`, `predict_file`)."""

    onnx_refusal = ONNX_REFUSAL

    def __init__(self, model, spec, config: DescriptorConfig, classes, mean, std, quantiles=None, clip=None):
        self.model, self.spec, self.config = model, spec, config
        self.classes = list(classes)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.quantiles = None if quantiles is None else np.asarray(quantiles, np.float64)
        self.clip = clip

    def metadata(self) -> dict:
        from .classifier import CHECKPOINT_KIND
        return {"kind": CHECKPOINT_KIND, "model": self.spec, "descriptors": self.config.to_dict(),
                "classes": self.classes,
                "normalization": {"mode": "descriptors", "mean": self.mean.tolist(), "std": self.std.tolist(),
                                  "quantiles": None if self.quantiles is None else self.quantiles.tolist(),
                                  "clip": self.clip}}

    def save(self, path):
        state = {k: np.asarray(v.data if hasattr(v, "data") else v) for k, v in self.model.state_dict().items()}
        io.save(state, path, metadata=self.metadata())

    @classmethod
    def from_checkpoint(cls, state, meta) -> "DescriptorClassifier":
        spec = meta["model"]
        if spec.get("learner") == "trees":
            model = ExtraTrees(**spec["kwargs"]).load_state_dict(state)
        else:
            model = DescriptorMLP(**spec["kwargs"])
            model.load_state_dict(state)
            model.eval()
        n = meta["normalization"]
        return cls(model, spec, DescriptorConfig.from_dict(meta["descriptors"]), meta["classes"], n["mean"], n["std"],
                   n.get("quantiles"), n.get("clip"))

    def extract(self, dataset, cache_dir=None, use_cache=True, strict=False, progress=True) -> Descriptors:
        """The descriptors of every readable clip of `dataset` (cached)."""
        return extract_descriptors(dataset, self.config, cache_dir, use_cache, strict, progress)

    def scale(self, X) -> np.ndarray:
        """The network's input: each descriptor mapped through the training clips' quantiles to
        its rank (0..1, constant beyond the range seen in training), or, without quantiles,
        standardised by the training mean and spread (and clipped to +-clip if set)."""
        X = np.asarray(X, np.float32)
        if self.quantiles is not None:
            levels = np.linspace(0.0, 1.0, self.quantiles.shape[0])
            return np.stack([np.interp(X[:, j], self.quantiles[:, j], levels) * 2 - 1
                             for j in range(X.shape[1])], axis=1).astype(np.float32)
        Z = (X - self.mean) / self.std
        if self.clip:
            Z = np.clip(Z, -self.clip, self.clip)
        return Z.astype(np.float32)

    def logits(self, X) -> np.ndarray:
        """Class scores of descriptor vectors (N, D): the networks' output, or the log of the
        forest's probabilities."""
        if isinstance(self.model, ExtraTrees):
            return np.log(self.model.predict_proba(self.scale(X)) + 1e-9)
        self.model.eval()
        with no_grad():
            return self.model(Tensor(self.scale(X))).data

    def probabilities(self, X) -> np.ndarray:
        """Class probabilities of descriptor vectors (N, D)."""
        if isinstance(self.model, ExtraTrees):
            return self.model.predict_proba(self.scale(X))
        z = self.logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def clip_probabilities(self, found: Descriptors) -> np.ndarray:
        return self.probabilities(found.X)

    def evaluate_clips(self, found: Descriptors, y=None) -> dict:
        """accuracy, per-class recall and confusion matrix of whole clips."""
        from .classifier import scores
        predicted = np.argmax(self.clip_probabilities(found), axis=1)
        return scores(found.y if y is None else y, predicted, self.classes)

    def predict_file(self, path):
        """(label, {class: probability}) for one sound file, most likely first."""
        from .io import load
        samples, sr = load(path)
        p = self.probabilities(self.config.describe(samples, sr)[None])[0]
        order = np.argsort(-p)
        return self.classes[order[0]], {self.classes[k]: float(p[k]) for k in order}


def colour_descriptors(X, config: DescriptorConfig, rng, eq_db) -> np.ndarray:
    """Descriptor vectors of the same clips heard through a random colouring: a smooth
    curve of up to +-eq_db over the mel bands (a tilt and a slow ripple) shifts every frame's
    log-mel by the same amount, so the MFCC means move by the curve's DCT (exactly, but
    for the 80-dB floor) and their spreads not at all; for the harmonic profile the colouring
    is taken as a tilt over log-frequency, which moves harmonic k by tilt * log2(k) before the
    profile is made relative to its loudest harmonic again."""
    from scipy.fft import dct
    X = np.array(X, np.float32, copy=True)
    n = len(X)
    bands = np.linspace(-1.0, 1.0, config.n_mels)
    tilt = rng.uniform(-1, 1, (n, 1)) * eq_db
    ripple = rng.uniform(-0.5, 0.5, (n, 1)) * eq_db * np.cos(np.pi * (bands[None] + 1) * rng.uniform(1, 3, (n, 1))
                                                             + rng.uniform(0, 2 * np.pi, (n, 1)))
    curve = tilt * bands[None] / 2 + ripple
    shift = dct(curve, axis=1, type=2, norm="ortho")[:, 1:config.n_mfcc]
    g = config.groups()
    m = config.n_mfcc - 1
    X[:, g["mfcc"].start:g["mfcc"].start + m] += shift.astype(np.float32)
    h = g["harmonics"].start
    k = config.n_harmonics
    profile = X[:, h:h + k] + (tilt / config.octaves) * np.log2(np.arange(1, k + 1))[None]
    X[:, h:h + k] = np.maximum(profile - profile.max(axis=1, keepdims=True), -60.0)
    return X


def fit_descriptors(X, y, classes, config: DescriptorConfig | None = None, *, seed=0, steps=300, lr=3e-3,
                    weight_decay=1e-2, hidden=64, input_dropout=0.5, dropout=0.3, members=5, subspace=1.0,
                    eq_db=0.0, label_smoothing=0.1, input_map="standard", learner="trees", n_trees=DEFAULT_TREES,
                    max_features=None,
                    X_val=None, y_val=None, log=None):
    """(DescriptorClassifier, history) trained on descriptor vectors X (N, D) with labels y.

    `steps` AdamW steps on batches of min(N, 512) clips with a cosine decay of `lr`; `members`
    networks trained side by side from different initialisations (their losses summed, so
    each gets its own gradient), their log-probabilities averaged; `eq_db` > 0 colours each
    step's descriptors at random (`colour_descriptors`). X_val/y_val, if given, are scored
    along the way (nothing is selected on them). The seed fixes initialisation, dropout and batches.
    """
    import math
    manual_seed(seed)
    config = config or DescriptorConfig()
    X, y = np.asarray(X, np.float32), np.asarray(y, np.int64)
    mean, std = X.mean(0), X.std(0) + 1e-3
    if learner == "trees":
        kwargs = {"n_trees": int(n_trees), "seed": int(seed), "max_features": max_features}
        if log:
            log(f"growing {n_trees} extremely randomised trees on {len(X)} clips' {X.shape[1]} descriptors")
        forest = ExtraTrees(**kwargs)
        classifier = DescriptorClassifier(forest, {"kind": MODEL_KIND, "learner": "trees", "kwargs": kwargs},
                                          config, classes, mean, std)
        forest.fit(classifier.scale(X), y, n_classes=len(classes))
        history = {"loss": [], "val_loss": [], "accuracy": [], "val_accuracy": [], "every": 1}
        if X_val is not None and len(X_val):
            history["val_accuracy"].append(float((classifier.probabilities(X_val).argmax(1) == y_val).mean()))
        return classifier, history
    if learner != "network":
        raise ValueError(f"fit_descriptors: learner must be 'trees' or 'network', got {learner!r}")
    kwargs = {"n_inputs": int(X.shape[1]), "n_classes": len(classes), "hidden": int(hidden),
              "input_dropout": float(input_dropout), "dropout": float(dropout), "members": int(members)}
    if subspace < 1.0:
        kwargs.update(subspace=float(subspace), subspace_seed=int(seed))
    model = DescriptorMLP(**kwargs)
    quantiles, clip = None, None
    if input_map == "quantile":
        quantiles = np.quantile(X.astype(np.float64), np.linspace(0, 1, 33), axis=0)
        quantiles = np.maximum.accumulate(quantiles + np.arange(33)[:, None] * 1e-9, axis=0)   # strictly rising
    elif input_map.startswith("clip"):
        clip = float(input_map[4:])
    elif input_map != "standard":
        raise ValueError(f"fit_descriptors: input_map must be 'standard', 'quantile' or 'clipC', got {input_map!r}")
    classifier = DescriptorClassifier(model, {"kind": MODEL_KIND, "learner": "network", "kwargs": kwargs}, config,
                                      classes, mean, std, quantiles, clip)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rng = np.random.default_rng([seed, 2])
    batch = min(len(X), 512)
    if log:
        log(f"training {members} descriptor network{'s' if members > 1 else ''} ({X.shape[1]} descriptors -> "
            f"{hidden} -> {len(classes)}, input dropout {input_dropout:g}) on {len(X)} clips, "
            f"{sum(p.size for p in model.parameters())} parameters; {steps} steps of {batch}"
            + (f", descriptors coloured by up to +-{eq_db:g} dB" if eq_db else ""))
    history = {"loss": [], "val_loss": [], "accuracy": [], "val_accuracy": []}
    every = max(steps // 30, 1)
    for step in range(steps):
        optimizer.lr = lr * (1 + math.cos(math.pi * step / steps)) / 2
        idx = rng.permutation(len(X))[:batch]
        xb = colour_descriptors(X[idx], config, rng, eq_db) if eq_db else X[idx]
        model.train()
        losses = [nn.functional.cross_entropy(z, y[idx], label_smoothing=label_smoothing)
                  for z in model.member_logits(Tensor(classifier.scale(xb)))]
        loss = losses[0]
        for extra in losses[1:]:
            loss = loss + extra
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % every == 0 or step == steps - 1:
            history["loss"].append(float(loss.item()) / len(losses))
            history["accuracy"].append(float((classifier.logits(xb).argmax(1) == y[idx]).mean()))
            if X_val is not None and len(X_val):
                p = classifier.probabilities(X_val)
                history["val_loss"].append(float(-np.log(p[np.arange(len(y_val)), y_val] + 1e-12).mean()))
                history["val_accuracy"].append(float((p.argmax(1) == np.asarray(y_val)).mean()))
    model.eval()
    history["every"] = every
    return classifier, history


def train_descriptor_classifier(train_set, test_set=None, *, config=None, seed=0, out="out/train",
                                val_fraction=0.1, cache_dir=None, use_cache=True, strict=False, progress=True,
                                log=print, write_files=True, **fit_kwargs) -> dict:
    """Train a DescriptorClassifier on `train_set` (`fit_descriptors`, whose settings `fit_kwargs`
    pass on), evaluate it on `test_set`, write out/model.safetensors, out/metrics.json and
    (write_files) the confusion matrix and learning curves. `val_fraction` of each class is
    held out and reported (nothing is selected on it: the number of steps is fixed). The
    metrics have the keys of train_classifier's.
    """
    from .classifier import check_classes, stratified_holdout
    start = time.perf_counter()
    config = config or DescriptorConfig()
    os.makedirs(out, exist_ok=True)
    check_classes(train_set, "the training set")
    found = extract_descriptors(train_set, config, cache_dir, use_cache, strict, progress)
    if val_fraction:
        fit_idx, val_idx = stratified_holdout(found.y, val_fraction, seed)
    else:
        fit_idx, val_idx = np.arange(len(found)), np.zeros(0, np.int64)
    classifier, history = fit_descriptors(found.X[fit_idx], found.y[fit_idx], train_set.classes, config, seed=seed,
                                          X_val=found.X[val_idx], y_val=found.y[val_idx], log=log, **fit_kwargs)
    every = history.pop("every")
    checkpoint = os.path.join(out, "model.safetensors")
    classifier.save(checkpoint)
    n_points = len(history["loss"])
    metrics = {"model": MODEL_KIND, "epochs_run": n_points, "best_epoch": n_points,
               "fit": {k: v for k, v in fit_kwargs.items()}, "train_clips": int(len(fit_idx)),
               "val_clips": int(len(val_idx)), "descriptors": config.to_dict(), "classes": train_set.classes,
               "history": [{k: (v[i] if i < len(v) else None) for k, v in history.items()} for i in range(n_points)],
               "interrupted": False, "stopped_early": False,
               "train": classifier.evaluate_clips(found.subset(fit_idx))}
    if len(val_idx):
        metrics["validation"] = classifier.evaluate_clips(found.subset(val_idx))
    test = None
    if test_set is not None:
        test_found = extract_descriptors(test_set, config, cache_dir, use_cache, strict, progress)
        test = classifier.evaluate_clips(test_found)
        metrics["test"] = test
        metrics["test_kept"] = test_found.kept.tolist()
    metrics["seconds"] = time.perf_counter() - start
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    metrics["pictures"] = []
    if write_files:
        from ..viz import plots
        confusion = (test or metrics["train"])["confusion"]
        fig = plots.confusion_matrix(np.asarray(confusion), classifier.classes,
                                     title=f"confusion matrix ({'test' if test else 'training'} set)")
        metrics["pictures"].append(plots.save(fig, os.path.join(out, "confusion_matrix.png")))
    if write_files and history["loss"]:                 # the networks' learning curves (a forest has none)
        plt = plots._plt()
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        plots.loss_curves(history, ax=axes[0])
        plots.loss_curves(history, keys=("accuracy", "val_accuracy"), ax=axes[1])
        for ax in axes:
            ax.set_xlabel(f"training step / {every}")
        axes[1].set_ylabel("accuracy")
        axes[1].set_title("accuracy")
        metrics["pictures"].append(plots.save(fig, os.path.join(out, "learning_curves.png")))
    return metrics
